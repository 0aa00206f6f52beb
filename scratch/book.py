"""The book forms under the shared names: ``build(scratch.book)`` builds a concept's book form.

Where a concept's fast form departs from the book (``scratch/fast/``), its book form is the module named
after the concept, and this namespace exports it; every other name is the ``scratch`` package's own, which
is its book form already. So a parity specification written as ``lambda B: B.LSTMLayer(7)`` builds the
book form here, the fast form with ``B = scratch`` and the PyTorch form with ``B = torch_impl``.
"""

from __future__ import annotations

from typing import Any

import scratch
from scratch import tsne  # noqa: F401  (the book form's pieces)

# the names whose book form differs from what the package exports (its fast form)
BOOK_FORMS = ("Conv2D", "MaxPool2D", "AvgPool2D", "RNNNode", "RNNLayer", "GRUNode", "GRULayer", "LSTMNode",
              "LSTMLayer", "TSNE")
__all__ = list(scratch.__all__)


def __getattr__(name: str) -> Any:
    """Every other shared name is the package's own: its book form is the only form."""
    if name in scratch.__all__ or name in ("autograd", "foundations"):
        return getattr(scratch, name)
    raise AttributeError(f"module 'scratch.book' has no attribute {name!r}")
