"""The 2-D convolution layer: ``nn.Conv2d``, the activation's module (and ``nn.Flatten``, dropout).

Layouts: canonical W is (C/groups, O, kh, kw) (the book's: in, out, k, k) =
``conv.weight.permute(1, 0, 2, 3)`` (``nn.Conv2d.weight`` is (O, C/groups, kh, kw)); canonical B
is (1, O, 1, 1) = ``conv.bias.reshape(1, O, 1, 1)``. ``padding="same"`` follows PyTorch's
definition (see ``dlfs/windows.py``): an odd total of ``d*(k - 1)`` zeros puts the extra one on the
bottom/right, applied by an ``nn.ZeroPad2d`` before the convolution (a test checks it against
``F.conv2d(padding="same")``). One unbatched image (C, H, W) goes to ``nn.Conv2d`` as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from dlfs.errors import check_flag, check_positive_int
from dlfs.init import check_weight_init, draw, init_scale
from dlfs.training import check_dropout
from dlfs.windows import check_conv_input, check_groups, conv_geometry
from torch_impl.activations import make_activation
from torch_impl.base import TorchLayer, copy_
from torch_impl.dropout import Dropout

__all__ = ["Conv2D"]


class Conv2D(TorchLayer):
    """A 2-D convolution layer of ``out_channels`` filters:
    ``dropout(flatten(activation(conv(x, W) + B)))``, with ``nn.Conv2d``'s options.

    ``kernel_size``, ``stride`` and ``dilation`` (the kernel's taps ``d`` pixels apart) are an
    int or a pair (height, width). ``padding`` is ``"same"`` (the output keeps the input's size;
    needs stride 1; ``d*(k - 1)`` zeros per axis, the odd one bottom/right, as PyTorch),
    ``"valid"`` (none), an int or a pair (ph, pw) of zeros on both sides. ``groups`` splits the
    channels into that many independent convolutions (it divides C and O; C = O = groups is a
    depthwise convolution). ``bias=False`` is the book's layer (no B). ``activation`` is an
    instance, a name or None (Linear); ``weight_init`` is ``"standard"`` (N(0, 1), the book's)
    or ``"glorot"`` (fans C/groups*kh*kw and O*kh*kw, as ``torch.nn.init``). ``dropout`` is the
    drop probability of inverted dropout after the activation; ``flatten=True`` reshapes the
    output to (N, O*Ho*Wo) for a following Dense layer, as the book's layer does.

    Parameters: W (C/groups, O, kh, kw), B (1, O, 1, 1). Input (N, C, H, W) -> output
    (N, O, Ho, Wo); an unbatched (C, H, W) -> (O, Ho, Wo).
    """

    param_names = ("W", "B")

    def __init__(
        self,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = "same",
        bias: bool = True,
        activation: TorchLayer | str | None = None,
        weight_init: str = "standard",
        dropout: float = 0.0,
        flatten: bool = False,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
    ) -> None:
        super().__init__(check_positive_int("out_channels", out_channels))
        name = type(self).__name__
        self.kernel_size, self.stride, self.dilation, self.pads = conv_geometry(
            name, kernel_size, stride, padding, dilation)
        self.padding, self.groups = padding, check_groups(name, groups, out_channels)
        self.bias = check_flag("bias", bias)
        if not self.bias:
            self.param_names = ("W",)
        self.activation = make_activation(activation)
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch
        self.dropout = check_dropout(f"{self!r} dropout", dropout)
        self.flatten = check_flag("flatten", flatten)
        self.in_channels: int | None = None

    def _check_input(self, x: torch.Tensor) -> None:
        check_conv_input(repr(self), tuple(x.shape), self.kernel_size, self.stride, self.pads,
                         self.in_channels, self.dilation, self.groups)

    def _setup_layer(self, x: torch.Tensor) -> None:
        C, O, (kh, kw), dtype = (x.shape[-3], self.neurons, self.kernel_size,
                                 str(x.dtype).replace("torch.", ""))
        scale = init_scale(self.weight_init, C // self.groups * kh * kw, O * kh * kw)
        # the same draws, in the same order, as scratch.Conv2D: W (C/groups, O, kh, kw), then
        # B (1, O, 1, 1)
        W = draw(self.rng, (C // self.groups, O, kh, kw), scale, dtype)
        B = draw(self.rng, (1, O, 1, 1), scale, dtype) if self.bias else None
        top, bottom, left, right = self.pads
        symmetric = top == bottom and left == right
        # "same" with an odd total pads asymmetrically: an explicit ZeroPad2d, which is what
        # nn.Conv2d(padding="same") does internally (with a warning about the copy); everything
        # else is nn.Conv2d's padding
        self.conv = nn.Conv2d(C, O, self.kernel_size, stride=self.stride,
                              padding=(top, left) if symmetric else 0, dilation=self.dilation,
                              groups=self.groups, bias=self.bias, dtype=x.dtype)
        with torch.no_grad():
            copy_(self.conv.weight, W.transpose(1, 0, 2, 3))
            if B is not None:
                copy_(self.conv.bias, B.reshape(O))
        modules: list[nn.Module] = [] if symmetric else [nn.ZeroPad2d((left, right, top, bottom))]
        modules += [self.conv, self.activation.module]
        if self.flatten:  # (N, O, Ho, Wo) -> (N, O*Ho*Wo); unbatched (O, Ho, Wo) -> (O*Ho*Wo,)
            modules.append(nn.Flatten(start_dim=-3))
        if self.dropout > 0:  # the mask stream is spawned after the weights, as in scratch
            modules.append(Dropout(self.dropout, rng=self.rng.spawn(1)[0]).module)
        self.module = nn.Sequential(*modules)
        self.in_channels = C

    def _canonical(self) -> dict[str, torch.Tensor]:
        out = {"W": self.conv.weight.permute(1, 0, 2, 3)}
        if self.bias:
            out["B"] = self.conv.bias.reshape(1, -1, 1, 1)
        return out

    def _load_canonical(self, state: Mapping[str, np.ndarray]) -> None:
        copy_(self.conv.weight, np.asarray(state["W"]).transpose(1, 0, 2, 3))
        if self.bias:
            copy_(self.conv.bias, np.asarray(state["B"]).reshape(-1))

    def _canonical_grads(self) -> dict[str, torch.Tensor | None]:
        w = self.conv.weight.grad
        out = {"W": None if w is None else w.permute(1, 0, 2, 3)}
        if self.bias:
            b = self.conv.bias.grad
            out["B"] = None if b is None else b.reshape(1, -1, 1, 1)
        return out

    def __repr__(self) -> str:
        k = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return f"{type(self).__name__}({self.neurons}, kernel_size={k})"
