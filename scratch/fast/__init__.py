"""The fast forms: the concepts whose fastest NumPy code departs from the book's equations.

Each module here is the twin of the book form of the same name one level up (``scratch/lstm.py``
beside ``scratch/fast/lstm.py``): the same classes, signatures, parameters and state-dict layout,
computed with every trick NumPy allows (fused gate storage, im2col, strided window views, in-place
buffers). The ``scratch`` package exports these, so training uses them by default; the parity suite
holds each one equal to its book form and to PyTorch.
"""
