"""What every form of t-SNE shares: sklearn's constants and the input checks, so all of them
compute with the same numbers and raise the same errors.

The book form ``scratch/tsne.py``, the fast form ``scratch/fast/tsne.py`` and
``torch_impl/tsne.py`` import these; the algorithms themselves live in each of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlfs.errors import check_array, describe

# floor on p_ij (i != j), as sklearn: log p_ij is finite
MACHINE_EPSILON = float(np.finfo(np.float64).eps)
# |H(P_i) - log(perplexity)| in nats at which the binary search stops (sklearn's)
PERPLEXITY_TOLERANCE = 1e-5
BINARY_SEARCH_STEPS = 100  # sklearn's cap; a row that has not converged keeps its last P
EMPTY_ROW_SUM = 1e-8  # when every exp(-beta D_ij) underflows, sklearn divides by this, not 0
# the fast forms take exp(-beta D_ij) as 0 when -beta D_ij <= EXP_FLOOR (e^-707 ~ 1e-307, 4x the
# smallest normal float64): exp reaches subnormals and 0 on a path ~30x slower, and the terms
# are far below any sum they join (a row's largest term is near 1)
EXP_FLOOR = -707.0
EXP_TINY = float(np.exp(EXP_FLOOR))
EXPLORATION_ITERS = 250  # iterations with early exaggeration and momentum 0.5; then 0.8
MOMENTUM_EXPLORATION, MOMENTUM_FINAL = 0.5, 0.8
# delta-bar-delta gains (Jacobs, 1988), sklearn's constants
GAIN_INCREASE, GAIN_DECAY, MIN_GAIN = 0.2, 0.8, 0.01
INIT_SCALE = 1e-4  # the initial embedding is INIT_SCALE * N(0, 1), as in the paper

_NUMBER = (int, float, np.integer, np.floating)  # what a numeric argument may be


# --- validation ----------------------------------------------------------------------------
def check_perplexity(perplexity: Any, n_points: int) -> float:
    """A perplexity is an effective number of neighbours: it must lie in (0, n - 1], since a
    uniform distribution over the n - 1 other points has the largest possible perplexity, n - 1."""
    if isinstance(perplexity, bool) or not isinstance(perplexity, _NUMBER):
        raise TypeError(f"perplexity: expected a number, got {describe(perplexity)}")
    if not (np.isfinite(perplexity) and 0 < perplexity <= n_points - 1):
        raise ValueError(f"perplexity: expected a value in (0, n - 1] = (0, {n_points - 1}] for "
                         f"n = {n_points} points (n - 1 is the perplexity of a uniform "
                         f"distribution over the other points), got {perplexity}")
    return float(perplexity)


def check_points(name: str, X: Any) -> np.ndarray:
    """``X`` (n, d) with n >= 2 finite rows: t-SNE needs at least one neighbour per point."""
    X = check_array(name, X, ndim=2)
    if X.shape[0] < 2:
        raise ValueError(f"{name}: t-SNE needs at least 2 points (rows), got {X.shape[0]} in "
                         f"shape {X.shape}")
    return X


def check_distances(distances_sq: Any) -> np.ndarray:
    """``distances_sq`` (n, n): a square matrix of finite, non-negative squared distances."""
    D = check_points("distances_sq", distances_sq)
    if D.shape[0] != D.shape[1]:
        raise ValueError(f"distances_sq: expected a square (n, n) matrix of squared distances, "
                         f"got shape {D.shape}")
    if (D < 0).any():
        raise ValueError(f"distances_sq: expected non-negative squared distances, got minimum "
                         f"{D.min()}")
    return D


def check_positive(name: str, value: Any, minimum: float = 0.0, inclusive: bool = False) -> float:
    """A finite number above ``minimum`` (or at it, when ``inclusive``), as a float."""
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise TypeError(f"{name}: expected a number, got {describe(value)}")
    ok = value >= minimum if inclusive else value > minimum
    if not (np.isfinite(value) and ok):
        bound = ">=" if inclusive else ">"
        raise ValueError(f"{name}: expected a finite number {bound} {minimum}, got {value}")
    return float(value)
