"""The parity tolerance table: op x dtype -> (rtol, atol, why).

The parity helper passes a comparison when ``max|a - b| <= atol + rtol * max|b|`` (a normwise test: an
element-wise relative error is meaningless where a gradient entry is near zero). Every number here has a
reason; a tolerance is never widened to get a test green. When a pair disagrees, find the bug.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tol:
    rtol: float
    atol: float
    why: str


# float64: both backends run the same arithmetic in a different order (BLAS blocking, torch's fused kernels);
# the differences are a few ulps times the depth of the computation.
F64 = Tol(1e-9, 1e-12, "float64: reordering of sums only; ~1e-14 seen, 1e-9 is the design's bound")
# float32 has ~6e-8 unit roundoff; a matmul of width n accumulates ~sqrt(n) ulps, a network a few layers more.
F32 = Tol(1e-4, 1e-6, "float32: unit roundoff 6e-8 grown by sums over widths <= 512 and a few layers")

TOLERANCES: dict[tuple[str, str], Tol] = {
    ("default", "float64"): F64,
    ("default", "float32"): F32,
    # Saturating activations: exp() near overflow differs by an ulp between NumPy and torch's vectorised exp.
    ("activation", "float32"): Tol(1e-5, 1e-6, "float32 elementwise exp/tanh: 1-2 ulps between libm and torch"),
    # Trajectories compound per-step rounding: 100 steps of SGD in float64 stay far below 1e-7.
    ("trajectory", "float64"): Tol(1e-7, 1e-10, "float64 after 100 optimiser steps: the design's bound"),
    # float32 trajectories: 1.7e-6 relative seen after 100 momentum/Adam steps (dense, conv, recurrent); 6x margin
    ("trajectory", "float32"): Tol(1e-5, 1e-7, "float32 after 100 optimiser steps: 1.7e-6 seen"),
    # Finite differences: centred differences have O(eps^2) truncation and O(roundoff/eps) cancellation error.
    ("finite_difference", "float64"): Tol(1e-6, 1e-8, "centred difference, eps=1e-6: error ~1e-9 relative"),
    # Autograd expressions (parity_tests/test_autograd.py): small widths (<= 7) and a few ops deep; NumPy and torch
    # differ by a few ulps (2e-7 relative seen), so float32 can be held 10x tighter than the network default.
    ("autograd", "float32"): Tol(1e-5, 1e-6, "float32 autograd expressions, widths <= 7: ~3 ulps (2e-7) seen"),
}


def tolerance(op: str, dtype: str) -> Tol:
    """The tolerance for ``op`` in ``dtype`` (``"float32"``/``"float64"``), falling back to ``default``."""
    key = (op, str(dtype))
    if key in TOLERANCES:
        return TOLERANCES[key]
    return TOLERANCES[("default", str(dtype))]
