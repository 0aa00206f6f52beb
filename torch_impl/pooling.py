"""Pooling: ``nn.MaxPool2d`` and ``nn.AvgPool2d`` behind the shared interface, with their arguments.

Shapes: input (N, C, H, W) -> output (N, C, Ho, Wo); one unbatched (C, H, W) -> (C, Ho, Wo), as the
modules take it. ``stride`` defaults to the kernel; ``padding`` (at most kernel_size // 2),
``dilation`` (max pooling), ``ceil_mode``, ``count_include_pad`` and ``divisor_override`` (average
pooling) mean what they mean to PyTorch; the arguments are checked in ``dlfs/windows.py`` with the
scratch backend's words before the modules see them. Ties in max pooling: PyTorch's CPU kernel sends
the gradient to the first maximum of the window (row-major), as the scratch backend's ``np.argmax``
does.
"""

from __future__ import annotations

import torch
from torch import nn

from dlfs.errors import check_flag
from dlfs.windows import check_divisor_override, check_pool_input, pool_geometry
from torch_impl.reshape import ParameterFreeLayer

__all__ = ["MaxPool2D", "AvgPool2D"]


class _Pool2D(ParameterFreeLayer):
    """The layer around a pooling module: input checks, the name."""

    def _check_input(self, x: torch.Tensor) -> None:
        check_pool_input(repr(self), tuple(x.shape), self.kernel_size, self.stride, self.padding,
                         self.dilation, self.ceil_mode)

    def __repr__(self) -> str:
        k = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return f"{type(self).__name__}({k})"


class MaxPool2D(_Pool2D):
    """``nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode)``: the max of every window
    (int or (kh, kw)); ``stride`` defaults to the kernel, the padding is -inf.

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
        super().__init__(nn.MaxPool2d(self.kernel_size, self.stride, self.padding, self.dilation,
                                      ceil_mode=self.ceil_mode))


class AvgPool2D(_Pool2D):
    """``nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad,
    divisor_override)``: the mean of every window (int or (kh, kw)); ``stride`` defaults to the
    kernel, the padding is zeros.

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
        super().__init__(nn.AvgPool2d(self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                      self.count_include_pad, self.divisor_override))
