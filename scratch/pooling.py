"""Placeholder: the book form of this concept is being written; until then this re-exports the fast form."""

from scratch.fast.pooling import AvgPool2D, MaxPool2D

__all__ = ["AvgPool2D", "MaxPool2D"]

import scratch.fast.pooling as _fast  # noqa: E402

globals().update({k: v for k, v in vars(_fast).items() if not k.startswith("__") and k not in globals()})
