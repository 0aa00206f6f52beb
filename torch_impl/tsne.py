"""Exact t-SNE in idiomatic PyTorch: tensors throughout, ``torch.autograd`` for the KL gradient and
a ``torch.optim.Optimizer`` for gradient descent with momentum and delta-bar-delta gains.

Same names, signatures and order as ``scratch/tsne.py`` (read them side by side); public functions
take NumPy arrays (or tensors) and return NumPy arrays, the shared interface. ``kl_divergence``
differentiates the cost ``_kl`` with autograd, where scratch writes dC/dY out, and the parity suite
checks the two against each other. The optimiser's 1,000 iterations use ``_Gradient``, the same
gradient written out in tensor ops, block by block: autograd would keep ~10 (n, n) tensors per
iteration and differentiate each (at n = 1797, 0.19 s an iteration against ~0.009 s); it is
checked against autograd's. The perplexity search runs in blocks of rows too."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dlfs.errors import check_array, check_dtype_name, check_positive_int, describe
from dlfs.tsne_common import (
    BINARY_SEARCH_STEPS,
    EMPTY_ROW_SUM,
    EXP_FLOOR,
    EXP_TINY,
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
from torch_impl.base import TORCH_DTYPES, to_numpy, to_tensor

__all__ = [
    "pairwise_squared_distances",
    "conditional_probabilities",
    "joint_probabilities",
    "student_t_affinities",
    "kl_divergence",
    "TSNE",
]


def _float_tensor(x: np.ndarray) -> torch.Tensor:
    """float32 stays float32, anything else becomes float64."""
    return to_tensor(x, torch.float32 if x.dtype == np.float32 else torch.float64)


# --- 1. squared distances (input space and embedding alike) ---------------------------------------
def _squared_distances(X: torch.Tensor) -> torch.Tensor:
    """X (n, d) -> D (n, n): ||x_i||^2 + ||x_j||^2 - 2 x_i . x_j, clipped at 0, zero diagonal
    (sklearn's). Differentiable: the embedding's kernel is built on it."""
    sq = (X * X).sum(dim=1)
    # fused: one (n, n) less
    D = torch.addmm(sq[:, None] + sq[None, :], X, X.T, alpha=-2.0).clamp_min(0.0)
    return D.fill_diagonal_(0.0)


def pairwise_squared_distances(X: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``X``: X (n, d) -> D (n, n) in X's dtype."""
    return to_numpy(_squared_distances(_float_tensor(_check_points("X", X))))


# --- 2. conditional probabilities: a binary search per point, all points at once ------------------
# The search and the optimiser's gradient run over blocks of rows holding about this many elements
# (1 MiB of float64), so that the passes over a block stay in the core's L2 cache (scratch's
# gradient too). Each torch op is a pass through memory: over whole (n, n) arrays the search's
# passes and its row-wise dot took ~20 ms a step at n = 1797.
_BLOCK_ELEMENTS = 2**17


def _entropy_gaps(D: torch.Tensor, active: torch.Tensor, b: torch.Tensor, target: float,
                  P: torch.Tensor, last_step: bool) -> torch.Tensor:
    """H(p_.|i) - target in nats at precision b (m,) for the rows ``active`` (m,) of D -> (m,).
    Rows are written into P as their block is done: those within tolerance (final), or every row
    on the ``last_step`` (the step cap: a row still searching keeps its last P)."""
    n, m = D.shape[0], len(active)
    rows = max(1, min(m, _BLOCK_ELEMENTS // n))
    work = torch.empty(rows * n, dtype=D.dtype)
    gap = torch.empty(m, dtype=D.dtype)
    for s in range(0, m, rows):
        e = min(s + rows, m)
        idx, bb = active[s:e], b[s:e, None]
        Da = D[s:e] if m == n else D.index_select(0, idx)  # every row searching: a view of D
        Pa = torch.mul(Da, -bb, out=work[:(e - s) * n].view(e - s, n))  # -beta_i D_ij
        # e^(-beta D_ij) <= e^EXP_FLOOR is taken as 0: exp's path to subnormals and 0 is ~30x
        # slower, and at beta = 1, where every search starts, most terms take it
        F.threshold_(Pa.clamp_(min=EXP_FLOOR).exp_(), EXP_TINY, 0.0)
        Pa[torch.arange(e - s), idx] = 0.0  # a point is not its own neighbour
        Z = Pa.sum(dim=1, keepdim=True)
        Z = torch.where(Z == 0.0, torch.full_like(Z, EMPTY_ROW_SUM), Z)
        Pa.div_(Z)
        H = torch.log(Z) + bb * (Da * Pa).sum(dim=1, keepdim=True)  # (m, 1)
        gap[s:e] = H[:, 0] - target
        final = torch.ones_like(idx, dtype=torch.bool) if last_step else (
            gap[s:e].abs() <= PERPLEXITY_TOLERANCE)
        P.index_copy_(0, idx[final], Pa[final])  # a row is written once, when its search ends
    return gap


def _conditional_probabilities(D: torch.Tensor, perplexity: float
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """D (n, n) float64 -> (P_cond (n, n), beta (n,)), bisecting each row's entropy as scratch,
    the rows' exponentials block by block (``_entropy_gaps``)."""
    n = D.shape[0]
    target = float(np.log(perplexity))
    beta = torch.ones(n, dtype=D.dtype)
    beta_min = torch.full((n,), -torch.inf, dtype=D.dtype)
    beta_max = torch.full((n,), torch.inf, dtype=D.dtype)
    P = torch.zeros_like(D)
    active = torch.arange(n)  # rows whose entropy is not yet within tolerance
    for step in range(BINARY_SEARCH_STEPS):
        b = beta[active]
        diff = _entropy_gaps(D, active, b, target, P, step == BINARY_SEARCH_STEPS - 1)
        searching = diff.abs() > PERPLEXITY_TOLERANCE
        # Entropy too high -> distribution too flat -> raise beta; too low -> lower it.
        up = diff > 0
        lo = torch.where(up, b, beta_min[active])
        hi = torch.where(up, beta_max[active], b)
        raised = torch.where(torch.isinf(hi), b * 2.0, (b + hi) / 2.0)
        lowered = torch.where(torch.isinf(lo), b / 2.0, (b + lo) / 2.0)
        new_b = torch.where(up, raised, lowered)
        sel = active[searching]
        beta_min[sel], beta_max[sel], beta[sel] = lo[searching], hi[searching], new_b[searching]
        active = sel
        if active.numel() == 0:
            break
    return P, beta


def conditional_probabilities(distances_sq: np.ndarray, perplexity: float
                              ) -> tuple[np.ndarray, np.ndarray]:
    """distances_sq D (n, n) -> (P_cond (n, n) float64, beta (n,) float64): p_j|i with the precision
    beta_i whose perplexity matches ``perplexity`` to 1e-5 nats of entropy. Runs in float64 whatever
    D's dtype."""
    D = _check_distances(distances_sq)
    P, beta = _conditional_probabilities(to_tensor(D, torch.float64),
                                         _check_perplexity(perplexity, D.shape[0]))
    return to_numpy(P), to_numpy(beta)


# --- 3. joint probabilities -----------------------------------------------------------------------
def _joint_probabilities(D: torch.Tensor, perplexity: float) -> torch.Tensor:
    """D (n, n) -> P (n, n), float64: (P_cond + P_cond^T) / sum, floored at eps, zero diagonal."""
    P_cond, _ = _conditional_probabilities(D, perplexity)
    P = P_cond + P_cond.T
    P = (P / P.sum().clamp_min(MACHINE_EPSILON)).clamp_min(MACHINE_EPSILON)
    return P.fill_diagonal_(0.0)


def joint_probabilities(distances_sq: np.ndarray, perplexity: float) -> np.ndarray:
    """Symmetrised affinities P = (P_j|i + P_i|j) / (2n): distances_sq D (n, n) -> P (n, n)
    in D's dtype (float32 stays float32, else float64), symmetric, zero diagonal, off-diagonal
    floored at eps."""
    D = _check_distances(distances_sq)
    P = _joint_probabilities(to_tensor(D, torch.float64), _check_perplexity(perplexity, D.shape[0]))
    return to_numpy(P.to(torch.float32 if D.dtype == np.float32 else torch.float64))


# --- 4. the Student-t kernel in the embedding -----------------------------------------------------
def _kernel(Y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Y (n, k) -> (log(1 + d / alpha) (n, n), W (n, n) = (1 + d / alpha)^(-(alpha + 1) / 2)),
    differentiable. No mask: d_ii = 0 exactly, so log(1 + d_ii) = 0 and w_ii = 1, which the caller
    subtracts from sum W. Every (n, n) tensor autograd keeps costs an allocation: the reason the
    optimiser uses ``_gradient`` instead."""
    d = _squared_distances(Y)
    if alpha != 1:
        d = d / alpha
    W = (1.0 + d).reciprocal()
    if alpha != 1:
        W = W ** ((alpha + 1.0) / 2.0)
    return torch.log1p(d), W


def student_t_affinities(Y: np.ndarray, degrees_of_freedom: float = 1) -> np.ndarray:
    """Y (n, k) -> Q (n, n) in Y's dtype: q_ij = w_ij / Z, zero diagonal, summing to 1."""
    Y = _check_points("Y", Y)
    _, W = _kernel(_float_tensor(Y), _check_positive("degrees_of_freedom", degrees_of_freedom))
    W = W.fill_diagonal_(0.0)
    return to_numpy(W / W.sum())


# --- 5. KL(P || Q); the gradient comes from autograd ----------------------------------------------
def _kl(P: torch.Tensor, Y: torch.Tensor, alpha: float, exaggeration: float = 1.0) -> torch.Tensor:
    """C_a = sum p log p + a ((alpha + 1) / 2) sum p_ij log(1 + d_ij / alpha) + (sum p) log Z,
    a differentiable scalar: KL(P || Q) at a = 1. Early exaggeration a > 1 multiplies the attraction
    only, so autograd gives the paper's (and sklearn's) exaggerated gradient
    4 sum_j (a p_ij - q_ij) w_ij (y_i - y_j); multiplying P inside the KL would scale q_ij too, and
    exaggerate nothing.
    """
    log_1p, W = _kernel(Y, alpha)
    # Z = sum over i != j: the n diagonal ones out. Relative rounding ~ eps (1 + n / Z): harmless in
    # float64, and in float32 too unless the embedding spreads so far that Z < n / 100 (digits:
    # Z ~ 6n at the end).
    log_Z = torch.log(W.sum() - len(Y))
    attraction = (exaggeration * (alpha + 1.0) / 2.0) * (P * log_1p).sum()
    return torch.xlogy(P, P).sum() + attraction + P.sum() * log_Z




class _Gradient:
    """dC_a/dY (n, k) of ``_kl`` written out, for one *symmetric* P (n, n) (joint probabilities
    are): what ``_kl(P, Y, alpha, exaggeration).backward()`` gives (the parity suite checks it),
    without the ~10 (n, n) tensors that autograd keeps and differentiates per iteration.

        dC_a/dy_i = (2 (alpha + 1) / alpha) a (rowsum(M)_i y_i - (M Y)_i),
        M = (P - c W) * inv,  inv = (1 + d / alpha)^-1,  c = (sum p) / (a Z),

    as scratch's fast form: Z is known only after every pair, so A = P * inv and B = W * inv are
    each summed against [Y, 1] block by block (rows [s, e) against columns [s, n), every pair
    i < j once, added to row i and through the block's transpose to row j) and A - c B is taken
    at the end. Where scratch slices its arrays each call, the buffers and every block's views are
    made once, here, for the whole fit: a torch view costs ~2 us (NumPy's 0.2) and an iteration
    uses ~450. A block is computed transposed, columns j as rows (w, m): MKL's skinny matmul
    is faster that way round, and P[s:, s:e] is P[s:e, s:] transposed since P is symmetric.
    """

    def __init__(self, P: torch.Tensor, n_components: int, alpha: float) -> None:
        n, k, dt = P.shape[0], n_components, P.dtype
        self.k, self.alpha, self.total_p = k, alpha, float(P.sum())
        # rows of `right` times columns of `left`: [-2 y_j / alpha, 1, 1 + |y_j|^2 / alpha] .
        # [y_i, |y_i|^2 / alpha, 1] = 1 + d_ij / alpha, the kernel's argument as one matmul
        self.right, self.left = torch.empty((n, k + 2), dtype=dt), torch.empty((k + 2, n), dtype=dt)
        self.Y1T = torch.empty((k + 1, n), dtype=dt)  # [y_j; 1] as columns
        self.sums = torch.zeros((2, k + 1, n), dtype=dt)  # column i: sum_j [A_ij; B_ij] [y_j; 1]
        rows = max(1, min(n, _BLOCK_ELEMENTS // n))
        kernel, weighted = torch.empty(rows * n, dtype=dt), torch.empty(rows * n, dtype=dt)
        self.blocks = []
        for s in range(0, n, rows):
            e = min(s + rows, n)
            m, w = e - s, n - s
            self.blocks.append((
                m, self.right[s:], self.left[:, s:e], kernel[:m * w].view(w, m), P[s:, s:e],
                weighted[:m * w].view(w, m), self.Y1T[:, s:], self.Y1T[:, s:e],
                self.sums[:, :, s:e], self.sums[:, :, e:]))

    @torch.no_grad()
    def __call__(self, Y: torch.Tensor, exaggeration: float = 1.0) -> torch.Tensor:
        """Y (n, k) -> dC_a/dY (n, k), a new tensor."""
        k, alpha = self.k, self.alpha
        sq = (Y * Y).sum(dim=1) / alpha
        torch.mul(Y, -2.0 / alpha, out=self.right[:, :k])
        self.right[:, k], self.right[:, k + 1] = 1.0, sq + 1.0
        self.left[:k], self.left[k], self.left[k + 1] = Y.T, sq, 1.0
        self.Y1T[:k], self.Y1T[k] = Y.T, 1.0
        self.sums.zero_()
        Z = 0.0
        for m, right, left, kernel, P, weighted, Y1T_s, Y1T_block, own, later in self.blocks:
            inv = torch.mm(right, left, out=kernel)  # (w, m): inv[j - s, i - s]
            inv.clamp_(min=1.0).reciprocal_()  # d clipped at 0, as in _squared_distances
            # for alpha = 1, W *is* inv, zero diagonal included: inv_ii only ever multiplies
            # p_ii - q_ii = 0
            W = inv if alpha == 1 else inv ** ((alpha + 1.0) / 2.0)
            W.fill_diagonal_(0.0)  # the square's diagonal, (i, i) for i in [s, e): q_ii = 0
            Z += 2.0 * float(W.sum()) - float(W[:m].sum())  # the square holds both orders
            for part, factor in enumerate((P, W)):
                T = torch.mul(factor, inv, out=weighted)  # (w, m)
                own[part].addmm_(Y1T_s, T)  # rows i in [s, e), over j >= s
                later[part].addmm_(Y1T_block, T[m:].T)  # rows j >= e, over i in [s, e)
        c = self.total_p / (exaggeration * Z)
        M1 = (self.sums[0] - c * self.sums[1]).T  # (n, k + 1): [M Y, rowsum(M)]
        return (2.0 * (alpha + 1.0) / alpha * exaggeration) * (M1[:, k:] * Y - M1[:, :k])


def _gradient(P: torch.Tensor, Y: torch.Tensor, alpha: float, exaggeration: float = 1.0
              ) -> torch.Tensor:
    """dC_a/dY (n, k) for a symmetric P (n, n) at Y (n, k), once (``_Gradient``)."""
    return _Gradient(P, Y.shape[1], alpha)(Y, exaggeration)


def kl_divergence(P: np.ndarray, Y: np.ndarray, degrees_of_freedom: float = 1
                  ) -> tuple[float, np.ndarray]:
    """C = KL(P || Q) and dC/dY by ``torch.autograd.grad``:
    P (n, n), Y (n, k) -> (kl: float, grad (n, k))."""
    Y = _check_points("Y", Y)
    P = check_array("P", P, ndim=2)
    if P.shape != (Y.shape[0], Y.shape[0]):
        raise ValueError(f"P: expected shape (n, n) = {(Y.shape[0], Y.shape[0])} to match Y "
                         f"{Y.shape}, got {P.shape}")
    if (P < 0).any():
        raise ValueError(f"P: expected non-negative probabilities, got minimum {P.min()}")
    alpha = _check_positive("degrees_of_freedom", degrees_of_freedom)
    Yt = _float_tensor(Y).clone().requires_grad_(True)
    kl = _kl(to_tensor(P, Yt.dtype), Yt, alpha)
    (grad,) = torch.autograd.grad(kl, Yt)
    return float(kl.detach()), to_numpy(grad)


# --- 6. the optimiser -----------------------------------------------------------------------------
class _GainsMomentum(torch.optim.Optimizer):
    """Gradient descent with momentum and delta-bar-delta gains, as a ``torch.optim`` optimiser.

    Per element: gain += 0.2 while the gradient keeps its sign (update * g < 0), gain *= 0.8 when
    it flips, gain >= 0.01;  update = momentum * update - lr * gain * g;  p += update.
    """

    def __init__(self, params: Any, lr: float, momentum: float) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # torch.optim's signature; no closure is needed
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["update"], state["gains"] = torch.zeros_like(p), torch.ones_like(p)
                update, gains, g = state["update"], state["gains"], p.grad
                same_sign = update * g < 0.0
                gains.copy_(torch.where(same_sign, gains + GAIN_INCREASE,
                                        gains * GAIN_DECAY)).clamp_(min=MIN_GAIN)
                update.mul_(group["momentum"]).sub_(group["lr"] * (gains * g))
                p.add_(update)


def _initial_embedding(n: int, n_components: int, seed: int, dtype: str) -> np.ndarray:
    """1e-4 * N(0, 1) of shape (n, n_components) from ``np.random.default_rng(seed)``, drawn in
    float64 then cast: the very numbers scratch starts from."""
    return (INIT_SCALE
            * np.random.default_rng(seed).standard_normal((n, n_components))).astype(dtype)


class TSNE:
    """Exact t-SNE, the torch twin of ``scratch.tsne.TSNE``: the same schedule (250 exaggerated
    iterations at momentum 0.5, then momentum 0.8, a fresh optimiser at the switch), the same
    initial embedding, the gradient autograd gives ``_kl`` written out (``_gradient``). Attributes
    after ``fit_transform``: ``embedding_``, ``P_``, ``kl_divergence_``, ``n_iter_``.
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
        X = _check_points("X", X)
        n = X.shape[0]
        _check_perplexity(self.perplexity, n)
        dt = TORCH_DTYPES[self.dtype]
        P = _joint_probabilities(_squared_distances(to_tensor(X, torch.float64)),
                                 self.perplexity).to(dt)
        Y = torch.nn.Parameter(torch.from_numpy(
            _initial_embedding(n, self.n_components, self.seed, self.dtype)))
        stages = [
            (min(self.n_iter, EXPLORATION_ITERS), self.early_exaggeration, MOMENTUM_EXPLORATION),
            (max(self.n_iter - EXPLORATION_ITERS, 0), 1.0, MOMENTUM_FINAL)]
        gradient = _Gradient(P, self.n_components, self.degrees_of_freedom)
        for iters, exaggeration, momentum in stages:
            optimizer = _GainsMomentum([Y], lr=self.learning_rate, momentum=momentum)
            for _ in range(iters):
                # the gradient autograd would give _kl(P, Y, ...).backward(), written out
                Y.grad = gradient(Y.detach(), exaggeration)
                optimizer.step()
        with torch.no_grad():
            self.kl_divergence_ = float(_kl(P, Y, self.degrees_of_freedom))
        self.P_, self.embedding_, self.n_iter_ = to_numpy(P), to_numpy(Y).copy(), self.n_iter
        return self.embedding_

    def __repr__(self) -> str:
        return (f"TSNE(n_components={self.n_components}, perplexity={self.perplexity}, "
                f"early_exaggeration={self.early_exaggeration}, "
                f"learning_rate={self.learning_rate}, n_iter={self.n_iter}, seed={self.seed}, "
                f"dtype={self.dtype!r})")
