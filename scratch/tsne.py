"""Exact t-SNE (van der Maaten & Hinton, 2008), book form: the paper's equations in its order.

1. ``pairwise_squared_distances``: D_ij = ||x_i - x_j||^2, by the definition, one point at a time.
2. ``conditional_probabilities``: p_j|i = exp(-beta_i D_ij) / sum_{k != i} exp(-beta_i D_ik)
   (eq. 1, beta_i = 1 / (2 sigma_i^2)), beta_i found by a binary search, one point at a time, so
   that the perplexity of P_i, 2^H(P_i) in bits (e^H in nats), is the one asked for.
3. ``joint_probabilities``: p_ij = (p_j|i + p_i|j) / 2n, symmetric, summing to 1.
4. ``student_t_affinities``: q_ij = (1 + ||y_i - y_j||^2 / alpha)^(-(alpha + 1) / 2), normalised
   over all pairs k != l (eq. 4 at alpha = 1: the Cauchy kernel).
5. ``kl_divergence``: C = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij) and its gradient
   dC/dy_i = (2 (alpha + 1) / alpha) sum_j (p_ij - q_ij) (1 + ||y_i - y_j||^2 / alpha)^-1
   (y_i - y_j)   (eq. 5: 4 sum_j (p_ij - q_ij) (1 + ||y_i - y_j||^2)^-1 (y_i - y_j) at alpha = 1).
6. ``TSNE``: gradient descent with momentum, early exaggeration and per-element gains.

Every constant comes from ``dlfs/tsne_common.py`` and every step that decides a number is
scikit-learn's exact method (the same bisection steps, the same floors), so this file, the fast
form ``scratch/fast/tsne.py`` (all points' searches in one vectorised loop, kernel buffers
written in place, the gradient as one matmul) and ``torch_impl/tsne.py`` agree to rounding.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_array, check_dtype_name, check_positive_int, describe
from dlfs.tsne_common import (
    BINARY_SEARCH_STEPS,
    EMPTY_ROW_SUM,
    EXPLORATION_ITERS,
    GAIN_DECAY,
    GAIN_INCREASE,
    INIT_SCALE,
    MACHINE_EPSILON,
    MIN_GAIN,
    MOMENTUM_EXPLORATION,
    MOMENTUM_FINAL,
    PERPLEXITY_TOLERANCE,
)
from dlfs.tsne_common import check_distances as _check_distances
from dlfs.tsne_common import check_perplexity as _check_perplexity
from dlfs.tsne_common import check_points as _check_points
from dlfs.tsne_common import check_positive as _check_positive

__all__ = [
    "pairwise_squared_distances",
    "conditional_probabilities",
    "joint_probabilities",
    "student_t_affinities",
    "kl_divergence",
    "TSNE",
]


def _as_float(X: np.ndarray) -> np.ndarray:
    """float32 and float64 stay as they are; anything else becomes float64."""
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


# --- 1. squared distances (input space and embedding alike) ------------------------------
def _squared_distances(X: np.ndarray) -> np.ndarray:
    """X (n, d) -> D (n, n), D_ij = sum_k (x_ik - x_jk)^2: row i from x_i against every x_j."""
    D = np.empty((len(X), len(X)), dtype=X.dtype)
    for i in range(len(X)):
        D[i] = ((X - X[i]) ** 2).sum(axis=1)  # (n,)
    return D


def pairwise_squared_distances(X: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``X``: X (n, d) -> D (n, n) in X's dtype
    (float64 unless float32), D_ij = ||x_i - x_j||^2: symmetric, zero diagonal."""
    return _squared_distances(_as_float(_check_points("X", X)))


# --- 2. conditional probabilities: a binary search for each point's precision -------------
def _search_precision(d: np.ndarray, i: int, log_perplexity: float) -> tuple[np.ndarray, float]:
    """d (n,) the squared distances from point i -> (p (n,) = p_.|i, beta_i).

    H(P_i) falls as beta grows. Start at beta = 1; while the target is not bracketed double
    (entropy too high) or halve (too low) beta, then bisect the bracket; stop at
    |H - log perplexity| <= PERPLEXITY_TOLERANCE nats or after BINARY_SEARCH_STEPS steps.
    """
    beta, beta_min, beta_max = 1.0, -np.inf, np.inf
    for _ in range(BINARY_SEARCH_STEPS):
        p = np.exp(-beta * d)  # (n,) eq. 1's numerators
        p[i] = 0.0  # a point is not its own neighbour
        Z = p.sum()
        if Z == 0.0:  # every exp(-beta d_ij) underflowed: sklearn divides by a small number
            Z = EMPTY_ROW_SUM
        p = p / Z
        # H(P_i) = -sum_j p_j log p_j with log p_j = -beta d_j - log Z
        H = np.log(Z) + beta * np.sum(d * p)
        if abs(H - log_perplexity) <= PERPLEXITY_TOLERANCE:
            break
        if H > log_perplexity:  # too flat: a sharper Gaussian, larger beta
            beta_min = beta
            beta = beta * 2.0 if beta_max == np.inf else (beta + beta_max) / 2.0
        else:  # too peaked: smaller beta
            beta_max = beta
            beta = beta / 2.0 if beta_min == -np.inf else (beta + beta_min) / 2.0
    return p, beta


def conditional_probabilities(distances_sq: np.ndarray, perplexity: float
                              ) -> tuple[np.ndarray, np.ndarray]:
    """p_j|i = exp(-beta_i D_ij) / sum_{k != i} exp(-beta_i D_ik), p_i|i = 0 (eq. 1).

    distances_sq D (n, n) -> (P_cond (n, n) float64, rows summing to 1; beta (n,) float64),
    beta_i = 1 / (2 sigma_i^2) the precision whose perplexity e^H(P_i) matches ``perplexity``
    (when the search stops unconverged, beta_i is the next value it would have tried).
    Runs in float64 whatever D's dtype.
    """
    D = _check_distances(distances_sq).astype(np.float64)
    n = D.shape[0]
    log_perplexity = np.log(_check_perplexity(perplexity, n))  # H in nats
    P, beta = np.zeros((n, n)), np.zeros(n)
    for i in range(n):
        P[i], beta[i] = _search_precision(D[i], i, log_perplexity)
    return P, beta


# --- 3. joint probabilities -----------------------------------------------------------------
def joint_probabilities(distances_sq: np.ndarray, perplexity: float) -> np.ndarray:
    """p_ij = (p_j|i + p_i|j) / 2n: distances_sq D (n, n) -> P (n, n) in D's dtype (float32
    stays float32, else float64), symmetric, zero diagonal, summing to 1.

    The normaliser is the sum of P_cond + P_cond^T, which is 2n since every row of P_cond sums
    to 1 (sklearn divides by the sum too). Off-diagonal entries are floored at machine epsilon so
    that log p_ij in the cost is finite.
    """
    out_dtype = np.float32 if np.asarray(distances_sq).dtype == np.float32 else np.float64
    P_cond, _ = conditional_probabilities(distances_sq, perplexity)
    P = P_cond + P_cond.T  # (n, n)
    P = P / max(P.sum(), MACHINE_EPSILON)
    P = np.maximum(P, MACHINE_EPSILON)
    np.fill_diagonal(P, 0.0)  # p_ii = 0
    return P.astype(out_dtype)


# --- 4. the Student-t affinities in the embedding -------------------------------------------
def _student_t(D: np.ndarray, alpha: float) -> np.ndarray:
    """Squared distances D (n, n) in the embedding -> Q (n, n), zero diagonal, summing to 1."""
    W = (1.0 + D / alpha) ** (-(alpha + 1.0) / 2.0)  # (n, n) the heavy-tailed kernel
    np.fill_diagonal(W, 0.0)  # q_ii = 0
    return W / W.sum()


def student_t_affinities(Y: np.ndarray, degrees_of_freedom: float = 1) -> np.ndarray:
    """q_ij = w_ij / sum_{k != l} w_kl, w_ij = (1 + ||y_i - y_j||^2 / alpha)^(-(alpha + 1) / 2),
    alpha the degrees of freedom (1: the paper's Cauchy kernel).

    Y (n, k) -> Q (n, n) in Y's dtype (float64 unless float32), zero diagonal, summing to 1.
    """
    Y = _as_float(_check_points("Y", Y))
    return _student_t(_squared_distances(Y), _check_positive("degrees_of_freedom",
                                                             degrees_of_freedom))


# --- 5. KL(P || Q) and its gradient ---------------------------------------------------------
def _cost(P: np.ndarray, Y: np.ndarray, alpha: float) -> float:
    """C = sum_{i != j} p_ij log(p_ij / q_ij), with 0 log 0 = 0."""
    Q = _student_t(_squared_distances(Y), alpha)
    terms = P > 0
    np.fill_diagonal(terms, False)  # i != j
    return float(np.sum(P[terms] * np.log(P[terms] / Q[terms])))


def _gradient(P: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    """dC/dy_i = (2 (alpha + 1) / alpha) sum_j (p_ij - q_ij) (1 + d_ij / alpha)^-1 (y_i - y_j).

    P (n, n) summing to 1 (early exaggeration passes a P), Y (n, k) -> dC/dY (n, k).
    """
    D = _squared_distances(Y)  # (n, n)
    Q = _student_t(D, alpha)
    inv = 1.0 / (1.0 + D / alpha)  # (n, n)
    grad = np.empty_like(Y)
    for i in range(len(Y)):
        # sum over j of a weight per pair times the vector from y_j to y_i
        grad[i] = (2.0 * (alpha + 1.0) / alpha) * (((P[i] - Q[i]) * inv[i]) @ (Y[i] - Y))  # (k,)
    return grad


def kl_divergence(P: np.ndarray, Y: np.ndarray, degrees_of_freedom: float = 1
                  ) -> tuple[float, np.ndarray]:
    """C = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij) and dC/dY.

    P (n, n) joint probabilities (e.g. from ``joint_probabilities``), Y (n, k) embedding ->
    (kl: float, grad (n, k) in Y's dtype). The gradient's formula takes P to sum to 1.
    """
    Y = _check_points("Y", Y)
    P = check_array("P", P, ndim=2)
    if P.shape != (Y.shape[0], Y.shape[0]):
        raise ValueError(f"P: expected shape (n, n) = {(Y.shape[0], Y.shape[0])} to match Y "
                         f"{Y.shape}, got {P.shape}")
    if (P < 0).any():
        raise ValueError(f"P: expected non-negative probabilities, got minimum {P.min()}")
    Y = _as_float(Y)
    P = P.astype(Y.dtype, copy=False)
    alpha = _check_positive("degrees_of_freedom", degrees_of_freedom)
    return _cost(P, Y, alpha), _gradient(P, Y, alpha)


# --- 6. the optimiser ------------------------------------------------------------------------
def _gains_momentum_step(Y: np.ndarray, grad: np.ndarray, update: np.ndarray, gains: np.ndarray,
                         momentum: float, learning_rate: float
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of gradient descent with momentum and delta-bar-delta gains (Jacobs, 1988):
    returns the new (Y, update, gains), all (n, k).

    The last update went against the last gradient; ``update * grad < 0`` means the gradient
    kept its sign, and that element's gain grows by 0.2, else it shrinks by 0.8 (never below
    0.01). Then update = momentum * update - lr * gains * grad and Y moves by it.
    """
    kept_sign = update * grad < 0.0
    gains = np.where(kept_sign, gains + GAIN_INCREASE, gains * GAIN_DECAY)
    gains = np.maximum(gains, MIN_GAIN)
    update = momentum * update - learning_rate * (gains * grad)
    return Y + update, update, gains


def _initial_embedding(n: int, n_components: int, seed: int, dtype: str) -> np.ndarray:
    """1e-4 * N(0, 1) of shape (n, n_components) from ``np.random.default_rng(seed)``, drawn in
    float64 then cast: every form of t-SNE starts from these very numbers."""
    rng = np.random.default_rng(seed)
    return (INIT_SCALE * rng.standard_normal((n, n_components))).astype(dtype)


class TSNE:
    """Exact t-SNE: O(n^2) per iteration, for a few thousand points.

    Optimisation as sklearn's ``TSNE(method="exact")``: the first ``min(n_iter, 250)``
    iterations multiply P by ``early_exaggeration`` in the gradient with momentum 0.5, the rest
    use P itself with momentum 0.8; velocity and gains restart at the switch (sklearn runs its
    optimiser twice). The Student-t has alpha = max(n_components - 1, 1) degrees of freedom
    (van der Maaten, 2009, as sklearn). No early stopping: exactly ``n_iter`` iterations.

    Attributes after ``fit_transform``: ``embedding_`` (n, n_components), ``P_`` (n, n) joint
    probabilities, ``kl_divergence_`` (KL(P || Q) of the returned embedding, without
    exaggeration), ``n_iter_``.
    """

    def __init__(
        self,
        n_components: int = 2,
        perplexity: float = 30.0,
        early_exaggeration: float = 12.0,
        learning_rate: float = 200.0,
        n_iter: int = 1000,
        seed: int = 0,
        dtype: str = "float64",
    ) -> None:
        self.n_components = check_positive_int("n_components", n_components)
        self.perplexity = _check_positive("perplexity", perplexity)
        self.early_exaggeration = _check_positive("early_exaggeration", early_exaggeration, 1.0,
                                                  inclusive=True)
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.n_iter = check_positive_int("n_iter", n_iter)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise TypeError(f"seed: expected an int, got {describe(seed)}")
        self.seed = int(seed)
        self.dtype = check_dtype_name("dtype", dtype)
        self.degrees_of_freedom = float(max(self.n_components - 1, 1))

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """X (n, d) -> embedding (n, n_components) in ``dtype``."""
        X = _check_points("X", X).astype(np.float64)
        n, alpha = X.shape[0], self.degrees_of_freedom
        _check_perplexity(self.perplexity, n)
        P = joint_probabilities(pairwise_squared_distances(X), self.perplexity).astype(self.dtype)
        Y = _initial_embedding(n, self.n_components, self.seed, self.dtype)  # (n, k)
        for t in range(self.n_iter):
            if t in (0, EXPLORATION_ITERS):  # each stage starts at rest with unit gains
                update, gains = np.zeros_like(Y), np.ones_like(Y)
            if t < EXPLORATION_ITERS:  # early exaggeration: a p_ij in the gradient
                grad = _gradient(self.early_exaggeration * P, Y, alpha)
                momentum = MOMENTUM_EXPLORATION
            else:
                grad = _gradient(P, Y, alpha)
                momentum = MOMENTUM_FINAL
            Y, update, gains = _gains_momentum_step(Y, grad, update, gains, momentum,
                                                    self.learning_rate)
        self.P_, self.embedding_, self.n_iter_ = P, Y, self.n_iter
        self.kl_divergence_ = _cost(P, Y, alpha)
        return Y

    def __repr__(self) -> str:
        return (f"TSNE(n_components={self.n_components}, perplexity={self.perplexity}, "
                f"early_exaggeration={self.early_exaggeration}, "
                f"learning_rate={self.learning_rate}, n_iter={self.n_iter}, seed={self.seed}, "
                f"dtype={self.dtype!r})")
