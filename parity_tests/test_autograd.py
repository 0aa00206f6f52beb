"""Parity of the scratch autograd engine with torch.autograd, finite differences as the third opinion.

Every case is one expression builder ``f(L, *leaves)`` run in both backends (``L`` is ``B.autograd``): the
same random leaves, a random upstream gradient of the output's shape, then every leaf's gradient compared with
``study.parity.compare`` (float64 rtol 1e-9; float32 the table's ``autograd`` entry, rtol 1e-5). In
float64 the scratch gradients are also checked against centred finite differences.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch

import dlfs
from study.parity import ParityReport, compare, numerical_gradient

S, T = dlfs.backend("scratch").autograd, dlfs.backend("torch").autograd
LEAF_NAMES = "abcdefgh"


def _leaves(shapes: list[tuple[int, ...]], rng: np.random.Generator, dtype: str) -> list[np.ndarray]:
    out = []
    for shape in shapes:
        x = rng.standard_normal(shape)
        x[np.abs(x) < 1e-2] = 0.5  # non-zero, and away from ReLU's kink where finite differences lie
        out.append(x.astype(dtype))
    return out


def _run(L, f: Callable, arrays: list[np.ndarray], G: np.ndarray | None) -> tuple[np.ndarray, list[np.ndarray]]:
    leaves = [L.tensor(x) for x in arrays]
    out = f(L, *leaves)
    L.backward(out, G)
    return L.to_numpy(out), [L.grad_of(t) for t in leaves]


def check_expression(name: str, f: Callable, shapes: list[tuple[int, ...]], dtype: str, seed: int = 0,
                     arrays: list[np.ndarray] | None = None) -> ParityReport:
    """Run ``f`` in both backends with a random upstream gradient; compare output and every leaf gradient
    (torch = actual, scratch = expected); in float64 also scratch against finite differences."""
    rng = np.random.default_rng(seed)
    arrays = arrays if arrays is not None else _leaves(shapes, rng, dtype)
    out_shape = S.to_numpy(f(S, *[S.tensor(x, requires_grad=False) for x in arrays])).shape
    G = rng.standard_normal(out_shape).astype(dtype)  # random, never ones: a swapped or transposed gradient shows
    out_s, grads_s = _run(S, f, arrays, G)
    out_t, grads_t = _run(T, f, arrays, G)
    report = ParityReport(f"autograd {name}", dtype)
    report.add(compare("output", out_t, out_s, "autograd", dtype))
    for leaf, gs, gt, x in zip(LEAF_NAMES, grads_s, grads_t, arrays):
        assert gs.dtype == gt.dtype == out_s.dtype == np.dtype(dtype), (leaf, gs.dtype, gt.dtype, out_s.dtype)
        assert gs.shape == x.shape, (leaf, gs.shape, x.shape)
        report.add(compare(f"grad:{leaf}", gt, gs, "autograd", dtype))
    if dtype == "float64":
        for leaf, gs, x in zip(LEAF_NAMES, grads_s, arrays):
            def loss() -> float:
                return float(np.sum(S.to_numpy(f(S, *[S.tensor(a, requires_grad=False) for a in arrays])) * G))

            report.add(compare(f"fd:{leaf}", gs, numerical_gradient(loss, x), "finite_difference", "float64"))
    return report


def _concatenated(L, a, b):
    c = L.concatenate([a, b.tanh(), a * 2.0], axis=1)  # (2, 3) (2, 4) (2, 3) -> (2, 10)
    return L.concatenate([c, c[:1] * c[1:]], axis=-2)  # -> (3, 10)


def _basic_indexing(L, a):  # a: (4, 3)
    return L.concatenate([a[1:, ::2].reshape(-1), a[:, None, 1].reshape(-1), a[-1], a[..., 0] * a[2, 1]], axis=0)


def _sums_and_means(L, a):  # a: (2, 3, 4)
    s = a.sum(axis=1, keepdims=True)  # (2, 1, 4)
    m = a.mean(axis=(0, 2))  # (3,)
    return s * a.mean(axis=0) + m.reshape(1, 3, 1) + a.sum(axis=-1, keepdims=True) * a.mean() - a.sum()


# name -> (f(L, *leaves), leaf shapes). Asymmetric shapes everywhere, so a transposed gradient cannot pass.
CASES: dict[str, tuple[Callable, list[tuple[int, ...]]]] = {
    "reuse": (lambda L, a, b: a * b + a * a * 3.0 - a / (b * b + 1.0) + a, [(3, 4), (3, 4)]),
    "reuse_shared_node": (lambda L, a: (lambda h: (h * h + h).sum(axis=0) * h[0] - h[2])(a.tanh()), [(3, 4)]),
    "broadcast_column_row": (lambda L, a, b: (a + b) * a - b / (a * a + 1.0), [(3, 1), (1, 4)]),
    "broadcast_vector": (lambda L, a, b: (a * b + b).sigmoid() - b, [(5, 4), (4,)]),
    "broadcast_scalar_leaf": (lambda L, a, s: a * s + s - a / s, [(2, 3), ()]),
    "sub_neg_reflected": (lambda L, a, b: 2.0 - a + (-b) * 3 + 1.0 / (a * a + 1.0) - (b - 0.5), [(2, 5), (2, 5)]),
    "pow": (lambda L, a: (a * a + 0.5) ** 1.5 + a**3 - (a * a + 1.0) ** -0.5 + a**2 * a**0, [(3, 4)]),
    "exp_log": (lambda L, a, b: (a * a + 1.0).log() * b.exp() + (b.exp() + 1.0).log(), [(4, 3), (4, 3)]),
    "tanh_sigmoid_relu": (lambda L, a, b: a.tanh() * b.sigmoid() + (a - b).relu() * b.relu(), [(4, 3), (4, 3)]),
    "matmul": (lambda L, a, b: a @ b, [(3, 4), (4, 2)]),
    "matmul_vectors": (lambda L, v, M, w: (v @ M) @ w + L.matmul(M, w).sum() * (v @ v), [(4,), (4, 3), (3,)]),
    "matmul_batched": (lambda L, a, b, c: (a @ b) @ c, [(2, 3, 4), (4, 5), (1, 5, 2)]),
    "sum_mean_axes": (_sums_and_means, [(2, 3, 4)]),
    "index_repeated_rows": (lambda L, a, b: a[np.array([0, 2, 2, 1, 2])] * b, [(4, 3), (5, 3)]),
    "index_repeated_pairs": (lambda L, a: a[np.array([0, 3, 0, 0]), np.array([1, 2, 1, 1])] * 2.0, [(4, 3)]),
    "index_array_and_slice": (lambda L, a: a[np.array([1, 1, 0]), 1:].exp(), [(3, 4)]),
    "index_basic": (_basic_indexing, [(4, 3)]),
    "index_boolean_mask": (lambda L, a: a[np.array([[True, False, True], [False, True, True]])].tanh(), [(2, 3)]),
    "concatenate": (_concatenated, [(2, 3), (2, 4)]),
    "reshape_transpose": (lambda L, a, b: L.transpose(a, (2, 0, 1)).reshape(4, 6) @ b + a.reshape((6, 4)).T @ b
                          + L.transpose(a)[:, :, 0].T.reshape(-1)[:2], [(2, 3, 4), (6, 2)]),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_expression_parity(name, dtype):
    f, shapes = CASES[name]
    report = check_expression(name, f, shapes, dtype)
    assert len([c for c in report.comparisons if c.name.startswith("grad:")]) == len(shapes)


def _mlp_softmax_cross_entropy(labels: np.ndarray) -> Callable:
    """A 2-layer MLP and a softmax cross-entropy written from primitives (mean over the batch of -log p_y)."""

    def f(L, X, W1, b1, W2, b2):
        z = (X @ W1 + b1).relu() @ W2 + b2  # (N, C)
        # log-softmax is invariant to a per-row shift; subtracting the row max (a constant: no gradient) keeps
        # exp from overflowing, as torch's log_softmax does
        z = z - L.tensor(L.to_numpy(z).max(axis=1, keepdims=True), requires_grad=False)
        log_p = z - z.exp().sum(axis=1, keepdims=True).log()
        return -log_p[np.arange(len(labels)), labels].mean()

    return f


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 5])
def test_mlp_softmax_cross_entropy(batch, dtype):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, batch)
    f = _mlp_softmax_cross_entropy(labels)
    shapes = [(batch, 7), (7, 5), (5,), (5, 3), (3,)]  # X, W1, b1 (non-zero), W2, b2
    report = check_expression(f"mlp_softmax_ce_batch{batch}", f, shapes, dtype, seed=batch)
    assert len([c for c in report.comparisons if c.name.startswith("grad:")]) == 5
    # the loss built from primitives equals torch's own fused cross-entropy (an independent referee)
    arrays = _leaves(shapes, np.random.default_rng(batch), dtype)
    X, W1, b1, W2, b2 = (torch.from_numpy(a) for a in arrays)
    ref = torch.nn.functional.cross_entropy(torch.relu(X @ W1 + b1) @ W2 + b2, torch.from_numpy(labels))
    compare("loss vs F.cross_entropy", S.to_numpy(f(S, *[S.tensor(a) for a in arrays])), ref, "autograd", dtype)


def test_scalar_output_defaults_to_gradient_one(B):
    L = B.autograd
    x = np.random.default_rng(1).standard_normal((3, 2))
    a, b = L.tensor(x), L.tensor(x)
    L.backward((a * a).sum())  # grad=None: d(sum a^2)/da = 2a
    L.backward((b * b).sum(), np.array(1.0))
    compare("grad", L.grad_of(a), 2 * x)
    compare("grad", L.grad_of(b), L.grad_of(a))


def test_gradients_accumulate_across_backward_calls():
    """Like torch, a leaf's .grad sums over backward calls until reset (``t.grad = None`` in both)."""
    rng = np.random.default_rng(2)
    x, G1, G2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal(3)
    grads = {}
    for L in (S, T):
        a = L.tensor(x)
        L.backward(a.tanh(), G1)
        L.backward((a * a).sum(axis=0), G2)
        grads[L] = L.grad_of(a)
        a.grad = None
        assert not L.grad_of(a).any()
    compare("accumulated", grads[S], G1 * (1 - np.tanh(x) ** 2) + 2 * x * G2)
    compare("accumulated", grads[T], grads[S])


def test_detach_stops_the_gradient():
    """``a * a.detach()`` has gradient a (not 2a): a stop-gradient, which finite differences cannot see."""
    rng = np.random.default_rng(5)
    x, G = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    f = CASES["reuse"][0]  # any graph: the detached branch must not add to it
    grads = {}
    for L in (S, T):
        a = L.tensor(x)
        L.backward(a * a.detach() + f(L, a.detach(), a), G)
        grads[L] = L.grad_of(a)
    # d/da of [a * const + x*a + x*x*3 - x/(a^2+1) + x] with x = a's value
    compare("detach", grads[S], G * (x + x + 2 * x * x / (x * x + 1) ** 2))
    compare("detach", grads[T], grads[S])


def test_relu_gradient_is_zero_at_the_kink(B):
    """At exactly 0, ReLU's derivative is taken as 0 (torch's choice); random inputs never hit the kink."""
    L = B.autograd
    a = L.tensor(np.array([-1.0, 0.0, 0.0, 2.0]))
    L.backward(a.relu(), np.array([5.0, 6.0, 7.0, 8.0]))
    compare("relu grad", L.grad_of(a), np.array([0.0, 0.0, 0.0, 8.0]))


def test_constants_and_unused_leaves_get_no_gradient(B):
    L = B.autograd
    a, c, unused = L.tensor(np.ones((2, 2))), L.tensor(np.full((2, 2), 3.0), requires_grad=False), L.tensor(1.0)
    L.backward((a * c).sum())
    compare("grad a", L.grad_of(a), np.full((2, 2), 3.0))
    assert c.grad is None and not L.grad_of(unused).any()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_integer_data_becomes_float64_and_dtype_is_kept(B, dtype):
    L = B.autograd
    assert L.to_numpy(L.tensor([1, 2], requires_grad=False)).dtype == np.float64
    x = L.tensor(np.ones(3, dtype=dtype))
    y = (x * 2.0 + 1 - x / 3 + x**2).exp().sum()
    assert L.to_numpy(y).dtype == np.dtype(dtype)
    L.backward(y)
    assert L.grad_of(x).dtype == np.dtype(dtype)


def test_deep_chain_backpropagates_without_recursion_error():
    depth = 5000  # ops; y <- 0.999 y + 0.001 is two ops per step
    assert depth > sys.getrecursionlimit()
    x0 = np.array([0.3, -0.2, 1.5])
    grads, seconds = {}, {}
    for L in (S, T):
        start = time.perf_counter()
        x = L.tensor(x0)
        y = x
        for _ in range(depth // 2):
            y = y * 0.999 + 0.001
        L.backward(y.tanh().sum())
        grads[L], seconds[L] = L.grad_of(x), time.perf_counter() - start
    # d tanh(y)/dx = (1 - tanh(y)^2) 0.999^n, with y = 0.999^n x0 + (1 - 0.999^n)
    c = 0.999 ** (depth // 2)
    compare("deep chain vs closed form", grads[S], (1 - np.tanh(c * x0 + 1 - c) ** 2) * c)
    compare("deep chain", grads[T], grads[S])
    assert seconds[S] < 5, seconds


# --- bad input: clear errors -------------------------------------------------------------------------------------


def test_backward_on_non_scalar_needs_a_gradient(B):
    L = B.autograd
    y = L.tensor(np.ones((3, 4))) * 2.0
    with pytest.raises(ValueError, match=r"backward: the output has shape \(3, 4\), so grad= is required"):
        L.backward(y)


def test_backward_gradient_of_the_wrong_shape(B):
    L = B.autograd
    y = L.tensor(np.ones((3, 4))) * 2.0
    with pytest.raises(ValueError, match=r"backward: grad has shape \(4, 3\) but the output has shape \(3, 4\)"):
        L.backward(y, np.ones((4, 3)))


def test_backward_on_a_constant(B):
    L = B.autograd
    with pytest.raises(ValueError, match="backward: the output does not require a gradient"):
        L.backward(L.tensor(2.0, requires_grad=False) * 3.0)


def test_scratch_method_backward_has_the_same_checks():
    y = S.tensor(np.ones((2, 2))).exp()
    with pytest.raises(ValueError, match=r"output has shape \(2, 2\), so grad= is required"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\) but the output has shape \(2, 2\)"):
        y.backward(np.ones(2))


@pytest.mark.parametrize("sa, sb, message", [
    ((3, 4), (5, 2), r"inner dimensions differ: a has shape \(3, 4\), its columns \(last axis\) are 4, "
                     r"but b has shape \(5, 2\), its rows \(axis -2\) are 5"),
    ((3, 4), (5,), r"inner dimensions differ: a has shape \(3, 4\), its columns \(last axis\) are 4, "
                   r"but b has shape \(5,\), its length is 5"),
    ((2, 3, 4), (3, 4, 2), r"batch dimensions \(2,\) of a \(shape \(2, 3, 4\)\) and \(3,\) of b"),
    ((), (3,), r"both operands need at least 1 dimension, got shapes \(\) and \(3,\)"),
])
def test_matmul_shape_mismatch_names_the_dimensions(sa, sb, message):
    a, b = S.tensor(np.ones(sa)), S.tensor(np.ones(sb))
    with pytest.raises(ValueError, match="matmul: " + message):
        a @ b
    with pytest.raises(ValueError, match="matmul: " + message):
        S.matmul(a, b)


def test_torch_matmul_mismatch_is_torchs_own_error():
    """The torch side stays thin: torch's own message already names both shapes (documented difference)."""
    with pytest.raises(RuntimeError, match="3x4 and 5x2"):
        T.tensor(np.ones((3, 4))) @ T.tensor(np.ones((5, 2)))


def test_scratch_bad_operands():
    a = S.tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="pow: expected a number as the exponent"):
        a ** a
    with pytest.raises(ValueError, match=r"sum: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        a.sum(axis=2)
    with pytest.raises(ValueError, match=r"mean: repeated axis"):
        a.mean(axis=(1, -1))
    with pytest.raises(ValueError, match=r"concatenate: tensors\[1\] has shape \(3, 3\) but tensors\[0\] has "
                                         r"\(2, 3\); all axes except axis=1 must match"):
        S.concatenate([a, S.tensor(np.ones((3, 3)))], axis=1)
    with pytest.raises(ValueError, match="concatenate: expected at least one tensor"):
        S.concatenate([])
    with pytest.raises(ValueError, match="transpose: axes must list each of the 2 axes"):
        S.transpose(a, (0,))
    with pytest.raises(TypeError, match="in-place assignment is not supported"):
        a[0] = 1.0


def test_tensor_rejects_other_dtypes(B):
    with pytest.raises(ValueError, match=r"tensor: dtype: expected one of \['float32', 'float64'\], got 'float16'"):
        B.autograd.tensor([1.0], dtype="float16")
    with pytest.raises(TypeError, match="grad_of: expected a Tensor"):
        B.autograd.grad_of(np.ones(2))
