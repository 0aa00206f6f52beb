"""Pooling (chapter 5), fast form: every window at once through a strided view.

The book form (``scratch/pooling.py``) loops over the output positions; here the windows are an
``as_strided`` view of shape (N, C, Ho, Wo, kh, kw) of the input, so the forward is one
reduction, and the backward loops only over the kh*kw offsets inside a window, each step adding
the gradient of every window at once (windows may overlap when stride < kernel, hence the adds).
The layers are the book form's (arguments, checks, names) with the operation replaced.

Shapes: input (N, C, H, W) -> output (N, C, Ho, Wo) with ``Ho = (H - kh) // sh + 1`` (no
padding; a last incomplete window is dropped, as ``nn.MaxPool2d``/``nn.AvgPool2d`` do).

Ties in max pooling: the gradient goes to the *first* maximum of the window in row-major order,
which is what ``np.argmax`` returns and what PyTorch's CPU kernel picks (it replaces the running
maximum only on a strictly greater value); a parity test with tied windows checks this.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

from scratch import pooling as book
from scratch.base import Operation

__all__ = ["MaxPool2D", "AvgPool2D"]


def window_view(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                writeable: bool = False) -> np.ndarray:
    """The windows of x (N, C, H, W) as a view (N, C, Ho, Wo, kh, kw):
    ``view[n, c, h, w, i, j] = x[n, c, sh*h + i, sw*w + j]``. ``x`` must be C-contiguous (its
    strides are used as they are)."""
    (kh, kw), (sh, sw) = kernel, stride
    Ho, Wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    s = x.strides
    return as_strided(x, shape=(*x.shape[:2], Ho, Wo, kh, kw),
                      strides=(s[0], s[1], sh * s[2], sw * s[3], s[2], s[3]), writeable=writeable)


class PoolOperation(Operation):
    """Shared by both poolings: the window view and the scatter of window gradients back to
    pixels."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        self.kernel, self.stride = kernel, stride

    def _windows(self) -> np.ndarray:
        return window_view(np.ascontiguousarray(self.input_), self.kernel, self.stride)

    def _scatter(self, weight: Callable[[int, int], np.ndarray]) -> np.ndarray:
        """dx: for each offset (i, j) of the window, add ``weight(i, j)`` (N, C, Ho, Wo) to the
        pixels there."""
        dx = np.zeros(self.input_.shape, dtype=self.input_.dtype)
        target = window_view(dx, self.kernel, self.stride, writeable=True)
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                target[..., i, j] += weight(i, j)
        return dx


class MaxPoolOperation(PoolOperation):
    """max over each window;  dL/dx = g at the (first) argmax of each window, 0 elsewhere."""

    def _output(self) -> np.ndarray:
        w = self._windows()
        flat = w.reshape(*w.shape[:4], -1)  # (N, C, Ho, Wo, kh*kw), a copy
        self.argmax = flat.argmax(axis=-1)  # the first maximum, as PyTorch
        return np.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        kw = self.kernel[1]
        return self._scatter(lambda i, j: np.where(self.argmax == i * kw + j, output_grad, 0))


class AvgPoolOperation(PoolOperation):
    """mean over each window;  dL/dx = g / (kh*kw) spread over every pixel of the window."""

    def _output(self) -> np.ndarray:
        return self._windows().mean(axis=(-2, -1), dtype=self.input_.dtype)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        share = output_grad / (self.kernel[0] * self.kernel[1])
        return self._scatter(lambda i, j: share)


class MaxPool2D(book.MaxPool2D):
    """Max pooling over ``kernel`` windows (int or (kh, kw)) moved by ``stride`` (default: the
    kernel), the book form's layer with every window reduced at once.

    Input (N, C, H, W) -> output (N, C, Ho, Wo). No parameters.
    """

    def _make_pool(self) -> Operation:
        return MaxPoolOperation(self.kernel, self.stride)


class AvgPool2D(book.AvgPool2D):
    """Average pooling over ``kernel`` windows (int or (kh, kw)) moved by ``stride`` (default:
    the kernel), the book form's layer with every window reduced at once.

    Input (N, C, H, W) -> output (N, C, Ho, Wo). No parameters.
    """

    def _make_pool(self) -> Operation:
        return AvgPoolOperation(self.kernel, self.stride)
