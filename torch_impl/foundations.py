"""Chapter 1, foundations, in PyTorch: the same functions as ``scratch/foundations.py``, in the same
order, but every derivative comes from autograd instead of being derived by hand -- so a learner can
see that ``torch.func.grad`` and ``torch.autograd.grad`` give exactly what the hand-derived chain
rule gives.

Every public function takes and returns NumPy arrays. The elementwise functions also accept torch
tensors and then return tensors, which is what lets autograd trace through them
(``sigmoid(torch_tensor)`` stays on the tape). Functions passed in as ``sigma`` or in a ``chain``
must be written with torch operations: the ones here, ``torch.sigmoid``, ``lambda x: x ** 2``, ...

Shapes: as in the scratch module -- elementwise functions keep the shape; ``X`` is (n, d_in),
``W`` is (d_in, d_out), ``N = X @ W`` and ``S = sigma(N)`` are (n, d_out), ``output_grad`` is
(n, d_out).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import grad, vmap

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


def _tensor(name: str, x: Any, ndim: int | None = None) -> torch.Tensor:
    """A tensor passes through untouched (autograd may be tracing it); anything else is validated
    and copied into a float tensor (integers become float64, as in the scratch backend)."""
    if isinstance(x, torch.Tensor):
        if ndim is not None and x.ndim != ndim:
            raise ValueError(f"{name}: expected a {ndim}-D array, "
                             f"got {x.ndim}-D shape {tuple(x.shape)}")
        return x
    arr = check_array(name, x, ndim=ndim)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return torch.tensor(np.ascontiguousarray(arr))  # copy: torch refuses negative strides (x[::-1])


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _call(name: str, f: Callable[..., Any], *args: torch.Tensor) -> torch.Tensor:
    """``f(*args)``, insisting on a tensor: a NumPy function would silently cut autograd's tape."""
    out = f(*args)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{name}: {getattr(f, '__name__', type(f).__name__)} returned "
                        f"{type(out).__name__}, not a torch tensor; autograd needs a function "
                        f"written with torch operations (the functions of torch_impl.foundations, "
                        f"torch.sigmoid, lambda x: x ** 2, ...)")
    return out


def _numpy_boundary(fn: Callable[..., torch.Tensor]) -> Callable[..., Any]:
    """NumPy in, NumPy out; a tensor in gives a tensor out, so autograd can trace through ``fn``."""

    @functools.wraps(fn)  # keeps fn's signature, so both backends show the same one
    def wrapper(x: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return fn(x, *args, **kwargs)
        return _numpy(fn(_tensor(f"{fn.__name__}: x", x), *args, **kwargs))

    return wrapper


def _autograd_derivative(name: str, f: Callable[..., Any], x: torch.Tensor) -> torch.Tensor:
    """f'(x) at every element of x: ``torch.func.grad`` of the scalar function f, vmapped over x."""
    if x.numel() == 0:
        return torch.zeros_like(x)
    return vmap(grad(lambda t: _call(name, f, t)))(x.reshape(-1)).reshape(x.shape)


# --- elementary functions, each beside its derivative (by autograd) -------------------------------

@_numpy_boundary
def square(x: np.ndarray) -> np.ndarray:
    """x^2 (``torch.square``)."""
    return torch.square(x)


@_numpy_boundary
def square_deriv(x: np.ndarray) -> np.ndarray:
    """d(x^2)/dx, by autograd."""
    return _autograd_derivative("square_deriv", square, x)


@_numpy_boundary
def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x) (``torch.relu``)."""
    return torch.relu(x)


@_numpy_boundary
def relu_deriv(x: np.ndarray) -> np.ndarray:
    """d relu/dx, by autograd (PyTorch takes 0 at the kink x = 0)."""
    return _autograd_derivative("relu_deriv", relu, x)


@_numpy_boundary
def leaky_relu(x: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """``F.leaky_relu`` with the book's slope 0.2 (PyTorch's default ``negative_slope`` is 0.01)."""
    return F.leaky_relu(x, negative_slope=alpha)


@_numpy_boundary
def leaky_relu_deriv(x: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """d leaky_relu/dx, by autograd (alpha at x = 0)."""
    return _autograd_derivative("leaky_relu_deriv", lambda t: leaky_relu(t, alpha), x)


@_numpy_boundary
def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) (``torch.sigmoid``)."""
    return torch.sigmoid(x)


@_numpy_boundary
def sigmoid_deriv(x: np.ndarray) -> np.ndarray:
    """d sigma/dx, by autograd."""
    return _autograd_derivative("sigmoid_deriv", sigmoid, x)


# --- derivatives ----------------------------------------------------------------------------------

def deriv(func: ArrayFunction, input_: np.ndarray, delta: float = 0.001) -> np.ndarray:
    """The centred difference (f(x + delta) - f(x - delta)) / (2 delta), computed on tensors:
    numerical differentiation needs no autograd: this is the scratch formula in torch arithmetic."""
    check_callable("deriv: func", func)
    delta = check_positive_float("deriv: delta", delta)
    x = _tensor("deriv: input_", input_)
    with torch.no_grad():
        return _numpy((func(x + delta) - func(x - delta)) / (2 * delta))


def derivative(func: ArrayFunction) -> ArrayFunction:
    """The derivative f' of an elementwise function f written with torch operations, by autograd
    (``torch.func.grad`` of f at one element, ``torch.func.vmap``-ed over all of them)."""
    check_callable("derivative: func", func)

    @_numpy_boundary
    def f_prime(x: np.ndarray) -> np.ndarray:
        return _autograd_derivative("derivative: func", func, x)

    return f_prime


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
    """d/dx f2(f1(x)) by autograd: the forward pass records f1(x) on the tape, the backward pass
    multiplies f2'(f1(x)) by f1'(x) -- the chain rule, done by torch."""
    funcs = _check_chain("chain_deriv_2: chain", chain, 2)
    x = _tensor("chain_deriv_2: input_range", input_range)
    return _numpy(_autograd_derivative("chain_deriv_2: chain", _compose(funcs), x))


def chain_deriv_3(chain: Sequence[ArrayFunction], input_range: np.ndarray) -> np.ndarray:
    """d/dx f3(f2(f1(x))) by autograd."""
    funcs = _check_chain("chain_deriv_3: chain", chain, 3)
    x = _tensor("chain_deriv_3: input_range", input_range)
    return _numpy(_autograd_derivative("chain_deriv_3: chain", _compose(funcs), x))


def chain_deriv(chain: Sequence[ArrayFunction], input_range: np.ndarray) -> np.ndarray:
    """d/dx f_n(...f_1(x)) for any number of nested functions, by autograd."""
    funcs = _check_chain("chain_deriv: chain", chain)
    x = _tensor("chain_deriv: input_range", input_range)
    return _numpy(_autograd_derivative("chain_deriv: chain", _compose(funcs), x))


# --- functions of several inputs ------------------------------------------------------------------

def _same_shape(name: str, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _tensor(f"{name}: x", x), _tensor(f"{name}: y", y)
    if x.shape != y.shape:
        raise ValueError(f"{name}: x and y must have the same shape, "
                         f"got x {tuple(x.shape)} and y {tuple(y.shape)}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    return x.to(dtype), y.to(dtype)


def _partials(name: str, f: Callable[..., Any], x: torch.Tensor,
              y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(df/dx, df/dy) of an elementwise f(x, y), element by element: ``grad`` in both, vmapped."""
    if x.numel() == 0:
        return _numpy(torch.zeros_like(x)), _numpy(torch.zeros_like(y))
    dfdx, dfdy = vmap(grad(lambda a, b: _call(name, f, a, b), argnums=(0, 1)))(
        x.reshape(-1), y.reshape(-1))
    return _numpy(dfdx.reshape(x.shape)), _numpy(dfdy.reshape(y.shape))


def multiple_inputs_add(x: np.ndarray, y: np.ndarray, sigma: ArrayFunction) -> np.ndarray:
    """s = sigma(x + y), elementwise."""
    check_callable("multiple_inputs_add: sigma", sigma)
    x, y = _same_shape("multiple_inputs_add", x, y)
    return _numpy(_call("multiple_inputs_add: sigma", sigma, x + y))


def multiple_inputs_add_backward(x: np.ndarray, y: np.ndarray,
                                 sigma: ArrayFunction) -> tuple[np.ndarray, np.ndarray]:
    """(ds/dx, ds/dy) for s = sigma(x + y), by autograd."""
    check_callable("multiple_inputs_add_backward: sigma", sigma)
    x, y = _same_shape("multiple_inputs_add_backward", x, y)
    return _partials("multiple_inputs_add_backward: sigma", lambda a, b: sigma(a + b), x, y)


def multiple_inputs_multiply(x: np.ndarray, y: np.ndarray, sigma: ArrayFunction) -> np.ndarray:
    """s = sigma(x * y), elementwise."""
    check_callable("multiple_inputs_multiply: sigma", sigma)
    x, y = _same_shape("multiple_inputs_multiply", x, y)
    return _numpy(_call("multiple_inputs_multiply: sigma", sigma, x * y))


def multiple_inputs_multiply_backward(x: np.ndarray, y: np.ndarray,
                                      sigma: ArrayFunction) -> tuple[np.ndarray, np.ndarray]:
    """(ds/dx, ds/dy) for s = sigma(x * y), by autograd."""
    check_callable("multiple_inputs_multiply_backward: sigma", sigma)
    x, y = _same_shape("multiple_inputs_multiply_backward", x, y)
    return _partials("multiple_inputs_multiply_backward: sigma", lambda a, b: sigma(a * b), x, y)


# --- the matrix chain rule ------------------------------------------------------------------------

def _matrices(name: str, X: np.ndarray, W: np.ndarray,
              requires_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """X (n, d_in) and W (d_in, d_out) as fresh leaf tensors of a common dtype (that autograd will
    differentiate when ``requires_grad``)."""
    X, W = _tensor(f"{name}: X", X, ndim=2), _tensor(f"{name}: W", W, ndim=2)
    check_matmul_shapes("X", X, "W", W)
    dtype = torch.promote_types(X.dtype, W.dtype)
    # detach: never mark a caller's tensor as requiring grad
    return (X.detach().to(dtype).requires_grad_(requires_grad),
            W.detach().to(dtype).requires_grad_(requires_grad))


def _output_grad(name: str, output_grad: np.ndarray | None, N: torch.Tensor) -> torch.Tensor:
    """Upstream gradient, (n, d_out); None means ones (L = sum of the outputs, the book's case)."""
    if output_grad is None:
        return torch.ones_like(N)
    G = _tensor(f"{name}: output_grad", output_grad)
    if G.shape != N.shape:
        raise ValueError(f"{name}: output_grad must have the shape of X @ W, {tuple(N.shape)}, "
                         f"got {tuple(G.shape)}")
    return G.to(N.dtype)


def matmul_forward(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """N = X @ W: (n, d_in) @ (d_in, d_out) -> (n, d_out)."""
    X, W = _matrices("matmul_forward", X, W)
    return _numpy(X @ W)


def _matmul_grads(name: str, X: np.ndarray, W: np.ndarray,
                  output_grad: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    X, W = _matrices(name, X, W, requires_grad=True)
    N = X @ W
    return torch.autograd.grad(N, (X, W), grad_outputs=_output_grad(name, output_grad, N))


def matmul_backward_first(X: np.ndarray, W: np.ndarray,
                          output_grad: np.ndarray | None = None) -> np.ndarray:
    """dL/dX for N = X @ W, by ``torch.autograd.grad`` with upstream gradient dL/dN
    (ones if None)."""
    return _numpy(_matmul_grads("matmul_backward_first", X, W, output_grad)[0])


def matmul_backward(X: np.ndarray, W: np.ndarray,
                    output_grad: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dX, dL/dW) for N = X @ W, by ``torch.autograd.grad`` with upstream gradient dL/dN
    (ones if None)."""
    dX, dW = _matmul_grads("matmul_backward", X, W, output_grad)
    return _numpy(dX), _numpy(dW)


def matrix_forward_extra(X: np.ndarray, W: np.ndarray, sigma: ArrayFunction) -> np.ndarray:
    """S = sigma(X @ W), (n, d_out)."""
    check_callable("matrix_forward_extra: sigma", sigma)
    X, W = _matrices("matrix_forward_extra", X, W)
    return _numpy(_call("matrix_forward_extra: sigma", sigma, X @ W))


def matrix_function_backward_1(X: np.ndarray, W: np.ndarray, sigma: ArrayFunction,
                               output_grad: np.ndarray | None = None) -> np.ndarray:
    """dL/dX for S = sigma(X @ W), by ``torch.autograd.grad`` with upstream gradient dL/dS
    (ones if None)."""
    check_callable("matrix_function_backward_1: sigma", sigma)
    X, W = _matrices("matrix_function_backward_1", X, W, requires_grad=True)
    S = _call("matrix_function_backward_1: sigma", sigma, X @ W)
    G = _output_grad("matrix_function_backward_1", output_grad, S)
    return _numpy(torch.autograd.grad(S, X, grad_outputs=G)[0])


def matrix_function_forward_sum(X: np.ndarray, W: np.ndarray, sigma: ArrayFunction) -> float:
    """L = sum(sigma(X @ W)), a number."""
    check_callable("matrix_function_forward_sum: sigma", sigma)
    X, W = _matrices("matrix_function_forward_sum", X, W)
    return float(_call("matrix_function_forward_sum: sigma", sigma, X @ W).sum())


def matrix_function_backward_sum_1(X: np.ndarray, W: np.ndarray,
                                   sigma: ArrayFunction) -> np.ndarray:
    """dL/dX for L = sum(sigma(X @ W)), by ``torch.func.grad``."""
    check_callable("matrix_function_backward_sum_1: sigma", sigma)
    return matrix_function_backward_sum(X, W, sigma)[0]


def matrix_function_backward_sum(X: np.ndarray, W: np.ndarray,
                                 sigma: ArrayFunction) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dX, dL/dW) for L = sum(sigma(X @ W)): ``torch.func.grad`` of L in both arguments --
    L is a scalar, so no upstream gradient is needed."""
    check_callable("matrix_function_backward_sum: sigma", sigma)
    X, W = _matrices("matrix_function_backward_sum", X, W)

    def L(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        return _call("matrix_function_backward_sum: sigma", sigma, X @ W).sum()

    dLdX, dLdW = grad(L, argnums=(0, 1))(X, W)
    return _numpy(dLdX), _numpy(dLdW)
