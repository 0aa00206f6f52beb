"""Placeholder: the book form of this concept is being written; until then this re-exports the fast form."""

from scratch.fast.conv import Conv2D

__all__ = ["Conv2D"]

import scratch.fast.conv as _fast  # noqa: E402

globals().update({k: v for k, v in vars(_fast).items() if not k.startswith("__") and k not in globals()})
