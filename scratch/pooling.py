"""Pooling (chapter 5's companions to convolution), book form: one loop over output positions.

Each channel of each image is summarised window by window, with ``nn.MaxPool2d``'s and
``nn.AvgPool2d``'s options: windows of (kh, kw) taps ``d`` pixels apart (``dilation``, max
pooling only), moved by ``s`` (``stride``, default: the kernel) over the input padded by ``p``
(``padding``) on each side -- with -inf for max pooling (padding never wins), with zeros for
average pooling. Output position (h, w) looks at

    window(h, w) = x_pad[:, :, s*h + d*i, s*w + d*j]   for 0 <= i < kh, 0 <= j < kw

    max pooling      out[n, c, h, w] = max of window(h, w)
    average pooling  out[n, c, h, w] = sum of window(h, w) / divisor(h, w)

and the backward sends each output's gradient to the pixels that made it:

    max pooling      all of g[n, c, h, w] to the window's maximum (the first one in row-major
                     order when several pixels tie)
    average pooling  g[n, c, h, w] / divisor(h, w) to every pixel of the window

The divisor is ``divisor_override`` when given; otherwise the number of the window's pixels
inside the padded input (``count_include_pad=True``, the default) or inside the input itself
(``count_include_pad=False``: the padding's zeros do not count).

Output size: ``Ho = floor((H + 2p - d*(kh - 1) - 1) / s) + 1`` -- a last incomplete window is
dropped. ``ceil_mode=True`` rounds up instead, keeping a last partial window as long as it
starts inside the input or the left padding; such a window stops at the edge of the padded
input (NumPy's slicing stops there too), and only its pixels up to that edge count in the
divisor. Windows overlap when the stride is smaller than the kernel: a pixel then collects the
gradients of every window it belongs to (``+=``). Shapes: input (N, C, H, W) -> output
(N, C, Ho, Wo); an unbatched (C, H, W) -> (C, Ho, Wo).

The tie rule is PyTorch's: its CPU kernel replaces the running maximum only on a strictly greater
value, so the first maximum wins, which is what ``np.argmax`` returns. The fast form
(``scratch/fast/pooling.py``) computes every window at once through a strided view.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_flag
from dlfs.windows import check_divisor_override, check_pool_input, pool_geometry, pool_output_size
from scratch.base import Operation
from scratch.conv import Unbatched
from scratch.reshape import ParameterFreeLayer

__all__ = ["MaxPool2D", "AvgPool2D"]

Pair = tuple[int, int]


class PoolOperation(Operation):
    """What both poolings share: the window geometry, the padding and the output size."""

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1),
                 ceil_mode: bool = False) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def _out_hw(self) -> tuple[int, int]:
        """(Ho, Wo) by the rule above (``dlfs.windows.pool_output_size``)."""
        (H, W), (k, s, p, d) = self.input_.shape[2:], (self.kernel, self.stride, self.padding,
                                                        self.dilation)
        return (pool_output_size(H, k[0], s[0], p[0], d[0], self.ceil_mode),
                pool_output_size(W, k[1], s[1], p[1], d[1], self.ceil_mode))

    def _pad(self, x: np.ndarray, value: float) -> np.ndarray:
        """x (N, C, H, W) with p rows (columns) of ``value`` on each side."""
        ph, pw = self.padding
        return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)

    def _unpad(self, dx_pad: np.ndarray) -> np.ndarray:
        """The gradient of the padded input, cut back to the input: padding passes nothing on."""
        (ph, pw), (H, W) = self.padding, self.input_.shape[2:]
        return dx_pad[:, :, ph : ph + H, pw : pw + W]

    def _window(self, h: int, w: int) -> tuple[slice, slice, slice, slice]:
        """The index of window (h, w) of the padded input in every image and channel:
        ``x_pad[self._window(h, w)]`` is (N, C, kh, kw), fewer rows or columns where a
        ``ceil_mode`` window runs past the padded edge."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        rows = slice(sh * h, sh * h + dh * (kh - 1) + 1, dh)  # s*h + d*i for i = 0 .. kh-1
        cols = slice(sw * w, sw * w + dw * (kw - 1) + 1, dw)
        return slice(None), slice(None), rows, cols


class MaxPoolOperation(PoolOperation):
    """max over each window (padding is -inf); dL/dx = g at the first maximum of each window,
    0 elsewhere."""

    def _output(self) -> np.ndarray:
        x_pad, (Ho, Wo) = self._pad(self.input_, -np.inf), self._out_hw()
        out = np.empty((*x_pad.shape[:2], Ho, Wo), dtype=x_pad.dtype)  # (N, C, Ho, Wo)
        for h in range(Ho):
            for w in range(Wo):
                out[:, :, h, w] = x_pad[self._window(h, w)].max(axis=(2, 3))
        return out

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        x_pad, (Ho, Wo) = self._pad(self.input_, -np.inf), self._out_hw()
        dx_pad = np.zeros_like(x_pad)  # (N, C, H + 2p, W + 2p)
        for h in range(Ho):
            for w in range(Wo):
                window = x_pad[self._window(h, w)]  # (N, C, kh, kw)
                N, C, a, b = window.shape
                # np.argmax of the window in row-major order returns its first maximum
                first = window.reshape(N, C, a * b).argmax(axis=2)  # (N, C)
                is_first = (np.arange(a * b) == first[..., None]).reshape(N, C, a, b)
                dx_pad[self._window(h, w)] += is_first * output_grad[:, :, h, w, None, None]
        return self._unpad(dx_pad)


class AvgPoolOperation(PoolOperation):
    """sum over each window / its divisor; dL/dx = g / divisor spread over every pixel of the
    window."""

    def __init__(self, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__(kernel, stride, padding, (1, 1), ceil_mode)
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def _divisor(self, h: int, w: int) -> int:
        """How many pixels window (h, w)'s sum is divided by (PyTorch's rule, see above)."""
        if self.divisor_override is not None:
            return self.divisor_override
        (kh, kw), (sh, sw), (ph, pw), (H, W) = (self.kernel, self.stride, self.padding,
                                                self.input_.shape[2:])
        top, left = sh * h - ph, sw * w - pw  # the window's first pixel, in input coordinates
        bottom, right = min(top + kh, H + ph), min(left + kw, W + pw)  # cut at the padded edge
        if self.count_include_pad:
            return (bottom - top) * (right - left)
        return (min(bottom, H) - max(top, 0)) * (min(right, W) - max(left, 0))  # input pixels

    def _output(self) -> np.ndarray:
        x_pad, (Ho, Wo) = self._pad(self.input_, 0.0), self._out_hw()
        out = np.empty((*x_pad.shape[:2], Ho, Wo), dtype=x_pad.dtype)  # (N, C, Ho, Wo)
        for h in range(Ho):
            for w in range(Wo):
                out[:, :, h, w] = x_pad[self._window(h, w)].sum(axis=(2, 3)) / self._divisor(h, w)
        return out

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dx_pad, (Ho, Wo) = np.zeros_like(self._pad(self.input_, 0.0)), self._out_hw()
        for h in range(Ho):
            for w in range(Wo):
                # every pixel of the window moved the average by 1 / divisor of its own change
                share = output_grad[:, :, h, w, None, None] / self._divisor(h, w)
                dx_pad[self._window(h, w)] += share
        return self._unpad(dx_pad)


class _Pool2D(Unbatched, ParameterFreeLayer):
    """The layer around a pooling operation: input checks, the name."""

    def _check_input(self, input_: np.ndarray) -> None:
        check_pool_input(repr(self), input_.shape, self.kernel_size, self.stride, self.padding,
                         self.dilation, self.ceil_mode)

    def __repr__(self) -> str:
        k = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return f"{type(self).__name__}({k})"


class MaxPool2D(_Pool2D):
    """Max pooling, ``nn.MaxPool2d``'s arguments: ``kernel_size`` windows (int or (kh, kw)) of
    taps ``dilation`` apart, moved by ``stride`` (default: the kernel) over the input padded by
    ``padding`` (-inf, at most kernel_size // 2) on each side; ``ceil_mode`` keeps a last partial
    window (see the module's docstring).

    Input (N, C, H, W) -> output (N, C, Ho, Wo); an unbatched (C, H, W) -> (C, Ho, Wo). No
    parameters.
    """

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, ceil_mode: bool = False) -> None:
        name = type(self).__name__
        self.kernel_size, self.stride, self.padding, self.dilation = pool_geometry(
            name, kernel_size, stride, padding, dilation)
        self.ceil_mode = check_flag(f"{name} ceil_mode", ceil_mode)
        super().__init__(self._make_pool())

    def _make_pool(self) -> Operation:
        """The pooling operation for this layer's arguments: here the loops above."""
        return MaxPoolOperation(self.kernel_size, self.stride, self.padding, self.dilation,
                                self.ceil_mode)


class AvgPool2D(_Pool2D):
    """Average pooling, ``nn.AvgPool2d``'s arguments: ``kernel_size`` windows (int or (kh, kw))
    moved by ``stride`` (default: the kernel) over the input padded by ``padding`` (zeros, at
    most kernel_size // 2) on each side; ``ceil_mode`` keeps a last partial window; the divisor
    counts the padding (``count_include_pad=True``) or not, or is ``divisor_override`` (a
    non-zero int) -- see the module's docstring.

    Input (N, C, H, W) -> output (N, C, Ho, Wo); an unbatched (C, H, W) -> (C, Ho, Wo). No
    parameters.
    """

    def __init__(self, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None, padding: int | tuple[int, int] = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        name = type(self).__name__
        self.kernel_size, self.stride, self.padding, self.dilation = pool_geometry(
            name, kernel_size, stride, padding)
        self.ceil_mode = check_flag(f"{name} ceil_mode", ceil_mode)
        self.count_include_pad = check_flag(f"{name} count_include_pad", count_include_pad)
        self.divisor_override = check_divisor_override(name, divisor_override)
        super().__init__(self._make_pool())

    def _make_pool(self) -> Operation:
        """The pooling operation for this layer's arguments: here the loops above."""
        return AvgPoolOperation(self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                self.count_include_pad, self.divisor_override)
