"""Reverse-mode autodiff on NumPy arrays: chapter 6's idea grown up, micrograd style.

A ``Tensor`` holds ``data`` (an ndarray of any shape, float32 or float64). Every operation returns a
new Tensor that records its *parents* and a ``_backward`` closure written next to the forward: given
the upstream gradient ``g = dL/d(out)`` (out's shape) it returns one gradient per parent. Where an
op broadcast a parent, its gradient comes back in the broadcast shape and the engine sums it down
again (``_unbroadcast``, the adjoint of ``np.broadcast_to``), so ops never think about broadcasting.

``backward`` sorts the recorded graph topologically with an explicit stack (no recursion: a 5,000-op
chain must not hit the recursion limit), then walks it once from the output to the leaves, *adding*
the gradients that reach a node along different paths (a value used twice gets both). Only leaves
(made by ``tensor(..., requires_grad=True)``) keep ``.grad``; it accumulates across calls, as in
PyTorch. ``torch_impl/autograd.py`` is the same API on ``torch.autograd``; see docs/autograd.md.

    from scratch import autograd as ag
    W = ag.tensor(np.random.randn(3, 2))
    x = ag.tensor(np.random.randn(5, 3), requires_grad=False)
    loss = ((x @ W).tanh() ** 2).mean()
    ag.backward(loss)                      # or loss.backward()
    ag.grad_of(W)                          # dL/dW, shape (3, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlfs.errors import check_array, check_dtype_name, describe

__all__ = ["tensor", "concatenate", "matmul", "transpose", "backward", "grad_of", "to_numpy"]

Grads = tuple[Any, ...]  # one ndarray (or None) per parent


class Tensor:
    """An array that remembers how it was computed.

    Parameters
    ----------
    data : ndarray of any shape (kept as is; use ``tensor(...)`` to copy and pick the dtype)
    requires_grad : bool
        True for a leaf whose gradient ``backward`` computes into ``.grad`` (``data``'s shape)."""

    __array_ufunc__ = None  # so ``ndarray * Tensor`` defers to Tensor.__rmul__ (no object array)

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        self.data = np.asarray(data)
        self.requires_grad = bool(requires_grad)
        self.grad: np.ndarray | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable[[np.ndarray], Grads] | None = None

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)
    T = property(lambda self: transpose(self), doc="All axes reversed, as ndarray.T.")

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Tensor({self.data!r}, requires_grad={self.requires_grad})"

    def item(self) -> float:
        return self.data.item()

    def detach(self) -> Tensor:
        """The same values, cut off from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError("Tensor: in-place assignment is not supported (it would silently "
                        "invalidate the recorded graph); build a new tensor with arithmetic, "
                        "indexing or concatenate")

    # --- elementwise arithmetic: forward and backward side by side --------------------------------
    def __add__(self, other: Any) -> Tensor:
        other = _lift(other, self)
        return _op(self.data + other.data, (self, other), lambda g: (g, g))
    __radd__ = __add__

    def __neg__(self) -> Tensor:
        return _op(-self.data, (self,), lambda g: (-g,))

    def __sub__(self, other: Any) -> Tensor:
        other = _lift(other, self)
        return _op(self.data - other.data, (self, other), lambda g: (g, -g))

    def __rsub__(self, other: Any) -> Tensor:
        return _lift(other, self) - self

    def __mul__(self, other: Any) -> Tensor:
        other = _lift(other, self)
        a, b = self.data, other.data
        return _op(a * b, (self, other), lambda g: (g * b, g * a))
    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        other = _lift(other, self)
        a, b = self.data, other.data
        return _op(a / b, (self, other), lambda g: (g / b, -g * a / (b * b)))

    def __rtruediv__(self, other: Any) -> Tensor:
        return _lift(other, self) / self

    def __pow__(self, exponent: float) -> Tensor:
        """x ** p for a number p;  d/dx = p x^(p-1), 0 for p = 0 (x^-1 would make 0 * inf = nan)."""
        if isinstance(exponent, bool) or not isinstance(exponent, int | float | np.number):
            raise TypeError("pow: expected a number as the exponent (scalar exponents only), "
                            f"got {describe(exponent)}")
        a, p = self.data, exponent
        return _op(a**p, (self,), lambda g: (np.zeros_like(g) if p == 0 else g * p * a ** (p - 1),))

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(_lift(other, self), self)

    # --- elementwise functions --------------------------------------------------------------------
    def exp(self) -> Tensor:
        out = np.exp(self.data)
        return _op(out, (self,), lambda g: (g * out,))

    def log(self) -> Tensor:
        a = self.data
        return _op(np.log(a), (self,), lambda g: (g / a,))

    def tanh(self) -> Tensor:
        out = np.tanh(self.data)
        return _op(out, (self,), lambda g: (g * (1 - out * out),))

    def sigmoid(self) -> Tensor:
        with np.errstate(over="ignore"):  # e^-x overflows to inf for x << 0, giving the limit 0
            out = 1 / (1 + np.exp(-self.data))
        return _op(out, (self,), lambda g: (g * out * (1 - out),))

    def relu(self) -> Tensor:
        a = self.data
        return _op(np.maximum(a, 0), (self,), lambda g: (g * (a > 0),))  # 0 at the kink, as torch

    # --- reductions and shape ---------------------------------------------------------------------
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all when None); the gradient copies g back along the summed axes."""
        axes, shape = _axes("sum", axis, self.shape), self.shape

        def backward(g: np.ndarray) -> Grads:
            return (np.broadcast_to(g if keepdims else np.expand_dims(g, axes), shape),)

        return _op(self.data.sum(axis=axes, keepdims=keepdims), (self,), backward)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``: a sum whose gradient is shared equally by the n averaged entries."""
        axes, shape = _axes("mean", axis, self.shape), self.shape
        n = int(np.prod([shape[i] for i in axes]))

        def backward(g: np.ndarray) -> Grads:
            return (np.broadcast_to((g if keepdims else np.expand_dims(g, axes)) / n, shape),)

        return _op(self.data.mean(axis=axes, keepdims=keepdims), (self,), backward)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """``x.reshape(2, 6)`` or ``x.reshape((2, 6))``; the gradient is reshaped back."""
        new = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], Sequence) else shape
        old = self.shape
        return _op(self.data.reshape(new), (self,), lambda g: (g.reshape(old),))

    def __getitem__(self, index: Any) -> Tensor:
        """Basic (slices, ints, None, ...), integer-array and boolean-mask indexing, as NumPy."""
        index = tuple(_unwrap(i) for i in index) if isinstance(index, tuple) else _unwrap(index)
        shape = self.shape

        def backward(g: np.ndarray) -> Grads:
            full = np.zeros(shape, dtype=g.dtype)
            np.add.at(full, index, g)  # repeated indices add up (``full[index] += g`` keeps one)
            return (full,)

        return _op(self.data[index], (self,), backward)

    # --- the engine -------------------------------------------------------------------------------
    def backward(self, grad: Any = None) -> None:
        """Accumulate dL/d(leaf) into ``.grad`` of every leaf that requires a gradient.

        Parameters
        ----------
        grad : array of this tensor's shape, or None
            The upstream gradient dL/d(self). None means 1, only for a single-element tensor."""
        if not self.requires_grad:
            raise ValueError("backward: the output does not require a gradient: no tensor created "
                             "with requires_grad=True was used to compute it")
        order = _topological_order(self)
        grads: dict[int, Any] = {id(self): _upstream(grad, self.shape, self.dtype)}
        for node in reversed(order):  # children first: a node's gradient is complete when reached
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:  # a leaf: accumulate across calls, as torch's .grad does
                node.grad = np.array(g, dtype=node.dtype) if node.grad is None else node.grad + g
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if parent.requires_grad:
                    pg = _unbroadcast(pg, parent.shape).astype(parent.dtype, copy=False)
                    key = id(parent)
                    grads[key] = grads[key] + pg if key in grads else pg  # used twice: add both


# --- graph helpers --------------------------------------------------------------------------------
def _op(data: Any, parents: tuple[Tensor, ...], backward: Callable[[np.ndarray], Grads]) -> Tensor:
    """The output of an op; it joins the graph only if some parent needs a gradient."""
    out = Tensor(data)
    if any(p.requires_grad for p in parents):
        out.requires_grad, out._parents, out._backward = True, parents, backward
    return out


def _lift(x: Any, like: Tensor) -> Tensor:
    """A constant operand as a Tensor. A Python or NumPy number takes ``like``'s dtype, as in torch
    (``float32_tensor * 2.0`` stays float32); an array keeps its own dtype (NumPy promotion)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, int | float | np.number):
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(check_array("operand", x, finite=False))


def _unwrap(index: Any) -> Any:
    return index.data if isinstance(index, Tensor) else index


def _axes(op: str, axis: int | Sequence[int] | None, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``axis`` as a tuple of non-negative axes of ``shape`` (all of them for None)."""
    if axis is None:
        return tuple(range(len(shape)))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    for a in axes:
        if not -len(shape) <= a < len(shape):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of shape {shape} "
                             f"({len(shape)} axes)")
    norm = tuple(int(a) % len(shape) for a in axes)
    if len(set(norm)) != len(norm):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return norm


def _unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` (a broadcast result's shape) back to ``shape``: the adjoint of ``np.broadcast_to``.

    Broadcasting prepends axes and stretches size-1 axes; the gradient sums over exactly those."""
    if g.shape == shape:
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))  # the prepended axes
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=stretched, keepdims=True) if stretched else g


def _upstream(grad: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Upstream dL/d(output): ``grad`` checked against the output's shape, or 1 for a scalar."""
    if grad is None:
        if int(np.prod(shape)) != 1:
            raise ValueError(f"backward: the output has shape {shape}, so grad= is required "
                             "(an array of that shape, dL/d output); only a single-element "
                             "output defaults to a gradient of 1")
        return np.ones(shape, dtype=dtype)
    g = check_array("backward: grad", _unwrap(grad), finite=False)
    if g.shape != shape:
        raise ValueError(f"backward: grad has shape {g.shape} but the output has shape {shape}; "
                         "the upstream gradient dL/d output must have the output's shape")
    return g.astype(dtype)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every node that needs a gradient, parents before children, found with an explicit stack.

    A node is appended only after all its parents (post-order DFS): the (node, True) marker is
    popped after everything pushed above it, i.e. after its whole ancestry has been emitted."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if p.requires_grad and id(p) not in seen)
    return order


# --- the public API (the same names and signatures as torch_impl.autograd) ------------------------
def tensor(data: Any, requires_grad: bool = True, dtype: str | None = None) -> Tensor:
    """A leaf tensor holding a copy of ``data``.

    Parameters
    ----------
    data : array-like of any shape
    requires_grad : bool
        Whether ``backward`` computes dL/d(this tensor) into ``.grad``. False makes a constant.
    dtype : ``"float32"``, ``"float64"`` or None
        None keeps a float32/float64 array's dtype and makes anything else float64 (so an integer
        constant never changes the dtype of a computation, in either backend)."""
    raw = np.asarray(_unwrap(data))
    if dtype is None:
        dtype = raw.dtype.name if raw.dtype.name in ("float32", "float64") else "float64"
    check_dtype_name("tensor: dtype", dtype)
    return Tensor(check_array("tensor: data", raw, finite=False).astype(dtype), requires_grad)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with NumPy's rules: (..., n, k) @ (..., k, m) -> (..., n, m); a 1-D operand is a
    row (left) or column (right) vector whose axis is dropped from the result. Batch axes broadcast.

    Gradients: dA = G @ B^T, dB = A^T @ G, summed over any axes the operand was broadcast along."""
    a, b = (x if isinstance(x, Tensor) else Tensor(check_array("matmul operand", x, finite=False))
            for x in (a, b))
    _check_matmul(a.shape, b.shape)
    A, Bm = a.data, b.data
    A2 = A[None, :] if A.ndim == 1 else A  # vectors as (1, k) and (k, 1) matrices
    B2 = Bm[:, None] if Bm.ndim == 1 else Bm
    shape2 = np.broadcast_shapes(A2.shape[:-2], B2.shape[:-2]) + (A2.shape[-2], B2.shape[-1])

    def backward(g: np.ndarray) -> Grads:
        g2 = np.reshape(g, shape2)  # put back the axes a vector operand dropped
        dA = _unbroadcast(g2 @ np.swapaxes(B2, -1, -2), A2.shape).reshape(A.shape)
        dB = _unbroadcast(np.swapaxes(A2, -1, -2) @ g2, B2.shape).reshape(Bm.shape)
        return dA, dB

    return _op(A @ Bm, (a, b), backward)


def _check_matmul(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    if not sa or not sb:
        raise ValueError("matmul: both operands need at least 1 dimension, "
                         f"got shapes {sa} and {sb}")
    k_a, k_b = sa[-1], (sb[-2] if len(sb) >= 2 else sb[0])
    if k_a != k_b:
        where_b = "its rows (axis -2) are" if len(sb) >= 2 else "its length is"
        raise ValueError(f"matmul: inner dimensions differ: a has shape {sa}, its columns "
                         f"(last axis) are {k_a}, but b has shape {sb}, {where_b} {k_b}")
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions {sa[:-2]} of a (shape {sa}) and {sb[:-2]} of b "
                         f"(shape {sb}) do not broadcast") from None


def transpose(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes of ``x`` (reverse them when None, as ``x.T``); dL/dx is permuted back."""
    perm = _axes("transpose", tuple(reversed(range(x.ndim))) if axes is None else axes, x.shape)
    if len(perm) != x.ndim:
        raise ValueError(f"transpose: axes must list each of the {x.ndim} axes of shape {x.shape} "
                         f"once, got {axes}")
    inverse = tuple(int(i) for i in np.argsort(perm))
    return _op(np.transpose(x.data, perm), (x,), lambda g: (np.transpose(g, inverse),))


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along ``axis`` (other axes equal); the gradient is split at the same places."""
    ts = [t if isinstance(t, Tensor)
          else Tensor(check_array(f"concatenate: tensors[{i}]", t, finite=False))
          for i, t in enumerate(tensors)]
    if not ts:
        raise ValueError("concatenate: expected at least one tensor, got an empty sequence")
    if any(t.ndim == 0 for t in ts):
        raise ValueError("concatenate: expected tensors with at least 1 axis, "
                         f"got shapes {[t.shape for t in ts]}")
    ax = _axes("concatenate", axis, ts[0].shape)[0]
    for i, t in enumerate(ts):
        if t.ndim != ts[0].ndim or any(n != m for j, (n, m) in enumerate(zip(t.shape, ts[0].shape))
                                       if j != ax):
            raise ValueError(f"concatenate: tensors[{i}] has shape {t.shape} but tensors[0] has "
                             f"{ts[0].shape}; all axes except axis={axis} must match")
    cuts = np.cumsum([t.shape[ax] for t in ts])[:-1]
    return _op(np.concatenate([t.data for t in ts], axis=ax), tuple(ts),
               lambda g: tuple(np.split(g, cuts, axis=ax)))


def backward(output: Tensor, grad: Any = None) -> None:
    """Backpropagate from ``output``; ``grad`` is dL/d(output) (None = 1 for a scalar output)."""
    if not isinstance(output, Tensor):
        raise TypeError(f"backward: expected a Tensor as the output, got {describe(output)}")
    output.backward(grad)


def grad_of(t: Tensor) -> np.ndarray:
    """A copy of dL/dt (t's shape), accumulated by ``backward``; zeros if none has reached ``t``."""
    if not isinstance(t, Tensor):
        raise TypeError(f"grad_of: expected a Tensor, got {describe(t)}")
    return np.zeros(t.shape, dtype=t.dtype) if t.grad is None else t.grad.copy()


def to_numpy(t: Tensor) -> np.ndarray:
    """A copy of ``t``'s values as an ndarray."""
    if not isinstance(t, Tensor):
        raise TypeError(f"to_numpy: expected a Tensor, got {describe(t)}")
    return t.data.copy()
