"""The book forms under the shared names: ``build(scratch.book)`` builds a concept's book form.

Where a concept's fast form departs from the book (``scratch/fast/``), its book form is the module
named after the concept, and this namespace exports it; every other name is the ``scratch``
package's own, which is its book form already. So a parity specification written as ``lambda B:
B.LSTMLayer(7)`` builds the book form here, the fast form with ``B = scratch`` and the PyTorch form
with ``B = torch_impl``.
"""

from __future__ import annotations

from typing import Any

import scratch
from scratch import tsne  # noqa: F401  (the book form's pieces)
from scratch.conv import Conv2D  # noqa: F401  (the names of BOOK_FORMS, each from its book module)
from scratch.gru import GRULayer, GRUNode  # noqa: F401
from scratch.lstm import LSTMLayer, LSTMNode  # noqa: F401
from scratch.pooling import AvgPool2D, MaxPool2D  # noqa: F401
from scratch.rnn import RNNLayer, RNNNode  # noqa: F401
from scratch.tsne import TSNE  # noqa: F401

# the names whose book form differs from what the package exports (its fast form)
BOOK_FORMS = ("Conv2D", "MaxPool2D", "AvgPool2D", "RNNNode", "RNNLayer", "GRUNode", "GRULayer",
              "LSTMNode", "LSTMLayer", "TSNE")
__all__ = list(scratch.__all__)


def __getattr__(name: str) -> Any:
    """Every other shared name is the package's own: its book form is the only form."""
    if name in scratch.__all__ or name in ("autograd", "foundations"):
        return getattr(scratch, name)
    raise AttributeError(f"module 'scratch.book' has no attribute {name!r}")
