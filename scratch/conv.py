"""The 2-D convolution layer (chapter 5), book form: every sum a loop that reads like the formula.

Chapter 5 builds the convolution up in three steps, and so does this file:

1. ``conv_1d`` / ``conv_1d_grads``: a 1-D input and kernel, "same" padding, stride 1,
   ``out[o] = sum_p x_pad[o + p] * w[p]``. Each output received ``x_pad[o + p] * w[p]``, so
   the backward runs the same loops and sends each product's gradient back along the same edge:
   ``dx_pad[o + p] += g[o] * w[p]`` and ``dw[p] += g[o] * x_pad[o + p]``.
2. ``conv_2d`` / ``conv_2d_grads``: the same in two dimensions, with a stride, any padding and
   a dilation (the kernel's taps ``d`` pixels apart).
3. ``conv_2d_multi`` / ``conv_2d_multi_grads``: batches and channels -- output channel o of
   sample n is the sum over input channels c of ``conv_2d(x[n, c], W[c, o])``; with ``groups``
   only over the channels of o's group.

Then ``Conv2DOperation`` (those loops as a ``ParamOperation``), ``ChannelBiasAdd`` and the
``Conv2D`` layer: arguments, checks and set-up. Like PyTorch (and unlike the convolution of
signal processing) the kernel is not flipped -- a cross-correlation:

    out[n, o, h, w] = B[o] + sum_{c, i, j} xpad[n, g*Cg + c, s*h + d*i, s*w + d*j] * W[c, o, i, j]

where g = o // (O/groups) is o's group and Cg = C/groups its input channels (groups=1: g = 0,
Cg = C). Shapes (NCHW): x (N, C, H, W) or one unbatched image (C, H, W); W (C/groups, O, kh, kw)
(the book's layout: in, out, k, k); B (1, O, 1, 1); output (N, O, Ho, Wo). Slow on purpose:
training uses ``scratch/fast/conv.py`` (im2col + GEMM), whose ``Conv2D`` subclasses this one and
replaces only the convolution.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_flag, check_forward_called, check_positive_int
from dlfs.init import check_weight_init, draw, init_scale
from dlfs.training import check_dropout
from dlfs.windows import Pads, check_conv_input, check_groups, conv_geometry
from scratch.activations import make_activation
from scratch.base import Layer, Operation, ParamOperation
from scratch.dropout import Dropout
from scratch.reshape import FlattenOperation

__all__ = ["Conv2D"]


# --- 1. one dimension ---------------------------------------------------------------------
def _same_pads_1d(k: int) -> tuple[int, int]:
    """k - 1 zeros in all, (k - 1) // 2 before: the output keeps the input's length."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


def conv_1d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (L,), w (k,) -> out (L,): ``out[o] = sum_p x_pad[o + p] * w[p]``, "same" padding."""
    before, after = _same_pads_1d(len(w))
    x_pad = np.concatenate([np.zeros(before, x.dtype), x, np.zeros(after, x.dtype)])  # (L+k-1,)
    out = np.zeros(len(x), dtype=x.dtype)  # (L,)
    for o in range(len(out)):
        for p in range(len(w)):
            out[o] += x_pad[o + p] * w[p]
    return out


def conv_1d_grads(x: np.ndarray, w: np.ndarray, out_grad: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx (L,) and dL/dw (k,) given dL/dout (L,) for ``conv_1d(x, w)``."""
    before, after = _same_pads_1d(len(w))
    x_pad = np.concatenate([np.zeros(before, x.dtype), x, np.zeros(after, x.dtype)])
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for o in range(len(out_grad)):
        for p in range(len(w)):
            dx_pad[o + p] += out_grad[o] * w[p]  # x_pad[o + p] reached out[o] with weight w[p]
            dw[p] += out_grad[o] * x_pad[o + p]  # w[p] reached out[o] carrying x_pad[o + p]
    return dx_pad[before : before + len(x)], dw  # the padding's zeros pass nothing on


# --- 2. two dimensions, with stride, padding and dilation ---------------------------------
def pad_2d(x: np.ndarray, pads: Pads) -> np.ndarray:
    """x (H, W) with ``pads = (top, bottom, left, right)`` rows/columns of zeros around it."""
    top, bottom, left, right = pads
    out = np.zeros((x.shape[0] + top + bottom, x.shape[1] + left + right), dtype=x.dtype)
    out[top : top + x.shape[0], left : left + x.shape[1]] = x
    return out


def _out_size(n_pad: int, k: int, s: int, d: int = 1) -> int:
    """Windows of k taps d apart (spanning d*(k - 1) + 1 pixels) moved by s over n_pad: the last
    incomplete one is dropped."""
    return (n_pad - (d * (k - 1) + 1)) // s + 1


def conv_2d(x: np.ndarray, w: np.ndarray, stride: tuple[int, int] = (1, 1),
            pads: Pads = (0, 0, 0, 0), dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """x (H, W), w (kh, kw) -> out (Ho, Wo):
    ``out[h, v] = sum_{i, j} x_pad[s*h + d*i, s*v + d*j] * w[i, j]``."""
    x_pad, (kh, kw), (sh, sw), (dh, dw) = pad_2d(x, pads), w.shape, stride, dilation
    Ho, Wo = _out_size(x_pad.shape[0], kh, sh, dh), _out_size(x_pad.shape[1], kw, sw, dw)
    out = np.zeros((Ho, Wo), dtype=x.dtype)
    for h in range(Ho):
        for v in range(Wo):
            for i in range(kh):
                for j in range(kw):
                    out[h, v] += x_pad[sh * h + dh * i, sw * v + dw * j] * w[i, j]
    return out


def conv_2d_grads(x: np.ndarray, w: np.ndarray, out_grad: np.ndarray,
                  stride: tuple[int, int] = (1, 1), pads: Pads = (0, 0, 0, 0),
                  dilation: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx (H, W) and dL/dw (kh, kw) given dL/dout (Ho, Wo) for ``conv_2d``."""
    x_pad, (kh, kw), (sh, sw), (dh, dw) = pad_2d(x, pads), w.shape, stride, dilation
    dx_pad, w_grad = np.zeros_like(x_pad), np.zeros_like(w)  # dL/dx_pad, dL/dw
    for h in range(out_grad.shape[0]):
        for v in range(out_grad.shape[1]):
            for i in range(kh):
                for j in range(kw):
                    # the forward's edges, travelled backwards; windows overlap, hence +=
                    dx_pad[sh * h + dh * i, sw * v + dw * j] += out_grad[h, v] * w[i, j]
                    w_grad[i, j] += out_grad[h, v] * x_pad[sh * h + dh * i, sw * v + dw * j]
    top, _, left, _ = pads
    return dx_pad[top : top + x.shape[0], left : left + x.shape[1]], w_grad


# --- 3. batches, channels and groups ------------------------------------------------------
def conv_2d_multi(x: np.ndarray, W: np.ndarray, stride: tuple[int, int] = (1, 1),
                  pads: Pads = (0, 0, 0, 0), dilation: tuple[int, int] = (1, 1),
                  groups: int = 1) -> np.ndarray:
    """x (N, C, H, W), W (C/groups, O, kh, kw) -> out (N, O, Ho, Wo):
    ``out[n, o] = sum_c conv_2d(x[n, first + c], W[c, o])`` over the C/groups input channels of
    o's group, which start at ``first`` (groups=1: every channel, first = 0)."""
    (N, _, H, W_), (Cg, O, kh, kw) = x.shape, W.shape
    Og = O // groups  # output channels per group
    Ho = _out_size(H + pads[0] + pads[1], kh, stride[0], dilation[0])
    Wo = _out_size(W_ + pads[2] + pads[3], kw, stride[1], dilation[1])
    out = np.zeros((N, O, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for o in range(O):
            first = (o // Og) * Cg  # group o // Og reads input channels first .. first + Cg - 1
            for c in range(Cg):
                out[n, o] += conv_2d(x[n, first + c], W[c, o], stride, pads, dilation)
    return out


def conv_2d_multi_grads(x: np.ndarray, W: np.ndarray, out_grad: np.ndarray,
                        stride: tuple[int, int] = (1, 1), pads: Pads = (0, 0, 0, 0),
                        dilation: tuple[int, int] = (1, 1), groups: int = 1
                        ) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx (N, C, H, W) and dL/dW (C/groups, O, kh, kw) given dL/dout (N, O, Ho, Wo).

    Every (sample, output channel, input channel of its group) triple is one ``conv_2d``: its
    gradients add.
    """
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    (Cg, O), Og = W.shape[:2], W.shape[1] // groups
    for n in range(x.shape[0]):
        for o in range(O):
            first = (o // Og) * Cg
            for c in range(Cg):
                dx_nc, dw_co = conv_2d_grads(x[n, first + c], W[c, o], out_grad[n, o], stride,
                                             pads, dilation)
                dx[n, first + c] += dx_nc
                dW[c, o] += dw_co
    return dx, dW


# --- the operations and the layer ---------------------------------------------------------
class Conv2DOperation(ParamOperation):
    """``conv_2d_multi`` as an Operation: x (N, C, H, W), ``param`` W (C/groups, O, kh, kw)
    -> (N, O, Ho, Wo).

    The backward loops give dL/dx and dL/dW together; each method keeps the one it is asked
    for (the loops run twice: the price of keeping nothing between the two calls).
    """

    def __init__(self, param: np.ndarray, stride: tuple[int, int], pads: Pads,
                 dilation: tuple[int, int] = (1, 1), groups: int = 1) -> None:
        super().__init__(param)
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups

    def _output(self) -> np.ndarray:
        return conv_2d_multi(self.input_, self.param, self.stride, self.pads, self.dilation,
                             self.groups)  # (N, O, Ho, Wo)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dx, _ = conv_2d_multi_grads(self.input_, self.param, output_grad, self.stride, self.pads,
                                    self.dilation, self.groups)
        return dx  # (N, C, H, W)

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        _, dW = conv_2d_multi_grads(self.input_, self.param, output_grad, self.stride, self.pads,
                                    self.dilation, self.groups)
        return dW  # (C/groups, O, kh, kw)


class ChannelBiasAdd(ParamOperation):
    """x + B with B (1, O, 1, 1) broadcast over batch and pixels;
    dL/dx = g, dL/dB = g summed over (N, H, W)."""

    def _output(self) -> np.ndarray:
        return self.input_ + self.param  # (N, O, Ho, Wo)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad.sum(axis=(0, 2, 3), keepdims=True)  # (1, O, 1, 1)


class Unbatched:
    """Mixed into the image layers (``Conv2D`` here, the poolings) before their ``Layer`` base:
    one unbatched image (C, H, W) is taken as PyTorch takes it. The operations see a batch of
    one; the output and the input gradient lose the batch axis again."""

    _unbatched = False

    def _prepare(self, input_: np.ndarray) -> np.ndarray:
        x = super()._prepare(input_)  # checks the input as it came: (C, H, W) or (N, C, H, W)
        self._unbatched = x.ndim == 3
        return x[None] if self._unbatched else x

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        out = super().forward(input_, training)
        if self._unbatched:
            self.output = out = out[0]
        return out

    def backward(self, output_grad: np.ndarray) -> np.ndarray | None:
        if not self._unbatched:
            return super().backward(output_grad)
        check_forward_called(self, hasattr(self, "output"))
        if output_grad.shape != self.output.shape:
            raise ValueError(f"{self!r}.backward: expected a gradient of shape "
                             f"{self.output.shape} (the output's), got {output_grad.shape}")
        g = output_grad[None]
        for op in reversed(self.operations):
            g = op.backward(g)
        return None if g is None else g[0]


class Conv2D(Unbatched, Layer):
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
        activation: Operation | str | None = None,
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

    def _check_input(self, input_: np.ndarray) -> None:
        check_conv_input(repr(self), input_.shape, self.kernel_size, self.stride, self.pads,
                         self.in_channels, self.dilation, self.groups)

    def _make_conv(self, W: np.ndarray) -> ParamOperation:
        """The convolution with weights W (C/groups, O, kh, kw): here the loops above."""
        return Conv2DOperation(W, self.stride, self.pads, self.dilation, self.groups)

    def _setup_layer(self, input_: np.ndarray) -> None:
        C, O, (kh, kw), dtype = input_.shape[-3], self.neurons, self.kernel_size, input_.dtype
        scale = init_scale(self.weight_init, C // self.groups * kh * kw, O * kh * kw)
        # the same draws, in the same order, as torch_impl.Conv2D: W (C/groups, O, kh, kw), then
        # B (1, O, 1, 1)
        W = draw(self.rng, (C // self.groups, O, kh, kw), scale, dtype)
        self.operations = [self._make_conv(W)]
        if self.bias:
            self.operations.append(ChannelBiasAdd(draw(self.rng, (1, O, 1, 1), scale, dtype)))
        self.operations.append(self.activation)
        if self.flatten:
            self.operations.append(FlattenOperation())
        if self.dropout > 0:  # the mask stream is spawned after the weights, as in torch_impl
            self.operations.append(Dropout(self.dropout, rng=self.rng.spawn(1)[0]))
        self.in_channels = C

    def __repr__(self) -> str:
        k = self.kernel_size[0] if self.kernel_size[0] == self.kernel_size[1] else self.kernel_size
        return f"{type(self).__name__}({self.neurons}, kernel_size={k})"
