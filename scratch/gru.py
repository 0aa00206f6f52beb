"""Placeholder: the book form of this concept is being written; until then this re-exports the fast form."""

from scratch.fast.gru import GRULayer, GRUNode

__all__ = ["GRULayer", "GRUNode"]

import scratch.fast.gru as _fast  # noqa: E402

globals().update({k: v for k, v in vars(_fast).items() if not k.startswith("__") and k not in globals()})
