"""Linear regression's closed form with ``torch.linalg.lstsq``, the torch twin of scratch's."""

from __future__ import annotations

import numpy as np
import torch

from dlfs.errors import check_regression_data
from torch_impl.base import to_numpy, to_tensor


def closed_form_linear_regression(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Least squares ``min ||X W + B - y||^2`` solved exactly.

    Shapes: X (n, d), y (n,) or (n, 1). Returns a canonical ``Dense(1)`` state dict:
    W (d, 1), B (1, 1). ``torch.linalg.lstsq`` on ``[X, 1]`` with the SVD-based ``gelsd`` driver,
    as NumPy's ``lstsq``.
    """
    X, y = check_regression_data(X, y)  # (n, d) and (n, 1)
    Xt = to_tensor(X)
    A = torch.cat([Xt, torch.ones(len(X), 1, dtype=Xt.dtype)], dim=1)
    coef = to_numpy(torch.linalg.lstsq(A, to_tensor(y, Xt.dtype), driver="gelsd").solution)
    return {"W": coef[:-1], "B": coef[-1:]}
