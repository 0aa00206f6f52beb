"""The same API as ``scratch/autograd.py``, on real ``torch.Tensor``s and ``torch.autograd``.

``tensor`` returns a plain ``torch.Tensor``, so the operators and methods used by an expression
(``+ - * / ** @``, ``.exp() .log() .tanh() .sigmoid() .relu()``, ``.sum(axis=..., keepdims=...)``,
``.mean(...)``, ``.reshape``, ``.T``, indexing) are PyTorch's own; torch accepts NumPy's
``axis``/``keepdims`` spellings. The module functions only bridge NumPy arrays in and out and give
the same errors as the scratch side where torch's own would differ in type. See docs/autograd.md
for where the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dlfs.errors import check_array, check_dtype_name, describe

__all__ = ["tensor", "concatenate", "matmul", "transpose", "backward", "grad_of", "to_numpy"]


def tensor(data: Any, requires_grad: bool = True, dtype: str | None = None) -> torch.Tensor:
    """A leaf ``torch.Tensor`` holding a copy of ``data``.

    Parameters
    ----------
    data : array-like of any shape
    requires_grad : bool
        Whether ``backward`` computes dL/d(this tensor) into ``.grad``. False makes a constant.
    dtype : ``"float32"``, ``"float64"`` or None
        None keeps a float32/float64 array's dtype and makes anything else float64 (NumPy's
        inference, not torch's float32 default, so both backends see the same dtype).
    """
    raw = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if dtype is None:
        dtype = raw.dtype.name if raw.dtype.name in ("float32", "float64") else "float64"
    check_dtype_name("tensor: dtype", dtype)
    arr = check_array("tensor: data", raw, finite=False).astype(dtype)  # astype copies
    return torch.from_numpy(arr).requires_grad_(requires_grad)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.matmul``: (..., n, k) @ (..., k, m) -> (..., n, m), NumPy's 1-D operand rules."""
    return torch.matmul(a, b)


def transpose(x: torch.Tensor, axes: Sequence[int] | None = None) -> torch.Tensor:
    """Permute the axes of ``x`` (reverse them when None, as ``x.T``): ``Tensor.permute``."""
    return x.permute(tuple(reversed(range(x.ndim))) if axes is None else tuple(axes))


def concatenate(tensors: Sequence[torch.Tensor], axis: int = 0) -> torch.Tensor:
    """``torch.cat`` along ``axis``."""
    ts = [t if isinstance(t, torch.Tensor)
          else torch.from_numpy(check_array(f"concatenate: tensors[{i}]", t, finite=False))
          for i, t in enumerate(tensors)]
    return torch.cat(ts, dim=axis)


def backward(output: torch.Tensor, grad: Any = None) -> None:
    """``output.backward(grad)``, ``grad`` (output's shape; None = 1 for a scalar) as a NumPy array.

    The checks repeat the scratch side's so both raise the same ``ValueError`` (torch's own is a
    RuntimeError).
    """
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"backward: expected a Tensor as the output, got {describe(output)}")
    if not output.requires_grad:
        raise ValueError("backward: the output does not require a gradient: no tensor created "
                         "with requires_grad=True was used to compute it")
    shape = tuple(output.shape)
    if grad is None:
        if output.numel() != 1:
            raise ValueError(f"backward: the output has shape {shape}, so grad= is required "
                             "(an array of that shape, dL/d output); only a single-element "
                             "output defaults to a gradient of 1")
        output.backward()
        return
    g = check_array("backward: grad", grad, finite=False)
    if g.shape != shape:
        raise ValueError(f"backward: grad has shape {g.shape} but the output has shape {shape}; "
                         "the upstream gradient dL/d output must have the output's shape")
    output.backward(torch.as_tensor(g, dtype=output.dtype))


def grad_of(t: torch.Tensor) -> np.ndarray:
    """A copy of ``t.grad`` (t's shape) as an ndarray; zeros when no gradient has reached ``t``."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"grad_of: expected a Tensor, got {describe(t)}")
    grad = t.grad if t.is_leaf or t.retains_grad else None  # torch warns on .grad of a non-leaf
    if grad is None:
        return np.zeros(tuple(t.shape), dtype=to_numpy(t).dtype)
    return grad.detach().cpu().numpy().copy()


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A copy of ``t``'s values as an ndarray."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"to_numpy: expected a Tensor, got {describe(t)}")
    return t.detach().cpu().numpy().copy()
