"""Chapter 1, foundations: every hand-derived derivative (scratch) against torch autograd and against centred
differences; the book's printed numbers; clear errors for bad input; the chapter's experiment."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

import dlfs
from study.parity import Comparison, ParityReport, compare, numerical_gradient

S = dlfs.backend("scratch").foundations
T = dlfs.backend("torch").foundations
FUNCTIONS = ("square", "relu", "leaky_relu", "sigmoid")
EPS = 1e-6  # the finite-difference step the "finite_difference" tolerance is written for
SHAPES = [(1, 5), (4, 3)]  # batch 1 and > 1, rows != columns
MATMUL_SHAPES = [(1, 3, 1), (1, 4, 2), (5, 3, 2), (2, 6, 4)]  # (n, d_in, d_out), d_in != d_out


def _x(shape: tuple[int, ...], seed: int, dtype: str = "float64") -> np.ndarray:
    """Standard normal * 2, kept away from the kink at 0 so relu's centred differences are exact."""
    x = np.random.default_rng(seed).standard_normal(shape) * 2
    x[np.abs(x) < 0.05] = 0.5
    return x.astype(dtype)


def _record(concept: str, dtype: str, *comparisons: Comparison) -> ParityReport:
    report = ParityReport(concept, dtype)
    for c in comparisons:
        report.add(c)
    print(report)
    return report


def test_same_interface():
    assert S.__all__ == T.__all__
    for name in S.__all__:
        assert inspect.signature(getattr(S, name)) == inspect.signature(getattr(T, name)), name
    assert dlfs.backend("scratch").foundations is S and "torch" not in S.__dict__


# --- elementary functions -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_elementwise_derivative_three_way(name, shape):
    """Hand-derived f' (scratch) == autograd f' (torch) to 1e-9, and == the centred difference."""
    x = _x(shape, seed=len(name))
    f, f_deriv = getattr(S, name), getattr(S, name + "_deriv")
    _record(f"foundations.{name}", "float64",
            compare("output", getattr(T, name)(x), f(x)),
            compare("input_grad", getattr(T, name + "_deriv")(x), f_deriv(x)),
            compare("input_grad (finite differences)", f_deriv(x), S.deriv(f, x, EPS), "finite_difference"))
    # derivative() finds the hand-derived function in scratch and builds the autograd one in torch
    compare("derivative()", T.derivative(getattr(T, name))(x), S.derivative(f)(x))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_elementwise_float32(name):
    x = _x((4, 3), seed=7, dtype="float32")
    _record(f"foundations.{name}", "float32",
            compare("output", getattr(T, name)(x), getattr(S, name)(x), "activation"),
            compare("input_grad", getattr(T, name + "_deriv")(x), getattr(S, name + "_deriv")(x), "activation"))


def test_kinks_follow_pytorch():
    x = np.array([-1.0, 0.0, 1.0])
    for F in (S, T):
        np.testing.assert_array_equal(F.relu_deriv(x), [0.0, 0.0, 1.0])
        np.testing.assert_array_equal(F.leaky_relu_deriv(x), [0.2, 0.2, 1.0])
        np.testing.assert_array_equal(F.leaky_relu(x, alpha=0.1), [-0.1, 0.0, 1.0])
        np.testing.assert_array_equal(F.leaky_relu_deriv(x, alpha=0.1), [0.1, 0.1, 1.0])


def test_book_delta_is_accurate_to_about_1e_7():
    """deriv's default delta = 0.001 (the book's): truncation error delta^2 |f'''| / 6 ~ 1e-8 for sigmoid."""
    x = _x((3, 4), seed=3)
    err = np.max(np.abs(S.deriv(S.sigmoid, x) - S.sigmoid_deriv(x)))
    assert 1e-12 < err < 1e-7
    compare("deriv scratch vs torch", T.deriv(T.sigmoid, x), S.deriv(S.sigmoid, x))


# --- the chain rule -------------------------------------------------------------------------------------------

CHAINS = {
    "sigmoid(square)": ("square", "sigmoid"),
    "square(sigmoid)": ("sigmoid", "square"),
    "sigmoid(square(leaky_relu))": ("leaky_relu", "square", "sigmoid"),
    "relu(sigmoid(square(leaky_relu)))": ("leaky_relu", "square", "sigmoid", "relu"),
}


@pytest.mark.parametrize("key", CHAINS)
def test_chain_rule_three_way(key):
    names = CHAINS[key]
    s_funcs, t_funcs = [getattr(S, n) for n in names], [getattr(T, n) for n in names]
    x = _x((3, 5), seed=len(key))
    rule = {2: "chain_deriv_2", 3: "chain_deriv_3"}.get(len(names), "chain_deriv")
    hand = getattr(S, rule)(s_funcs, x)
    _record(f"foundations.{rule} {key}", "float64",
            compare("output", T.chain(t_funcs)(x), S.chain(s_funcs)(x)),
            compare("input_grad", getattr(T, rule)(t_funcs, x), hand),
            compare("input_grad (finite differences)", hand, S.deriv(S.chain(s_funcs), x, EPS), "finite_difference"))
    compare("chain_deriv == " + rule, S.chain_deriv(s_funcs, x), hand)
    compare("torch chain_deriv == " + rule, T.chain_deriv(t_funcs, x), hand)


def test_chain_with_a_function_of_our_own():
    """A function without a hand-derived derivative: scratch falls back on the centred difference (as the book
    does everywhere), torch differentiates it by autograd."""
    x = _x((2, 3), seed=11)
    hand = S.chain_deriv_2([lambda t: t ** 3, S.sigmoid], x)
    compare("cube then sigmoid", T.chain_deriv_2([lambda t: t ** 3, T.sigmoid], x), hand,
            tol=dlfs.tolerances.Tol(1e-5, 1e-8, "scratch uses deriv(delta=0.001) for t**3: error ~delta^2"))


# --- functions of several inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["add", "multiply"])
@pytest.mark.parametrize("sigma", ["sigmoid", "square", "leaky_relu"])
def test_multiple_inputs_three_way(op, sigma):
    x, y = _x((4, 3), seed=1), _x((4, 3), seed=2)
    fwd, bwd = f"multiple_inputs_{op}", f"multiple_inputs_{op}_backward"
    s_sigma, t_sigma = getattr(S, sigma), getattr(T, sigma)
    dx, dy = getattr(S, bwd)(x, y, s_sigma)
    tdx, tdy = getattr(T, bwd)(x, y, t_sigma)
    # each output element depends on the same element of x (and of y) only, so the partials are elementwise
    num_dx = S.deriv(lambda t: getattr(S, fwd)(t, y, s_sigma), x, EPS)
    num_dy = S.deriv(lambda t: getattr(S, fwd)(x, t, s_sigma), y, EPS)
    _record(f"foundations.{bwd} {sigma}", "float64",
            compare("output", getattr(T, fwd)(x, y, t_sigma), getattr(S, fwd)(x, y, s_sigma)),
            compare("input_grad x", tdx, dx), compare("input_grad y", tdy, dy),
            compare("input_grad x (finite differences)", dx, num_dx, "finite_difference"),
            compare("input_grad y (finite differences)", dy, num_dy, "finite_difference"))


# --- the matrix chain rule ------------------------------------------------------------------------------------

def _XWG(n: int, d_in: int, d_out: int, seed: int, dtype: str = "float64"):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(s).astype(dtype) for s in ((n, d_in), (d_in, d_out), (n, d_out)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", MATMUL_SHAPES)
def test_matmul_three_way(shape, dtype):
    """dL/dX = G @ W^T and dL/dW = X^T @ G for L = sum(G * (X @ W)), G a random upstream gradient."""
    X, W, G = _XWG(*shape, seed=sum(shape), dtype=dtype)
    dX, dW = S.matmul_backward(X, W, G)
    tdX, tdW = T.matmul_backward(X, W, G)
    comps = [compare("output", T.matmul_forward(X, W), S.matmul_forward(X, W)),
             compare("input_grad", tdX, dX), compare("grad:W", tdW, dW),
             compare("matmul_backward_first", S.matmul_backward_first(X, W, G), dX),
             compare("torch matmul_backward_first", T.matmul_backward_first(X, W, G), dX)]
    if dtype == "float64":
        X, W = X.copy(), W.copy()
        loss = lambda: float(np.sum(S.matmul_forward(X, W) * G))  # noqa: E731
        comps += [compare("input_grad (finite differences)", dX, numerical_gradient(loss, X, EPS), "finite_difference"),
                  compare("grad:W (finite differences)", dW, numerical_gradient(loss, W, EPS), "finite_difference")]
    _record(f"foundations.matmul {shape}", dtype, *comps)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sigma", ["sigmoid", "square", "leaky_relu"])
@pytest.mark.parametrize("shape", MATMUL_SHAPES[1:])
def test_matrix_function_backward_1_three_way(shape, sigma, dtype):
    """dL/dX = (G * sigma'(X @ W)) @ W^T for L = sum(G * sigma(X @ W))."""
    X, W, G = _XWG(*shape, seed=sum(shape) + 1, dtype=dtype)
    s_sigma, t_sigma = getattr(S, sigma), getattr(T, sigma)
    dX = S.matrix_function_backward_1(X, W, s_sigma, G)
    comps = [compare("output", T.matrix_forward_extra(X, W, t_sigma), S.matrix_forward_extra(X, W, s_sigma)),
             compare("input_grad", T.matrix_function_backward_1(X, W, t_sigma, G), dX)]
    if dtype == "float64":
        X = X.copy()
        loss = lambda: float(np.sum(S.matrix_forward_extra(X, W, s_sigma) * G))  # noqa: E731
        comps.append(compare("input_grad (finite differences)", dX, numerical_gradient(loss, X, EPS),
                             "finite_difference"))
    _record(f"foundations.matrix_function_backward_1 {sigma} {shape}", dtype, *comps)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", MATMUL_SHAPES)
def test_matrix_function_sum_three_way(shape, dtype):
    """The chapter's closing example: L = sum(sigma(X @ W)), dL/dX and dL/dW."""
    X, W, _ = _XWG(*shape, seed=sum(shape) + 2, dtype=dtype)
    dX, dW = S.matrix_function_backward_sum(X, W, S.sigmoid)
    tdX, tdW = T.matrix_function_backward_sum(X, W, T.sigmoid)
    L_s, L_t = S.matrix_function_forward_sum(X, W, S.sigmoid), T.matrix_function_forward_sum(X, W, T.sigmoid)
    comps = [compare("output", np.array(L_t), np.array(L_s), dtype=dtype),
             compare("input_grad", tdX, dX), compare("grad:W", tdW, dW),
             compare("matrix_function_backward_sum_1", S.matrix_function_backward_sum_1(X, W, S.sigmoid), dX),
             compare("torch matrix_function_backward_sum_1", T.matrix_function_backward_sum_1(X, W, T.sigmoid), dX)]
    if dtype == "float64":
        X, W = X.copy(), W.copy()
        loss = lambda: S.matrix_function_forward_sum(X, W, S.sigmoid)  # noqa: E731
        comps += [compare("input_grad (finite differences)", dX, numerical_gradient(loss, X, EPS), "finite_difference"),
                  compare("grad:W (finite differences)", dW, numerical_gradient(loss, W, EPS), "finite_difference")]
    _record(f"foundations.matrix_function_sum {shape}", dtype, *comps)


def test_matrix_function_with_ones_is_the_sum():
    """With no upstream gradient, matrix_function_backward_1 is the gradient of sum(S), as in the book."""
    X, W, _ = _XWG(3, 4, 2, seed=5)
    for F in (S, T):
        expected = S.matrix_function_backward_sum_1(X, W, S.sigmoid)
        compare("ones", F.matrix_function_backward_1(X, W, F.sigmoid), expected)
        compare("matmul ones", F.matmul_backward(X, W)[1], X.T @ np.ones((3, 2)))


def test_mixed_dtypes_promote_alike():
    X, W, _ = _XWG(2, 3, 2, seed=9)
    for F in (S, T):
        assert F.matmul_forward(X.astype("float32"), W).dtype == np.float64
        assert F.sigmoid_deriv(np.array([1, 2])).dtype == np.float64  # integers become float64
        assert F.square(np.ones(3, dtype="float32")).dtype == np.float32


# --- the book's printed values --------------------------------------------------------------------------------

def test_book_numbers(B):
    F = B.foundations
    np.random.seed(190203)
    X, W = np.random.randn(1, 3), np.random.randn(3, 1)
    # matmul_backward_first prints W^T = dN/dX; the vector function sigma(X @ W) prints its own gradient
    np.testing.assert_array_equal(np.round(F.matmul_backward_first(X, W), 4), [[0.9282, -0.6075, -1.2214]])
    np.testing.assert_array_equal(np.round(F.matrix_function_backward_1(X, W, F.sigmoid), 4),
                                  [[0.0852, -0.0557, -0.1121]])
    np.random.seed(190204)
    X, W = np.random.randn(3, 3), np.random.randn(3, 2)
    assert round(F.matrix_function_forward_sum(X, W, F.sigmoid), 4) == 2.3755
    dLdX = F.matrix_function_backward_sum_1(X, W, F.sigmoid)
    np.testing.assert_array_equal(np.round(dLdX[0], 4), [0.2489, -0.3748, 0.0112])
    X1 = X.copy()
    X1[0, 0] += 0.001  # the book's check of dL/dx11 by nudging x11
    diff = (F.matrix_function_forward_sum(X1, W, F.sigmoid) - F.matrix_function_forward_sum(X, W, F.sigmoid)) / 0.001
    assert round(diff, 4) == 0.2489


# --- bad input ------------------------------------------------------------------------------------------------

def test_chain_rejects_a_non_callable(B):
    F = B.foundations
    with pytest.raises(TypeError, match=r"chain: functions\[1\]: expected a callable.*int 3"):
        F.chain([F.square, 3])
    with pytest.raises(TypeError, match=r"chain_deriv_2: chain\[0\]: expected a callable"):
        F.chain_deriv_2(["sigmoid", F.square], np.ones(3))
    with pytest.raises(TypeError, match="expected a list of functions"):
        F.chain(F.square)


def test_chain_rejects_an_empty_chain(B):
    F = B.foundations
    with pytest.raises(ValueError, match="chain: functions: expected at least one function, got an empty list"):
        F.chain([])
    with pytest.raises(ValueError, match="chain_deriv: chain: expected at least one function"):
        F.chain_deriv((), np.ones(3))


def test_chain_deriv_2_and_3_need_their_length(B):
    F = B.foundations
    with pytest.raises(ValueError, match="chain_deriv_2: chain: expected a chain of exactly 2 functions, got 3"):
        F.chain_deriv_2([F.square, F.sigmoid, F.relu], np.ones(3))
    with pytest.raises(ValueError, match="chain_deriv_3: chain: expected a chain of exactly 3 functions, got 1"):
        F.chain_deriv_3([F.square], np.ones(3))


def test_matmul_rejects_mismatched_shapes(B):
    F = B.foundations
    X, W = np.ones((2, 3)), np.ones((4, 5))
    msg = r"X @ W: X has 3 columns \(shape \(2, 3\)\) but W has 4 rows \(shape \(4, 5\)\)"
    for call in (lambda: F.matmul_forward(X, W), lambda: F.matmul_backward(X, W),
                 lambda: F.matmul_backward_first(X, W), lambda: F.matrix_forward_extra(X, W, F.sigmoid),
                 lambda: F.matrix_function_backward_1(X, W, F.sigmoid),
                 lambda: F.matrix_function_forward_sum(X, W, F.sigmoid),
                 lambda: F.matrix_function_backward_sum(X, W, F.sigmoid)):
        with pytest.raises(ValueError, match=msg):
            call()
    with pytest.raises(ValueError, match=r"matmul_forward: X: expected a 2-D array, got 1-D shape \(3,\)"):
        F.matmul_forward(np.ones(3), np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"output_grad must have the shape of X @ W, \(2, 5\), got \(5, 2\)"):
        F.matmul_backward(X, np.ones((3, 5)), np.ones((5, 2)))


@pytest.mark.parametrize("delta", [0, -0.001, float("nan"), float("inf")])
def test_deriv_rejects_a_non_positive_delta(B, delta):
    with pytest.raises(ValueError, match=rf"deriv: delta: expected a positive finite number, got {delta}"):
        B.foundations.deriv(B.foundations.square, np.ones(3), delta=delta)


def test_deriv_rejects_bad_func_and_delta_types(B):
    F = B.foundations
    with pytest.raises(TypeError, match="deriv: delta: expected a positive number, got str"):
        F.deriv(F.square, np.ones(3), delta="0.01")
    with pytest.raises(TypeError, match="deriv: func: expected a callable"):
        F.deriv(np.ones(3), F.square)


def test_several_inputs_reject_bad_input(B):
    F = B.foundations
    with pytest.raises(ValueError, match=r"multiple_inputs_add: x and y must have the same shape, got x \(2,\)"):
        F.multiple_inputs_add(np.ones(2), np.ones(3), F.sigmoid)
    with pytest.raises(TypeError, match="multiple_inputs_multiply_backward: sigma: expected a callable"):
        F.multiple_inputs_multiply_backward(np.ones(2), np.ones(2), "sigmoid")
    with pytest.raises(ValueError, match="sigmoid: x: expected finite values, got 1 NaN"):
        F.sigmoid(np.array([1.0, np.nan]))


def test_torch_needs_torch_functions():
    """A NumPy-only function would cut autograd's tape; the torch backend says so instead of failing deep inside."""
    with pytest.raises(TypeError, match="returned ndarray, not a torch tensor"):
        T.matrix_function_backward_1(np.ones((1, 2)), np.ones((2, 1)), S.sigmoid)
    with pytest.raises(TypeError, match="multiple_inputs_add: sigma: sigmoid returned ndarray"):
        T.multiple_inputs_add(np.ones(2), np.ones(2), S.sigmoid)
    with pytest.raises(TypeError, match="matrix_function_forward_sum: sigma: .* returned ndarray"):
        T.matrix_function_forward_sum(np.ones((1, 2)), np.ones((2, 1)), lambda t: np.ones((1, 1)))


# --- the experiment -------------------------------------------------------------------------------------------

def test_experiment_writes_valid_pngs_and_metrics(tmp_path):
    from experiments.foundations import main

    metrics = main(["--out", str(tmp_path), "--no-progress"])
    for name in ("functions_and_derivatives.png", "chain_rule.png", "L_vs_x11.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["dataset"] == "book"
    for b in ("scratch", "torch"):
        errs = saved["backends"][b]["max_abs_error_analytic_vs_numerical"]
        assert 1e-9 < errs["sigmoid"] < 1e-7  # delta = 0.001: the O(delta^2) truncation error, not zero
        assert all(saved["backends"][b]["matches_book"].values())
    assert max(metrics["scratch_vs_torch_max_abs"].values()) < 1e-9
