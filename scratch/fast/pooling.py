"""Pooling (chapter 5), fast form: every window at once through a strided view.

The book form (``scratch/pooling.py``) loops over the output positions; here the input is
copied once into a padded buffer (-inf for max pooling, zeros for average pooling; skipped when
there is no padding to add) and its windows are an ``as_strided`` view of shape
(N, C, Ho, Wo, kh, kw), ``view[n, c, h, w, i, j] = x_pad[n, c, s*h + d*i, s*w + d*j]`` (the
dilation is only a longer stride of the view). The forward is one reduction; the backward loops
only over the kh*kw offsets inside a window, each step adding the gradient of every window at
once (windows may overlap when stride < kernel, hence the adds). The layers are the book form's
(arguments, checks, names) with the operation replaced.

Shapes: input (N, C, H, W) -> output (N, C, Ho, Wo) (an unbatched (C, H, W) is handled by the
book's layer), with PyTorch's output size and rules (``ceil_mode``, ``count_include_pad``,
``divisor_override``) as the book form's docstring states them. A ``ceil_mode`` window may run
past the padded input: the buffer is long enough for the last window, and what lies past the
padding is -inf (max) or 0 (average) and outside every divisor.

Ties in max pooling: the gradient goes to the *first* maximum of the window in row-major order,
which is what ``np.argmax`` returns and what PyTorch's CPU kernel picks (it replaces the running
maximum only on a strictly greater value); a parity test with tied windows checks this.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

from dlfs.windows import pool_output_size
from scratch import pooling as book
from scratch.base import Operation

__all__ = ["MaxPool2D", "AvgPool2D"]

Pair = tuple[int, int]


def window_view(buf: np.ndarray, out_hw: Pair, kernel: Pair, stride: Pair,
                dilation: Pair = (1, 1), writeable: bool = False) -> np.ndarray:
    """The windows of the padded ``buf`` (N, C, Hb, Wb) as a view (N, C, Ho, Wo, kh, kw):
    ``view[n, c, h, w, i, j] = buf[n, c, sh*h + dh*i, sw*w + dw*j]``. ``buf`` must be
    C-contiguous (its strides are used as they are) and long enough for the last window."""
    (kh, kw), (sh, sw), (dh, dw), s = kernel, stride, dilation, buf.strides
    return as_strided(buf, shape=(*buf.shape[:2], *out_hw, kh, kw),
                      strides=(s[0], s[1], sh * s[2], sw * s[3], dh * s[2], dw * s[3]),
                      writeable=writeable)


class PoolOperation(Operation):
    """Shared by both poolings: the padded buffer, the window view and the scatter of window
    gradients back to pixels."""

    fill = 0.0  # what the padding holds

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1),
                 ceil_mode: bool = False) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def _plan(self) -> None:
        """Output size and the padded buffer's size (p before; after, p or as much as the last
        window needs)."""
        (H, W), (k, s, p, d) = self.input_.shape[2:], (self.kernel, self.stride, self.padding,
                                                        self.dilation)
        self.out_hw = (pool_output_size(H, k[0], s[0], p[0], d[0], self.ceil_mode),
                       pool_output_size(W, k[1], s[1], p[1], d[1], self.ceil_mode))
        self.buf_hw = tuple(max(n + 2 * p[a], s[a] * (self.out_hw[a] - 1) + d[a] * (k[a] - 1) + 1)
                            for a, n in enumerate((H, W)))

    def _windows(self) -> np.ndarray:
        """The windows (N, C, Ho, Wo, kh, kw) of the input padded with ``fill``."""
        self._plan()
        x, (ph, pw) = self.input_, self.padding
        if (ph, pw) == (0, 0) and self.buf_hw == x.shape[2:]:
            buf = np.ascontiguousarray(x)
        else:
            buf = np.full((*x.shape[:2], *self.buf_hw), self.fill, dtype=x.dtype)
            buf[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]] = x
        return window_view(buf, self.out_hw, self.kernel, self.stride, self.dilation)

    def _scatter(self, weight: Callable[[int, int], np.ndarray]) -> np.ndarray:
        """dx: for each offset (i, j) of the window, add ``weight(i, j)`` (N, C, Ho, Wo) to the
        pixels there; the padding's share is cut off."""
        x, (ph, pw) = self.input_, self.padding
        dx_buf = np.zeros((*x.shape[:2], *self.buf_hw), dtype=x.dtype)
        target = window_view(dx_buf, self.out_hw, self.kernel, self.stride, self.dilation,
                             writeable=True)
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                target[..., i, j] += weight(i, j)
        return dx_buf[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


class MaxPoolOperation(PoolOperation):
    """max over each window (padding -inf);  dL/dx = g at the (first) argmax of each window,
    0 elsewhere."""

    fill = -np.inf

    def _output(self) -> np.ndarray:
        w = self._windows()
        flat = w.reshape(*w.shape[:4], -1)  # (N, C, Ho, Wo, kh*kw), a copy
        self.argmax = flat.argmax(axis=-1)  # the first maximum, as PyTorch
        return np.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        kw = self.kernel[1]
        return self._scatter(lambda i, j: np.where(self.argmax == i * kw + j, output_grad, 0))


class AvgPoolOperation(PoolOperation):
    """sum over each window / its divisor;  dL/dx = g / divisor spread over every pixel of the
    window."""

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__(kernel, stride, padding, (1, 1), ceil_mode)
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def _divisors(self) -> np.ndarray:
        """(Ho, Wo): what each window's sum is divided by, PyTorch's rule (the book form's
        ``_divisor`` for every window at once)."""
        if self.divisor_override is not None:
            return np.full(self.out_hw, self.divisor_override, dtype=self.input_.dtype)
        sizes = []
        for a, n in enumerate(self.input_.shape[2:]):
            k, s, p = self.kernel[a], self.stride[a], self.padding[a]
            first = s * np.arange(self.out_hw[a]) - p  # the windows' first pixels
            last = np.minimum(first + k, n + p)  # cut at the padded edge (ceil_mode)
            if self.count_include_pad:
                sizes.append(last - first)
            else:
                sizes.append(np.minimum(last, n) - np.maximum(first, 0))
        return np.outer(*sizes).astype(self.input_.dtype)

    def _output(self) -> np.ndarray:
        sums = self._windows().sum(axis=(-2, -1), dtype=self.input_.dtype)  # (N, C, Ho, Wo)
        self.divisors = self._divisors()
        return sums / self.divisors

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        share = output_grad / self.divisors
        return self._scatter(lambda i, j: share)


class MaxPool2D(book.MaxPool2D):
    """Max pooling with ``nn.MaxPool2d``'s arguments (``kernel_size``, ``stride``, ``padding``,
    ``dilation``, ``ceil_mode``), the book form's layer with every window reduced at once.

    Input (N, C, H, W) -> output (N, C, Ho, Wo); an unbatched (C, H, W) -> (C, Ho, Wo). No
    parameters.
    """

    def _make_pool(self) -> Operation:
        return MaxPoolOperation(self.kernel_size, self.stride, self.padding, self.dilation,
                                self.ceil_mode)


class AvgPool2D(book.AvgPool2D):
    """Average pooling with ``nn.AvgPool2d``'s arguments (``kernel_size``, ``stride``,
    ``padding``, ``ceil_mode``, ``count_include_pad``, ``divisor_override``), the book form's
    layer with every window reduced at once.

    Input (N, C, H, W) -> output (N, C, Ho, Wo); an unbatched (C, H, W) -> (C, Ho, Wo). No
    parameters.
    """

    def _make_pool(self) -> Operation:
        return AvgPoolOperation(self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                self.count_include_pad, self.divisor_override)
