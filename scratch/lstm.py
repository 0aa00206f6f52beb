"""Placeholder: the book form of this concept is being written; until then this re-exports the fast form."""

from scratch.fast.lstm import LSTMLayer, LSTMNode

__all__ = ["LSTMLayer", "LSTMNode"]

import scratch.fast.lstm as _fast  # noqa: E402

globals().update({k: v for k, v in vars(_fast).items() if not k.startswith("__") and k not in globals()})
