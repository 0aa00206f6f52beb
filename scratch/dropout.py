"""Dropout (chapter 4): inverted dropout with drop probability p, as an Operation ending a layer.

Shapes: input, output and mask are all (batch, ...); dropout is elementwise.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_generator
from dlfs.training import check_dropout, dropout_mask
from scratch.base import Operation

__all__ = ["Dropout"]


class Dropout(Operation):
    """In training: ``y = x * m`` with ``m = keep / (1 - p)``, ``keep ~ Bernoulli(1 - p)`` drawn
    afresh for every forward; dL/dx = g * m (the same mask). At inference: the identity
    (``training=False``).

    Inverted dropout scales the kept units up by 1/(1-p) while training, so the expected output
    equals x and nothing changes at inference. The book keeps units with probability p
    (``dropout=0.8``) and scales at inference instead; dlfs uses PyTorch's drop probability
    (``dropout=0.2`` is the book's 0.8).

    The keep-masks come from a NumPy generator: ``rng`` when given (a layer passes a child of its
    stream: ``Dropout(p, rng=self.rng.spawn(1)[0])``), otherwise a child spawned the first time this
    op runs from ``self.rng``, the stream a ``NeuralNetwork`` hands every layer. The torch backend's
    ``Dropout`` draws the same masks from the same streams, so training with dropout is reproducible
    across the two.

    Parameters
    ----------
    p : float
        Drop probability in [0, 1); 0 is the identity.
    rng : np.random.Generator, optional
        The stream the masks are drawn from.
    """

    def __init__(self, p: float, rng: np.random.Generator | None = None) -> None:
        self.p = check_dropout("Dropout p", p)
        self.mask_rng = check_generator("Dropout rng", rng)
        self.rng: np.random.Generator = np.random.default_rng(0)  # parent stream, set by a network
        self.mask: np.ndarray | None = None

    def _output(self) -> np.ndarray:
        if self.mask_rng is None:  # spawned at the first forward, in layer order (torch: at build)
            self.mask_rng = self.rng.spawn(1)[0]
        if not self.training or self.p == 0.0:
            self.mask = None
            return self.input_
        self.mask = dropout_mask(self.mask_rng, self.input_.shape, self.p, self.input_.dtype)
        return self.input_ * self.mask

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad if self.mask is None else output_grad * self.mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
