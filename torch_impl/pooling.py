"""Pooling: ``nn.MaxPool2d`` and ``nn.AvgPool2d`` behind the shared interface.

Shapes: input (N, C, H, W) -> output (N, C, Ho, Wo) with ``Ho = (H - kh) // sh + 1`` (no padding,
``ceil_mode=False``). ``stride`` defaults to the kernel. Ties in max pooling: PyTorch's CPU kernel
sends the gradient to the first maximum of the window (row-major), as the scratch backend's
``np.argmax`` does.
"""

from __future__ import annotations

import torch
from torch import nn

from dlfs.windows import check_image, output_hw, pair
from torch_impl.reshape import ParameterFreeLayer

__all__ = ["MaxPool2D", "AvgPool2D"]


class _Pool2D(ParameterFreeLayer):
    def __init__(self, module: type[nn.Module], kernel: int | tuple[int, int],
                 stride: int | tuple[int, int] | None) -> None:
        self.kernel = pair("kernel", kernel)
        self.stride = self.kernel if stride is None else pair("stride", stride)
        super().__init__(module(self.kernel, self.stride))

    def _check_input(self, x: torch.Tensor) -> None:
        check_image(repr(self), tuple(x.shape))
        output_hw(repr(self), tuple(x.shape[2:]), self.kernel, self.stride)

    def __repr__(self) -> str:
        k = self.kernel[0] if self.kernel[0] == self.kernel[1] else self.kernel
        return f"{type(self).__name__}({k})"


class MaxPool2D(_Pool2D):
    """``nn.MaxPool2d(kernel, stride)``: the max of every window (int or (kh, kw)).

    ``stride`` defaults to the kernel. Input (N, C, H, W) -> output (N, C, Ho, Wo). No parameters.
    """

    def __init__(self, kernel: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None) -> None:
        super().__init__(nn.MaxPool2d, kernel, stride)


class AvgPool2D(_Pool2D):
    """``nn.AvgPool2d(kernel, stride)``: the mean of every window (int or (kh, kw)).

    ``stride`` defaults to the kernel. Input (N, C, H, W) -> output (N, C, Ho, Wo). No parameters.
    """

    def __init__(self, kernel: int | tuple[int, int],
                 stride: int | tuple[int, int] | None = None) -> None:
        super().__init__(nn.AvgPool2d, kernel, stride)
