"""Pooling (chapter 5's companions to convolution), book form: one loop over output positions.

Each channel of each image is summarised window by window. With windows of (kh, kw) moved by
(sh, sw), output position (h, w) looks at ``x[:, :, sh*h : sh*h + kh, sw*w : sw*w + kw]``:

    max pooling      out[n, c, h, w] = max  of x over window (h, w)
    average pooling  out[n, c, h, w] = mean of x over window (h, w)

and the backward sends each output's gradient to the pixels that made it:

    max pooling      all of g[n, c, h, w] to the window's maximum (the first one in row-major
                     order when several pixels tie)
    average pooling  g[n, c, h, w] / (kh*kw) to every pixel of the window

Windows overlap when the stride is smaller than the kernel: a pixel then collects the gradients
of every window it belongs to (``+=``). Shapes: input (N, C, H, W) -> output (N, C, Ho, Wo) with
``Ho = (H - kh) // sh + 1`` (no padding; a last incomplete window is dropped, as
``nn.MaxPool2d``/``nn.AvgPool2d`` do). ``stride`` defaults to the kernel.

The tie rule is PyTorch's: its CPU kernel replaces the running maximum only on a strictly greater
value, so the first maximum wins, which is what ``np.argmax`` returns. The fast form
(``scratch/fast/pooling.py``) computes every window at once through a strided view.
"""

from __future__ import annotations

import numpy as np

from dlfs.windows import check_image, output_hw, pair
from scratch.base import Operation
from scratch.reshape import ParameterFreeLayer

__all__ = ["MaxPool2D", "AvgPool2D"]


class PoolOperation(Operation):
    """What both poolings share: the window geometry."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        self.kernel, self.stride = kernel, stride

    def _out_hw(self) -> tuple[int, int]:
        (kh, kw), (sh, sw), (H, W) = self.kernel, self.stride, self.input_.shape[2:]
        return (H - kh) // sh + 1, (W - kw) // sw + 1

    def _window(self, h: int, w: int) -> tuple[slice, slice, slice, slice]:
        """The index of window (h, w) in every image and channel: ``x[self._window(h, w)]`` is
        (N, C, kh, kw)."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        return slice(None), slice(None), slice(sh * h, sh * h + kh), slice(sw * w, sw * w + kw)


class MaxPoolOperation(PoolOperation):
    """max over each window; dL/dx = g at the first maximum of each window, 0 elsewhere."""

    def _output(self) -> np.ndarray:
        x, (Ho, Wo) = self.input_, self._out_hw()
        out = np.empty((*x.shape[:2], Ho, Wo), dtype=x.dtype)  # (N, C, Ho, Wo)
        for h in range(Ho):
            for w in range(Wo):
                out[:, :, h, w] = x[self._window(h, w)].max(axis=(2, 3))
        return out

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        x, (Ho, Wo) = self.input_, self._out_hw()
        N, C, kh, kw = *x.shape[:2], *self.kernel
        dx = np.zeros_like(x)  # (N, C, H, W)
        for h in range(Ho):
            for w in range(Wo):
                window = x[self._window(h, w)]  # (N, C, kh, kw)
                # np.argmax of the window in row-major order returns its first maximum
                first = window.reshape(N, C, kh * kw).argmax(axis=2)  # (N, C)
                is_first = (np.arange(kh * kw) == first[..., None]).reshape(N, C, kh, kw)
                dx[self._window(h, w)] += is_first * output_grad[:, :, h, w, None, None]
        return dx


class AvgPoolOperation(PoolOperation):
    """mean over each window; dL/dx = g / (kh*kw) spread over every pixel of the window."""

    def _output(self) -> np.ndarray:
        x, (Ho, Wo) = self.input_, self._out_hw()
        out = np.empty((*x.shape[:2], Ho, Wo), dtype=x.dtype)  # (N, C, Ho, Wo)
        for h in range(Ho):
            for w in range(Wo):
                out[:, :, h, w] = x[self._window(h, w)].mean(axis=(2, 3))
        return out

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        (Ho, Wo), (kh, kw) = self._out_hw(), self.kernel
        dx = np.zeros_like(self.input_)  # (N, C, H, W)
        for h in range(Ho):
            for w in range(Wo):
                # every pixel of the window moved the mean by 1 / (kh*kw) of its own change
                dx[self._window(h, w)] += output_grad[:, :, h, w, None, None] / (kh * kw)
        return dx


class _Pool2D(ParameterFreeLayer):
    """The layer around a pooling operation: arguments, input checks, the name."""

    def __init__(self, kernel: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None) -> None:
        self.kernel = pair("kernel", kernel)
        self.stride = self.kernel if stride is None else pair("stride", stride)
        super().__init__(self._make_pool())

    def _make_pool(self) -> Operation:
        """The pooling operation for ``self.kernel`` and ``self.stride``."""
        raise NotImplementedError

    def _check_input(self, input_: np.ndarray) -> None:
        check_image(repr(self), input_.shape)
        output_hw(repr(self), input_.shape[2:], self.kernel, self.stride)

    def __repr__(self) -> str:
        k = self.kernel[0] if self.kernel[0] == self.kernel[1] else self.kernel
        return f"{type(self).__name__}({k})"


class MaxPool2D(_Pool2D):
    """Max pooling over ``kernel`` windows (int or (kh, kw)) moved by ``stride`` (default: the
    kernel).

    Input (N, C, H, W) -> output (N, C, Ho, Wo). No parameters.
    """

    def _make_pool(self) -> Operation:
        return MaxPoolOperation(self.kernel, self.stride)


class AvgPool2D(_Pool2D):
    """Average pooling over ``kernel`` windows (int or (kh, kw)) moved by ``stride`` (default:
    the kernel).

    Input (N, C, H, W) -> output (N, C, Ho, Wo). No parameters.
    """

    def _make_pool(self) -> Operation:
        return AvgPoolOperation(self.kernel, self.stride)
