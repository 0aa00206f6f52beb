"""Exact t-SNE (van der Maaten & Hinton, 2008), fast form: the same numbers as the book form
(``scratch/tsne.py``), computed with every trick NumPy allows.

The pipeline, in the order of the book form (and of ``torch_impl/tsne.py``):

1. ``pairwise_squared_distances``: D_ij = ||x_i||^2 + ||x_j||^2 - 2 x_i . x_j, one matmul.
2. ``conditional_probabilities``: p_j|i = exp(-beta_i D_ij) / sum_k exp(-beta_i D_ik), the
   precision beta_i found by a binary search so that the perplexity 2^H(P_i) (= e^H in nats)
   equals the target: every still-searching point moves in one vectorised step.
3. ``joint_probabilities``: P = (P_j|i + P_i|j) / (2n), symmetric, summing to 1 over i != j.
4. ``student_t_affinities``: q_ij proportional to (1 + ||y_i - y_j||^2 / alpha)^(-(alpha + 1) / 2),
   the kernel written in place into one (n, n) buffer.
5. ``kl_divergence``: KL(P || Q) = sum p_ij log(p_ij / q_ij) and its analytic gradient
   dC/dy_i = (2 (alpha + 1) / alpha) sum_j (p_ij - q_ij) (1 + ||y_i - y_j||^2 / alpha)^-1
   (y_i - y_j), the sum over j as one matmul.
6. ``TSNE``: the book form's class (arguments, checks) with gradient descent with momentum,
   early exaggeration and per-parameter gains (delta-bar-delta) run in place.

Every choice that decides a number follows scikit-learn's exact method
(``sklearn/manifold/_t_sne.py`` and ``_utils.pyx``), which referees this file in
``parity_tests/test_tsne.py``; ``docs/tsne.md`` lists where we differ. The constants come from
``dlfs/tsne_common.py`` and are looked up here at call time (a test moves
``EXPLORATION_ITERS`` of this module).
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_array
from dlfs.tsne_common import (
    BINARY_SEARCH_STEPS,
    EMPTY_ROW_SUM,
    EXP_FLOOR,
    EXP_TINY,
    EXPLORATION_ITERS,
    GAIN_DECAY,
    GAIN_INCREASE,
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
from scratch import tsne as book
from scratch.tsne import _initial_embedding

__all__ = [
    "pairwise_squared_distances",
    "conditional_probabilities",
    "joint_probabilities",
    "student_t_affinities",
    "kl_divergence",
    "TSNE",
]


# --- 1. squared distances (input space and embedding alike) ------------------------------
def _squared_distances(X: np.ndarray) -> np.ndarray:
    """X (n, d) -> D (n, n): ||x_i||^2 + ||x_j||^2 - 2 x_i . x_j, clipped at 0, zero diagonal."""
    sq = np.einsum("ij,ij->i", X, X)
    D = sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)
    np.maximum(D, 0.0, out=D)
    np.fill_diagonal(D, 0.0)
    return D


def pairwise_squared_distances(X: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``X``.

    X (n, d) -> D (n, n) in X's dtype, D_ij = ||x_i||^2 + ||x_j||^2 - 2 x_i . x_j, as
    sklearn's ``pairwise_distances(X, squared=True)``: one matmul, negatives from cancellation
    clipped to 0, an exact zero diagonal. The embedding's distances use the same formula: its
    absolute error, eps (|y_i|^2 + |y_j|^2), is harmless inside the kernel 1 / (1 + d), and the
    matmul is 3x faster than forming every y_i - y_j.
    """
    X = _check_points("X", X)
    float_X = X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
    return _squared_distances(float_X)


# --- 2. conditional probabilities: a binary search per point, all points at once ---------
def conditional_probabilities(distances_sq: np.ndarray, perplexity: float
                              ) -> tuple[np.ndarray, np.ndarray]:
    """p_j|i = exp(-beta_i D_ij) / sum_{k != i} exp(-beta_i D_ik), with p_i|i = 0.

    distances_sq D (n, n) -> (P_cond (n, n) float64, rows summing to 1; beta (n,) float64
    precisions). beta_i = 1 / (2 sigma_i^2) is found by bisection on the entropy
    H_i = log Z_i + beta_i E_i[D] (nats) until |H_i - log(perplexity)| <= 1e-5: start at
    beta = 1, double (or halve) until the target is bracketed, then bisect, at most 100 steps --
    sklearn's ``_binary_search_perplexity`` step for step, but every still-searching point moves
    in the same vectorised step. Runs in float64 whatever D's dtype.
    """
    D = _check_distances(distances_sq).astype(np.float64)
    n = D.shape[0]
    target = np.log(_check_perplexity(perplexity, n))
    beta = np.ones(n)
    beta_min, beta_max = np.full(n, -np.inf), np.full(n, np.inf)
    P = np.zeros((n, n))
    active = np.arange(n)  # rows whose entropy is not yet within tolerance
    for _ in range(BINARY_SEARCH_STEPS):
        # while every row searches (the first steps), D itself: no copy of its rows
        Da, b = (D if active.size == n else D[active]), beta[active]
        Pa = Da * -b[:, None]
        # e^(-beta D_ij) <= e^EXP_FLOOR is taken as 0: exp's path to subnormals and 0 is ~15x
        # slower, and at beta = 1, where every search starts, most terms take it
        np.maximum(Pa, EXP_FLOOR, out=Pa)
        np.exp(Pa, out=Pa)
        Pa[Pa <= EXP_TINY] = 0.0
        Pa[np.arange(len(active)), active] = 0.0  # a point is not its own neighbour
        Z = Pa.sum(axis=1)
        Z[Z == 0.0] = EMPTY_ROW_SUM
        Pa /= Z[:, None]
        H = np.log(Z) + b * np.einsum("ij,ij->i", Da, Pa)
        diff = H - target
        searching = np.abs(diff) > PERPLEXITY_TOLERANCE
        P[active[~searching]] = Pa[~searching]  # a row is written once, when its search ends
        # Entropy too high -> distribution too flat -> raise beta; too low -> lower it.
        up = diff > 0
        lo, hi = beta_min[active], beta_max[active]
        lo = np.where(up, b, lo)
        hi = np.where(up, hi, b)
        raised = np.where(np.isinf(hi), b * 2.0, (b + hi) / 2.0)
        lowered = np.where(np.isinf(lo), b / 2.0, (b + lo) / 2.0)
        new_b = np.where(up, raised, lowered)
        sel = active[searching]
        beta_min[sel], beta_max[sel] = lo[searching], hi[searching]
        beta[sel] = new_b[searching]
        active = sel
        if active.size == 0:
            break
    else:  # the step cap: the rows still searching keep their last P
        P[active] = Pa[searching]
    return P, beta


# --- 3. joint probabilities -----------------------------------------------------------------
def joint_probabilities(distances_sq: np.ndarray, perplexity: float) -> np.ndarray:
    """Symmetrised affinities P = (P_j|i + P_i|j) / (2n).

    distances_sq D (n, n) -> P (n, n) in D's dtype, symmetric, zero diagonal, off-diagonal
    entries floored at machine epsilon (so KL's log never sees 0). The normaliser is the actual
    sum of P_cond + P_cond^T, which is 2n up to rounding, as in sklearn's
    ``_joint_probabilities`` (whose output is ``squareform`` of this matrix).
    """
    out_dtype = np.float32 if np.asarray(distances_sq).dtype == np.float32 else np.float64
    P_cond, _ = conditional_probabilities(distances_sq, perplexity)
    P = P_cond + P_cond.T
    P /= max(P.sum(), MACHINE_EPSILON)
    np.maximum(P, MACHINE_EPSILON, out=P)
    np.fill_diagonal(P, 0.0)
    return P.astype(out_dtype, copy=False)


# --- 4. the Student-t kernel in the embedding -------------------------------------------
def _kernel(Y: np.ndarray, alpha: float, log: bool = False
            ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Y (n, k) -> (log(1 + d / alpha) (n, n) if ``log`` else None,
    inv (n, n) = (1 + d / alpha)^-1, W (n, n) = inv^((alpha + 1) / 2) with a zero diagonal),
    d the squared distances of ``pairwise_squared_distances``.

    Written in place into one (n, n) buffer: at n = 1797 each temporary is 26 MB, and allocating
    one (page faults) costs as much as three passes over it. For alpha = 1, W *is* inv, zero
    diagonal included: inv_ii only ever multiplies p_ii - q_ii = 0.
    """
    sq = np.einsum("ij,ij->i", Y, Y) / alpha
    inv = Y @ Y.T
    inv *= -2.0 / alpha
    inv += (sq + 1.0)[:, None]
    inv += sq[None, :]
    # 1 + d / alpha, with d clipped at 0 as in pairwise_squared_distances
    np.maximum(inv, 1.0, out=inv)
    np.fill_diagonal(inv, 1.0)
    log_1p = np.log(inv) if log else None
    np.reciprocal(inv, out=inv)
    W = inv if alpha == 1 else inv ** ((alpha + 1.0) / 2.0)
    np.fill_diagonal(W, 0.0)
    return log_1p, inv, W


def student_t_affinities(Y: np.ndarray, degrees_of_freedom: float = 1) -> np.ndarray:
    """q_ij = w_ij / Z, Z = sum_{k != l} w_kl, w_ij = (1 + ||y_i - y_j||^2 / alpha)^(-(alpha + 1)
    / 2), alpha the degrees of freedom (1: the Cauchy kernel of the paper).

    Y (n, k) -> Q (n, n) in Y's dtype, zero diagonal, summing to 1.
    """
    Y = _check_points("Y", Y)
    _, _, W = _kernel(Y, _check_positive("degrees_of_freedom", degrees_of_freedom))
    return W / W.sum()


# --- 5. KL(P || Q) and its analytic gradient ------------------------------------------------
# The gradient's pair sum runs over blocks of rows holding about this many elements: 1 MiB of
# float64, so the dozen passes made over a block hit the core's L2 cache, not memory. At
# n = 1797 a block is 72 rows (an iteration takes 11-13 ms, against 56 ms for whole (n, n) arrays).
_BLOCK_ELEMENTS = 2**17


def _cost(P: np.ndarray, Y: np.ndarray, alpha: float, exaggeration: float = 1.0) -> float:
    """C_a = sum p log p + a ((alpha + 1) / 2) sum p_ij log(1 + d_ij / alpha) + (sum p) log Z:
    KL(P || Q) at a = 1 (with log q_ij = -((alpha + 1) / 2) log(1 + d_ij / alpha) - log Z), the
    cost whose gradient ``_gradient`` is at a > 1 (early exaggeration multiplies the attraction
    only). No Q and no log q are formed."""
    log_1p, _, W = _kernel(Y, alpha, log=True)
    p_log_p = np.sum(P * np.log(np.where(P > 0, P, 1.0)))  # 0 log 0 = 0 on the diagonal
    attraction = exaggeration * (alpha + 1.0) / 2.0 * np.sum(P * log_1p)
    return float(p_log_p + attraction + P.sum() * np.log(W.sum()))


def _gradient(P: np.ndarray, Y: np.ndarray, alpha: float, exaggeration: float = 1.0,
              total_p: float | None = None) -> np.ndarray:
    """dC_a/dY (n, k) for a *symmetric* P (n, n), as joint probabilities are, in Y's dtype;
    ``total_p`` is sum p when the caller knows it (the optimiser: P never changes).

        dC_a/dy_i = (2 (alpha + 1) / alpha) sum_j (a p_ij - (sum p) q_ij) inv_ij (y_i - y_j)
                  = (2 (alpha + 1) / alpha) a (rowsum(M)_i y_i - (M Y)_i),

    inv_ij = (1 + d_ij / alpha)^-1, M = (P - c W) * inv with c = (sum p) / (a Z) (per ordered
    pair d KL / d d_ij = ((alpha + 1) / (2 alpha)) (p_ij - q_ij) inv_ij, d d_ij / d y_i =
    2 (y_i - y_j), and d_ij = d_ji doubles it). No (n, n) array is formed: Z is known only
    once every pair has been seen, so M is split into A = P * inv and B = W * inv, each summed
    against [Y, 1] (M Y and rowsum(M) in one product) block by block, and A - c B is taken at
    the end. A block is rows [s, e) against columns [s, n): a pair i < j is computed once and
    its term added to row i and, through the block's transpose, to row j; the square
    [s, e) x [s, e) holds both orders of its pairs and counts for its rows only.
    """
    n, k = Y.shape
    dt = Y.dtype
    sq = np.einsum("ij,ij->i", Y, Y) / alpha
    ones = np.ones((n, 1), dtype=dt)
    # [y_i, |y_i|^2 / alpha, 1] . [-2 y_j / alpha, 1, 1 + |y_j|^2 / alpha] = 1 + d_ij / alpha:
    # the kernel's argument as one matmul
    left = np.hstack([Y, sq[:, None], ones])
    right = np.hstack([(-2.0 / alpha) * Y, ones, sq[:, None] + 1.0]).T  # (k + 2, n)
    Y1T = np.ascontiguousarray(np.hstack([Y, ones]).T)  # (k + 1, n): [y_j; 1] as columns
    sums = np.zeros((2, k + 1, n), dtype=dt)  # column i: sum_j [A_ij; B_ij] [y_j; 1]
    rows = max(1, min(n, _BLOCK_ELEMENTS // n))
    kernel, weighted = np.empty(rows * n, dtype=dt), np.empty(rows * n, dtype=dt)
    Z = 0.0
    for s in range(0, n, rows):
        e = min(s + rows, n)
        m, w = e - s, n - s
        inv = np.matmul(left[s:e], right[:, s:], out=kernel[:m * w].reshape(m, w))
        np.maximum(inv, 1.0, out=inv)  # d clipped at 0, as in pairwise_squared_distances
        np.reciprocal(inv, out=inv)
        # for alpha = 1, W *is* inv, zero diagonal included: inv_ii only ever multiplies
        # p_ii - q_ii = 0
        W = inv if alpha == 1 else inv ** ((alpha + 1.0) / 2.0)
        np.fill_diagonal(W, 0.0)  # the square's diagonal, (i, i) for i in [s, e): q_ii = 0
        Z += 2.0 * float(W.sum()) - float(W[:, :m].sum())  # the square holds both orders
        for part, factor in enumerate((P[s:e, s:], W)):
            T = np.multiply(factor, inv, out=weighted[:m * w].reshape(m, w))
            sums[part, :, s:e] += Y1T[:, s:] @ T.T  # rows i in [s, e), over j >= s
            sums[part, :, e:] += Y1T[:, s:e] @ T[:, m:]  # rows j >= e, over i in [s, e)
    c = (float(P.sum()) if total_p is None else total_p) / (exaggeration * Z)
    M1 = (sums[0] - c * sums[1]).T  # (n, k + 1): [M Y, rowsum(M)]
    grad = (2.0 * (alpha + 1.0) / alpha * exaggeration) * (M1[:, k:] * Y - M1[:, :k])
    return grad.astype(dt, copy=False)


def _kl_gradient(P: np.ndarray, Y: np.ndarray, alpha: float, exaggeration: float = 1.0,
                 compute_kl: bool = True) -> tuple[float, np.ndarray]:
    """(C_a, dC_a/dY) without the checks, C_a NaN unless ``compute_kl``; P symmetric."""
    kl = _cost(P, Y, alpha, exaggeration) if compute_kl else float("nan")
    return kl, _gradient(P, Y, alpha, exaggeration)


def kl_divergence(P: np.ndarray, Y: np.ndarray, degrees_of_freedom: float = 1
                  ) -> tuple[float, np.ndarray]:
    """C = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij) and dC/dY.

    P (n, n) joint probabilities (e.g. from ``joint_probabilities``), Y (n, k) embedding ->
    (kl: float, grad (n, k) in Y's dtype). Equals sklearn's ``_kl_divergence(Y.ravel(),
    squareform(P), alpha, n, k)`` for alpha = 1. For alpha != 1 sklearn weights the gradient by
    w_ij = inv_ij^((alpha+1)/2) where the derivative has inv_ij; this function follows the
    derivative (checked by finite differences). The gradient sees P only through
    (P + P^T) / 2 (d_ij = d_ji), which is P itself for joint probabilities; a P that is not
    symmetric is averaged with its transpose for it (the book form's row formula assumes
    p_ij = p_ji and is then not the gradient of the cost).
    """
    Y = _check_points("Y", Y)
    P = check_array("P", P, ndim=2)
    if P.shape != (Y.shape[0], Y.shape[0]):
        raise ValueError(f"P: expected shape (n, n) = {(Y.shape[0], Y.shape[0])} to match Y "
                         f"{Y.shape}, got {P.shape}")
    if (P < 0).any():
        raise ValueError(f"P: expected non-negative probabilities, got minimum {P.min()}")
    if Y.dtype not in (np.float32, np.float64):
        Y = Y.astype(np.float64)
    alpha = _check_positive("degrees_of_freedom", degrees_of_freedom)
    P = P.astype(Y.dtype, copy=False)
    pairs = P if np.array_equal(P, P.T) else (P + P.T) / 2.0
    return _cost(P, Y, alpha), _gradient(pairs, Y, alpha)


# --- 6. the optimiser ---------------------------------------------------------------------
def _gains_momentum_step(Y: np.ndarray, grad: np.ndarray, update: np.ndarray, gains: np.ndarray,
                         momentum: float, learning_rate: float) -> None:
    """One step of gradient descent with momentum and delta-bar-delta gains, in place on Y,
    update, gains (all (n, k)).

    A gain grows by 0.2 while its gradient keeps its sign (the previous update, -lr g_prev,
    points against the gradient: update * g < 0) and shrinks by 0.8 when the sign flips; gains
    stay >= 0.01. update = momentum * update - lr * gains * grad;  Y += update.
    """
    same_sign = update * grad < 0.0
    gains[:] = np.where(same_sign, gains + GAIN_INCREASE, gains * GAIN_DECAY)
    np.maximum(gains, MIN_GAIN, out=gains)
    update *= momentum
    update -= learning_rate * (gains * grad)
    Y += update


class TSNE(book.TSNE):
    """Exact t-SNE: O(n^2) per iteration, for a few thousand points. The book form's class
    (``scratch.tsne.TSNE``: arguments, checks, attributes), fitted by the fast pieces above.

    Optimisation as sklearn's ``TSNE(method="exact")``: ``min(n_iter, 250)`` iterations with P
    multiplied by ``early_exaggeration`` and momentum 0.5, then the rest with momentum 0.8;
    velocity and gains restart at the switch (sklearn runs its optimiser twice). The Student-t
    has alpha = max(n_components - 1, 1) degrees of freedom (van der Maaten, 2009, as sklearn).
    No early stopping: exactly ``n_iter`` iterations.

    Attributes after ``fit_transform``: ``embedding_`` (n, n_components), ``P_`` (n, n) joint
    probabilities, ``kl_divergence_`` (KL(P || Q) of the returned embedding, without
    exaggeration), ``n_iter_``.
    """

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """X (n, d) -> embedding (n, n_components) in ``dtype``."""
        X = _check_points("X", X).astype(np.float64)
        n = X.shape[0]
        _check_perplexity(self.perplexity, n)
        D = pairwise_squared_distances(X)
        P = joint_probabilities(D, self.perplexity).astype(self.dtype)
        Y = _initial_embedding(n, self.n_components, self.seed, self.dtype)
        alpha, total_p = self.degrees_of_freedom, float(P.sum())
        stages = [(min(self.n_iter, EXPLORATION_ITERS), self.early_exaggeration,
                   MOMENTUM_EXPLORATION),
                  (max(self.n_iter - EXPLORATION_ITERS, 0), 1.0, MOMENTUM_FINAL)]
        for iters, exaggeration, momentum in stages:
            update, gains = np.zeros_like(Y), np.ones_like(Y)
            for _ in range(iters):
                grad = _gradient(P, Y, alpha, exaggeration, total_p)  # P is symmetric
                _gains_momentum_step(Y, grad, update, gains, momentum, self.learning_rate)
        self.P_, self.embedding_, self.n_iter_ = P, Y, self.n_iter
        self.kl_divergence_ = _cost(P, Y, alpha)
        return Y
