"""dlfs: *Deep Learning from Scratch*, twice — NumPy (``scratch``) and PyTorch (``torch_impl``) — behind one
interface, with a parity suite that proves they compute the same numbers.

    import dlfs
    B = dlfs.backend("scratch")   # or "torch"; default from DLFS_BACKEND
"""

from dlfs.backends import BACKENDS, backend
from dlfs.exchange import load_weights, save_weights

__all__ = ["BACKENDS", "backend", "load_weights", "save_weights"]
__version__ = "0.1.0"
