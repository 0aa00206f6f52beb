"""Linear regression's closed form (chapter 2): the target for gradient descent on ``Dense(1)``."""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_regression_data


def closed_form_linear_regression(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Least squares ``min ||X W + B - y||^2`` solved exactly.

    Shapes: X (n, d), y (n,) or (n, 1). Returns a canonical ``Dense(1)`` state dict:
    W (d, 1), B (1, 1), ready for ``load_state_dict``. Solved by ``lstsq`` on ``[X, 1]`` (SVD), not
    the normal equations, which square the condition number.
    """
    X, y = check_regression_data(X, y)  # (n, d) and (n, 1)
    A = np.hstack([X, np.ones((len(X), 1), dtype=X.dtype)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return {"W": coef[:-1], "B": coef[-1:]}
