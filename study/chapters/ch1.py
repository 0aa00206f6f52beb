"""Chapter 1, foundations: functions, their derivatives and the chain rule, hand-derived (scratch) against
autograd (torch), with centred finite differences as the third opinion."""

from __future__ import annotations

import numpy as np

from dlfs.backends import backend
from study.parity import ParityReport, compare, numerical_gradient
from study.spec import BATCHES, CheckSpec, Concept, report

ELEMENTARY = ("square", "relu", "leaky_relu", "sigmoid")


def _foundations() -> tuple:
    return backend("scratch").foundations, backend("torch").foundations


def derivatives(dtype: str) -> list[ParityReport]:
    """Each elementary function and its hand-derived derivative (scratch) against torch autograd, on (4, 3)."""
    S, T = _foundations()
    x = np.random.default_rng(1).standard_normal((4, 3)) * 2
    x[np.abs(x) < 0.05] = 0.5  # relu's kink at 0 has no derivative
    x = x.astype(dtype)
    comps = []
    for name in ELEMENTARY:
        comps.append(compare(f"output {name}", getattr(T, name)(x), getattr(S, name)(x), "activation", dtype))
        comps.append(compare(f"input_grad {name}'", getattr(T, name + "_deriv")(x),
                             getattr(S, name + "_deriv")(x), "activation", dtype))
    reports = [report("derivatives", dtype, comps)]
    if dtype == "float64":
        fd = [compare(f"input_grad {n}'", S.deriv(getattr(S, n), x, 1e-6), getattr(S, n + "_deriv")(x),
                      "finite_difference") for n in ELEMENTARY]
        reports.append(report("derivatives (finite differences)", dtype, fd))
    return reports


def chain_rule(dtype: str) -> list[ParityReport]:
    """The chain rule for sigmoid(square(x)) and sigmoid(square(leaky_relu(x))) on (3, 5)."""
    S, T = _foundations()
    x = (np.random.default_rng(2).standard_normal((3, 5)) * 2).astype(dtype)
    comps = []
    for rule, names in (("chain_deriv_2", ("square", "sigmoid")),
                        ("chain_deriv_3", ("leaky_relu", "square", "sigmoid"))):
        s_chain, t_chain = [getattr(S, n) for n in names], [getattr(T, n) for n in names]
        comps.append(compare(f"output {rule}", T.chain(t_chain)(x), S.chain(s_chain)(x), "activation", dtype))
        comps.append(compare(f"input_grad {rule}", getattr(T, rule)(t_chain, x), getattr(S, rule)(s_chain, x),
                             "activation", dtype))
    return [report("chain-rule", dtype, comps)]


def multiple_inputs(dtype: str) -> list[ParityReport]:
    """s = sigma(x + y) and s = sigma(x * y) with (ds/dx, ds/dy) on (3, 4): hand-derived against autograd."""
    S, T = _foundations()
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    comps = []
    for op in ("add", "multiply"):
        f, back = f"multiple_inputs_{op}", f"multiple_inputs_{op}_backward"
        comps.append(compare(f"output {op}", getattr(T, f)(x, y, T.sigmoid), getattr(S, f)(x, y, S.sigmoid),
                             "activation", dtype))
        for name, gt, gs in zip("xy", getattr(T, back)(x, y, T.sigmoid), getattr(S, back)(x, y, S.sigmoid)):
            comps.append(compare(f"input_grad {op} d/d{name}", gt, gs, "activation", dtype))
    return [report("multiple-inputs", dtype, comps)]


def matrix_chain_rule(dtype: str) -> list[ParityReport]:
    """L = sum(sigma(X @ W)) and its gradients dL/dX, dL/dW, for X (n, 3) and W (3, 2), n = 1 and 4."""
    S, T = _foundations()
    reports = []
    for n in BATCHES:
        rng = np.random.default_rng(n)
        X, W = rng.standard_normal((n, 3)).astype(dtype), rng.standard_normal((3, 2)).astype(dtype)
        dX, dW = S.matrix_function_backward_sum(X, W, S.sigmoid)
        tdX, tdW = T.matrix_function_backward_sum(X, W, T.sigmoid)
        L_s = S.matrix_function_forward_sum(X, W, S.sigmoid)
        L_t = T.matrix_function_forward_sum(X, W, T.sigmoid)
        reports.append(report(f"matrix-chain-rule batch {n}", dtype, [
            compare("output", np.array(L_t), np.array(L_s), dtype=dtype, check_dtype=False),
            compare("input_grad", tdX, dX), compare("grad:W", tdW, dW)]))
        if dtype == "float64":
            def loss(X: np.ndarray = X, W: np.ndarray = W) -> float:
                return S.matrix_function_forward_sum(X, W, S.sigmoid)
            reports.append(report(f"matrix-chain-rule batch {n} (finite differences)", dtype, [
                compare("input_grad", dX, numerical_gradient(loss, X), "finite_difference"),
                compare("grad:W", dW, numerical_gradient(loss, W), "finite_difference")]))
    return reports


# --- the book's equations (LaTeX, one display equation each) and what the book's own code does ---------------
_DERIVATIVES_EQ = (
    r"\mathrm{square}(x) = x^{2}, \quad \mathrm{square}'(x) = 2 x",
    r"\mathrm{relu}(x) = \max(0, x), \quad \mathrm{relu}'(x) = 1 \text{ if } x > 0 \text{, else } 0",
    r"\mathrm{leaky\_relu}(x) = x \text{ if } x > 0 \text{, else } \alpha x, \quad "
    r"\mathrm{leaky\_relu}'(x) = 1 \text{ if } x > 0 \text{, else } \alpha, \quad \alpha = 0.2",
    r"\sigma(x) = \frac{1}{1 + e^{-x}}, \quad \sigma'(x) = \sigma(x) \left( 1 - \sigma(x) \right)",
    r"\frac{df}{du}(x) \approx \frac{f(x + \Delta) - f(x - \Delta)}{2 \Delta}, \quad \Delta = 0.001",
)
_DERIVATIVES_BOOK = (
    "The book differentiates numerically: `deriv(func, input_, delta=0.001)`, a centred difference good to about "
    "6 digits in float64, which at relu's kink x = 0 gives 0.5. Both backends differentiate exactly instead "
    "(scratch by hand, torch by autograd) and at x = 0 take PyTorch's choice, relu'(0) = 0 and "
    "leaky_relu'(0) = alpha; `deriv` stays, with the book's formula and default, as the third opinion. The leaky "
    "slope alpha = 0.2 is the book's (PyTorch's default `negative_slope` is 0.01)."
)
_CHAIN_RULE_EQ = (
    r"\frac{d f_{2}}{d x}(x) = \frac{d f_{2}}{d u}\left( f_{1}(x) \right) \times \frac{d f_{1}}{d x}(x)",
    r"\frac{d f_{3}}{d x}(x) = \frac{d f_{3}}{d u}\left( f_{2}(f_{1}(x)) \right) \times "
    r"\frac{d f_{2}}{d u}\left( f_{1}(x) \right) \times \frac{d f_{1}}{d x}(x)",
    r"\frac{d}{d x} f_{n}\left( \cdots f_{1}(x) \right) = \prod_{i=1}^{n} f_{i}'(u_{i-1}), \quad u_{0} = x, \; "
    r"u_{i} = f_{i}(u_{i-1})",
    r"\frac{d}{d x} \sigma\left( x^{2} \right) = \sigma'\left( x^{2} \right) \times 2 x",
)
_CHAIN_RULE_BOOK = (
    "The book's `chain_deriv_2` and `chain_deriv_3` take every local derivative numerically, with `deriv` "
    "(delta = 0.001); nothing else is known to be wrong in them. scratch multiplies hand-derived derivatives, "
    "each at its own input (falling back on `deriv` only for a function it does not know, as the book does for "
    "all), and torch lets autograd differentiate the composition; both agree with centred differences."
)
_MULTIPLE_INPUTS_EQ = (
    r"a = x + y, \quad s = \sigma(a)",
    r"\frac{\partial s}{\partial x} = \frac{\partial \sigma}{\partial u}(a) \times \frac{\partial a}{\partial x} "
    r"= \sigma'(x + y) \times 1, \quad \frac{\partial s}{\partial y} = \sigma'(x + y) \times 1",
    r"a = x \times y, \quad s = \sigma(a)",
    r"\frac{\partial s}{\partial x} = \sigma'(x y) \times y, \quad "
    r"\frac{\partial s}{\partial y} = \sigma'(x y) \times x",
)
_MULTIPLE_INPUTS_BOOK = (
    "Nothing is known to be wrong in the book's code here. The one difference is chapter 1's usual one: the book "
    "takes sigma' numerically with `deriv`, while scratch uses the hand-derived sigma (1 - sigma) and torch "
    "autograd, in the same chain rule."
)
_MATRIX_CHAIN_RULE_EQ = (
    r"N = X W",
    r"S = \sigma(N)",
    r"L = \sum_{i} \sum_{j} S_{ij}",
    r"\frac{\partial L}{\partial N} = \frac{\partial L}{\partial S} \odot \sigma'(N) = \sigma'(N)",
    r"\frac{\partial L}{\partial X} = \frac{\partial L}{\partial N} W^{T}",
    r"\frac{\partial L}{\partial W} = X^{T} \frac{\partial L}{\partial N}",
)
_MATRIX_CHAIN_RULE_BOOK = (
    "The book's `matmul_backward_first(X, W)` returns `W^T` whatever the shapes, which is dN/dX only for its "
    "one-row X and one-column W. Ours is the vector-Jacobian product `output_grad @ W^T`, shape (n, d_in); "
    "`output_grad=None` means ones, which gives the book's `W^T` (and its printed numbers) in the book's case. The "
    "book also takes sigma' numerically (`deriv`) and leaves dL/dW as an exercise; both backends return "
    "(dL/dN W^T, X^T dL/dN), scratch by hand and torch by autograd."
)

_F = "parity_tests/test_foundations.py"
CONCEPTS = [
    Concept("derivatives", "Elementary functions and their derivatives (hand-derived vs autograd)", "1",
            "scratch.foundations:sigmoid_deriv", "torch_impl.foundations:sigmoid_deriv",
            CheckSpec(derivatives, "activation"), (f"{_F}::test_elementwise_derivative_three_way",),
            show_scratch=("scratch.foundations:sigmoid", "scratch.foundations:sigmoid_deriv"),
            show_torch=("torch_impl.foundations:sigmoid", "torch_impl.foundations:sigmoid_deriv"),
            equations=_DERIVATIVES_EQ, book_code=_DERIVATIVES_BOOK),
    Concept("chain-rule", "The chain rule for nested functions", "1", "scratch.foundations:chain_deriv_3",
            "torch_impl.foundations:chain_deriv_3", CheckSpec(chain_rule, "activation"),
            (f"{_F}::test_chain_rule_three_way",), equations=_CHAIN_RULE_EQ, book_code=_CHAIN_RULE_BOOK),
    Concept("multiple-inputs", "Functions of several inputs: sigma(x + y), sigma(x * y)", "1",
            "scratch.foundations:multiple_inputs_multiply_backward",
            "torch_impl.foundations:multiple_inputs_multiply_backward", CheckSpec(multiple_inputs, "activation"),
            (f"{_F}::test_multiple_inputs_three_way",), equations=_MULTIPLE_INPUTS_EQ,
            book_code=_MULTIPLE_INPUTS_BOOK),
    Concept("matrix-chain-rule", "The matrix chain rule: L = sum(sigma(X @ W)), dL/dX and dL/dW", "1",
            "scratch.foundations:matrix_function_backward_sum",
            "torch_impl.foundations:matrix_function_backward_sum", CheckSpec(matrix_chain_rule),
            (f"{_F}::test_matmul_three_way", f"{_F}::test_matrix_function_sum_three_way"),
            equations=_MATRIX_CHAIN_RULE_EQ, book_code=_MATRIX_CHAIN_RULE_BOOK),
]
