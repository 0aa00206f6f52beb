"""Chapter 1, foundations: functions, derivatives, nested functions and the chain rule -- first for
numbers, then for the matrix product ``X @ W`` that every layer of the book is built on.

Every elementary function sits beside its hand-derived derivative. The chain rule is a forward pass
that keeps the intermediate values and a backward pass that multiplies the local derivatives
evaluated at them.

Shapes: the elementwise functions, their derivatives, ``deriv`` and the ``chain_*`` functions take
an array of any shape and return one of the same shape. In the matrix functions ``X`` is (n, d_in),
``W`` is (d_in, d_out), ``N = X @ W`` and ``S = sigma(N)`` are (n, d_out), and ``output_grad``
(dL/dN or dL/dS) is (n, d_out). Integer inputs are computed in float64; float32 stays float32.

The torch backend (``torch_impl/foundations.py``) has the same names, in the same order,
computed by autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dlfs.errors import check_array, check_callable, check_matmul_shapes, check_positive_float

ArrayFunction = Callable[[np.ndarray], np.ndarray]

__all__ = [
    "square", "square_deriv", "relu", "relu_deriv",
    "leaky_relu", "leaky_relu_deriv", "sigmoid", "sigmoid_deriv",
    "deriv", "derivative",
    "chain", "chain_deriv_2", "chain_deriv_3", "chain_deriv",
    "multiple_inputs_add", "multiple_inputs_add_backward",
    "multiple_inputs_multiply", "multiple_inputs_multiply_backward",
    "matmul_forward", "matmul_backward_first", "matmul_backward",
    "matrix_forward_extra", "matrix_function_backward_1",
    "matrix_function_forward_sum", "matrix_function_backward_sum_1", "matrix_function_backward_sum",
]


def _float(name: str, x: np.ndarray, ndim: int | None = None) -> np.ndarray:
    """``x`` as a float array (ints become float64: a derivative of an int array makes no sense)."""
    arr = check_array(name, x, ndim=ndim)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


# --- elementary functions, each beside its derivative ---------------------------------------------

def square(x: np.ndarray) -> np.ndarray:
    """x^2, elementwise."""
    x = _float("square: x", x)
    return x * x


def square_deriv(x: np.ndarray) -> np.ndarray:
    """d(x^2)/dx = 2x."""
    x = _float("square_deriv: x", x)
    return 2 * x


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x), elementwise (the book writes ``np.clip(x, 0, None)``)."""
    x = _float("relu: x", x)
    return np.maximum(x, 0)


def relu_deriv(x: np.ndarray) -> np.ndarray:
    """1 where x > 0, else 0. At the kink x = 0 we take 0, as PyTorch does."""
    x = _float("relu_deriv: x", x)
    return (x > 0).astype(x.dtype)


def leaky_relu(x: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """x where x > 0, else alpha * x. The book's slope is 0.2 (PyTorch's default is 0.01)."""
    x = _float("leaky_relu: x", x)
    return np.where(x > 0, x, alpha * x).astype(x.dtype)


def leaky_relu_deriv(x: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """1 where x > 0, else alpha (alpha at x = 0, as PyTorch)."""
    x = _float("leaky_relu_deriv: x", x)
    return np.where(x > 0, 1.0, alpha).astype(x.dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigma(x) = 1 / (1 + e^-x), elementwise."""
    x = _float("sigmoid: x", x)
    with np.errstate(over="ignore"):  # e^-x overflows to inf for x << 0, giving the right limit 0
        return 1 / (1 + np.exp(-x))


def sigmoid_deriv(x: np.ndarray) -> np.ndarray:
    """d sigma/dx = sigma(x) (1 - sigma(x))."""
    s = sigmoid(x)
    return s * (1 - s)


# The analytic derivative of each function above; the chain rule below looks them up here.
DERIVATIVES: dict[Callable[..., np.ndarray], Callable[..., np.ndarray]] = {
    square: square_deriv, relu: relu_deriv, leaky_relu: leaky_relu_deriv, sigmoid: sigmoid_deriv,
}


# --- derivatives ----------------------------------------------------------------------------------

def deriv(func: ArrayFunction, input_: np.ndarray, delta: float = 0.001) -> np.ndarray:
    """The centred difference (f(x + delta) - f(x - delta)) / (2 delta), elementwise: the book's
    numerical derivative. Its error is O(delta^2) from truncation plus O(eps_machine / delta) from
    cancellation, so delta = 0.001 (the book's) gives about 6 correct digits in float64; 1e-5 or so
    is the sweet spot."""
    check_callable("deriv: func", func)
    delta = check_positive_float("deriv: delta", delta)
    x = _float("deriv: input_", input_)
    return np.asarray((func(x + delta) - func(x - delta)) / (2 * delta))


def derivative(func: ArrayFunction) -> ArrayFunction:
    """The derivative f' of an elementwise function f: the hand-derived one for ``square``,
    ``relu``, ``leaky_relu`` and ``sigmoid``; for any other function the centred difference
    ``deriv(func, x)`` (what the book uses for every function)."""
    check_callable("derivative: func", func)
    known = DERIVATIVES.get(func)
    if known is not None:
        return known
    return lambda x: deriv(func, x)


# --- nested functions and the chain rule ----------------------------------------------------------

def _check_chain(name: str, chain: Sequence[ArrayFunction],
                 length: int | None = None) -> list[ArrayFunction]:
    """A non-empty list of callables (of ``length`` functions when given)."""
    if (callable(chain) or isinstance(chain, str | bytes | np.ndarray)
            or not isinstance(chain, Sequence)):
        raise TypeError(f"{name}: expected a list of functions such as [square, sigmoid], "
                        f"got {type(chain).__name__}")
    if len(chain) == 0:
        raise ValueError(f"{name}: expected at least one function, "
                         f"got an empty {type(chain).__name__}")
    for i, f in enumerate(chain):
        check_callable(f"{name}[{i}]", f)
    if length is not None and len(chain) != length:
        raise ValueError(f"{name}: expected a chain of exactly {length} functions, "
                         f"got {len(chain)}")
    return list(chain)


def _compose(funcs: list[ArrayFunction]) -> ArrayFunction:
    def composed(x: np.ndarray) -> np.ndarray:
        for f in funcs:
            x = f(x)
        return x

    return composed


def chain(functions: Sequence[ArrayFunction]) -> ArrayFunction:
    """The composition of functions, applied first to last: ``chain([f1, f2])(x) = f2(f1(x))``."""
    return _compose(_check_chain("chain: functions", functions))


def chain_deriv_2(chain: Sequence[ArrayFunction], input_range: np.ndarray) -> np.ndarray:
    """d/dx f2(f1(x)) = f2'(f1(x)) * f1'(x), elementwise."""
    f1, f2 = _check_chain("chain_deriv_2: chain", chain, 2)
    x = _float("chain_deriv_2: input_range", input_range)
    # forward: keep f1(x), the point at which f2's derivative is needed
    f1_of_x = f1(x)
    # backward: the local derivatives, each at its own input, multiplied
    df1dx = derivative(f1)(x)
    df2du = derivative(f2)(f1_of_x)
    return df1dx * df2du


def chain_deriv_3(chain: Sequence[ArrayFunction], input_range: np.ndarray) -> np.ndarray:
    """d/dx f3(f2(f1(x))) = f3'(f2(f1(x))) * f2'(f1(x)) * f1'(x), elementwise."""
    f1, f2, f3 = _check_chain("chain_deriv_3: chain", chain, 3)
    x = _float("chain_deriv_3: input_range", input_range)
    # forward
    f1_of_x = f1(x)
    f2_of_x = f2(f1_of_x)
    # backward
    df3du = derivative(f3)(f2_of_x)
    df2du = derivative(f2)(f1_of_x)
    df1dx = derivative(f1)(x)
    return df1dx * df2du * df3du


def chain_deriv(chain: Sequence[ArrayFunction], input_range: np.ndarray) -> np.ndarray:
    """The chain rule for any number of nested functions:
    d/dx f_n(...f_1(x)) = prod_i f_i'(u_{i-1}), where u_0 = x and u_i = f_i(u_{i-1}) are the values
    the forward pass keeps."""
    funcs = _check_chain("chain_deriv: chain", chain)
    u = _float("chain_deriv: input_range", input_range)
    inputs = []  # forward: the input of every function
    for f in funcs:
        inputs.append(u)
        u = f(u)
    grad = np.ones_like(inputs[0])  # backward: multiply the local derivatives, last function first
    for f, u_in in zip(reversed(funcs), reversed(inputs)):
        grad = grad * derivative(f)(u_in)
    return grad


# --- functions of several inputs ------------------------------------------------------------------

def _same_shape(name: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _float(f"{name}: x", x), _float(f"{name}: y", y)
    if x.shape != y.shape:
        raise ValueError(f"{name}: x and y must have the same shape, "
                         f"got x {x.shape} and y {y.shape}")
    dtype = np.result_type(x, y)
    return x.astype(dtype, copy=False), y.astype(dtype, copy=False)


def multiple_inputs_add(x: np.ndarray, y: np.ndarray, sigma: ArrayFunction) -> np.ndarray:
    """s = sigma(x + y), elementwise."""
    check_callable("multiple_inputs_add: sigma", sigma)
    x, y = _same_shape("multiple_inputs_add", x, y)
    return sigma(x + y)


def multiple_inputs_add_backward(x: np.ndarray, y: np.ndarray,
                                 sigma: ArrayFunction) -> tuple[np.ndarray, np.ndarray]:
    """(ds/dx, ds/dy) for s = sigma(a), a = x + y: both are sigma'(a), since da/dx = da/dy = 1."""
    check_callable("multiple_inputs_add_backward: sigma", sigma)
    x, y = _same_shape("multiple_inputs_add_backward", x, y)
    a = x + y
    dsda = derivative(sigma)(a)
    return dsda * 1, dsda * 1


def multiple_inputs_multiply(x: np.ndarray, y: np.ndarray, sigma: ArrayFunction) -> np.ndarray:
    """s = sigma(x * y), elementwise."""
    check_callable("multiple_inputs_multiply: sigma", sigma)
    x, y = _same_shape("multiple_inputs_multiply", x, y)
    return sigma(x * y)


def multiple_inputs_multiply_backward(x: np.ndarray, y: np.ndarray,
                                      sigma: ArrayFunction) -> tuple[np.ndarray, np.ndarray]:
    """(ds/dx, ds/dy) for s = sigma(a), a = x * y: da/dx = y and da/dy = x, so
    (sigma'(a) y, sigma'(a) x)."""
    check_callable("multiple_inputs_multiply_backward: sigma", sigma)
    x, y = _same_shape("multiple_inputs_multiply_backward", x, y)
    a = x * y
    dsda = derivative(sigma)(a)
    return dsda * y, dsda * x


# --- the matrix chain rule ------------------------------------------------------------------------

def _matrices(name: str, X: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d_in) and W (d_in, d_out) in a common float dtype; names the mismatched dimensions."""
    X, W = _float(f"{name}: X", X, ndim=2), _float(f"{name}: W", W, ndim=2)
    check_matmul_shapes("X", X, "W", W)
    dtype = np.result_type(X, W)
    return X.astype(dtype, copy=False), W.astype(dtype, copy=False)


def _output_grad(name: str, output_grad: np.ndarray | None, N: np.ndarray) -> np.ndarray:
    """Upstream gradient dL/dN, (n, d_out); None means L = sum(N), i.e. ones (the book's case)."""
    if output_grad is None:
        return np.ones_like(N)
    G = _float(f"{name}: output_grad", output_grad)
    if G.shape != N.shape:
        raise ValueError(f"{name}: output_grad must have the shape of X @ W, {N.shape}, "
                         f"got {G.shape}")
    return G.astype(N.dtype, copy=False)


def matmul_forward(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """N = X @ W: (n, d_in) @ (d_in, d_out) -> (n, d_out)."""
    X, W = _matrices("matmul_forward", X, W)
    return X @ W


def matmul_backward_first(X: np.ndarray, W: np.ndarray,
                          output_grad: np.ndarray | None = None) -> np.ndarray:
    """dL/dX = dL/dN @ W^T, (n, d_in). For the book's one-row X and one-column W with L = N this is
    W^T: N = x1 w1 + x2 w2 + x3 w3, so dN/dX = [w1 w2 w3]."""
    X, W = _matrices("matmul_backward_first", X, W)
    G = _output_grad("matmul_backward_first", output_grad, X @ W)
    return G @ W.T


def matmul_backward(X: np.ndarray, W: np.ndarray,
                    output_grad: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dX, dL/dW) = (G @ W^T, X^T @ G) for N = X @ W and upstream gradient G = dL/dN
    (ones if None)."""
    X, W = _matrices("matmul_backward", X, W)
    G = _output_grad("matmul_backward", output_grad, X @ W)
    return G @ W.T, X.T @ G


def matrix_forward_extra(X: np.ndarray, W: np.ndarray, sigma: ArrayFunction) -> np.ndarray:
    """S = sigma(X @ W), (n, d_out)."""
    check_callable("matrix_forward_extra: sigma", sigma)
    X, W = _matrices("matrix_forward_extra", X, W)
    return sigma(X @ W)


def matrix_function_backward_1(X: np.ndarray, W: np.ndarray, sigma: ArrayFunction,
                               output_grad: np.ndarray | None = None) -> np.ndarray:
    """dL/dX for S = sigma(X @ W): (G * sigma'(N)) @ W^T, with G = dL/dS
    (ones if None, the book's case)."""
    check_callable("matrix_function_backward_1: sigma", sigma)
    X, W = _matrices("matrix_function_backward_1", X, W)
    N = X @ W  # forward, keeping N
    G = _output_grad("matrix_function_backward_1", output_grad, N)
    dLdN = G * derivative(sigma)(N)  # backward: elementwise through sigma ...
    return dLdN @ W.T  # ... then through the matrix product


def matrix_function_forward_sum(X: np.ndarray, W: np.ndarray, sigma: ArrayFunction) -> float:
    """L = sum(sigma(X @ W)), a number."""
    check_callable("matrix_function_forward_sum: sigma", sigma)
    X, W = _matrices("matrix_function_forward_sum", X, W)
    return float(np.sum(sigma(X @ W)))


def matrix_function_backward_sum_1(X: np.ndarray, W: np.ndarray,
                                   sigma: ArrayFunction) -> np.ndarray:
    """dL/dX for L = sum(sigma(X @ W)): dL/dS = 1, dL/dN = sigma'(N),
    dL/dX = dL/dN @ W^T, (n, d_in)."""
    check_callable("matrix_function_backward_sum_1: sigma", sigma)
    return matrix_function_backward_sum(X, W, sigma)[0]


def matrix_function_backward_sum(X: np.ndarray, W: np.ndarray,
                                 sigma: ArrayFunction) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dX, dL/dW) for L = sum(sigma(X @ W)): dL/dN = sigma'(N), then
    (dL/dN @ W^T, X^T @ dL/dN)."""
    check_callable("matrix_function_backward_sum: sigma", sigma)
    X, W = _matrices("matrix_function_backward_sum", X, W)
    N = X @ W
    dLdS = np.ones_like(N)  # L is a plain sum, so every S contributes with weight 1
    dLdN = dLdS * derivative(sigma)(N)
    return dLdN @ W.T, X.T @ dLdN
