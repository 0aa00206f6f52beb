"""dlfs: *Deep Learning from Scratch*, twice — NumPy (``scratch``) and PyTorch (``torch_impl``) — behind one
interface, with a parity suite that proves they compute the same numbers.

    import dlfs
    B = dlfs.backend("scratch")   # or "torch"; default from DLFS_BACKEND
    net = dlfs.from_torch(model)  # an ordinary nn.Sequential in; dlfs.to_torch(net) out (docs/interop.md)
"""

from dlfs.backends import BACKENDS, backend
from dlfs.exchange import load_weights, save_weights
from dlfs.interop import from_torch, to_torch

__all__ = ["BACKENDS", "backend", "from_torch", "load_weights", "save_weights", "to_torch"]
__version__ = "0.1.0"
