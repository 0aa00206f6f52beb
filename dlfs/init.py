"""Weight initialisation, drawn from NumPy in both backends.

Both backends draw initial weights from the same seeded NumPy generator in the same order, so the same
``seed`` gives the same initial network in scratch and in torch, and a ``--backend both`` run starts the pair
from identical weights without copying. The torch side copies the draws into ``nn.Linear``/``nn.Conv2d``
parameters (see docs/conventions.md for why we do not use ``torch.nn.init`` here).
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_choice

WEIGHT_INITS = ("standard", "glorot")


def init_scale(weight_init: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the initial weights.

    ``standard`` is the book's N(0, 1); ``glorot`` is N(0, 2 / (fan_in + fan_out)) (``xavier_normal_``),
    with fans as ``torch.nn.init`` computes them (a conv weight's fans include kh * kw).
    """
    check_choice("weight_init", weight_init, WEIGHT_INITS)
    if weight_init == "glorot":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    return 1.0


def draw(rng: np.random.Generator, shape: tuple[int, ...], scale: float, dtype: str | np.dtype) -> np.ndarray:
    """``scale * N(0, 1)`` of ``shape`` in ``dtype`` (drawn in float64, then cast, so dtypes agree)."""
    return (rng.standard_normal(shape) * scale).astype(dtype)


def check_weight_init(weight_init: str) -> str:
    """``weight_init`` must be one of ``WEIGHT_INITS``; checked when a layer is made, not at its first batch."""
    return check_choice("weight_init", weight_init, WEIGHT_INITS)
