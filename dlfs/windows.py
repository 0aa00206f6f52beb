"""Sliding-window geometry and shape checks shared by the image layers (convolution, pooling, flatten,
reshape) of both backends.

Both ``scratch`` and ``torch_impl`` validate their arguments and inputs here, so a bad kernel size, stride,
padding, dilation, group count or input reads the same in either backend, and both agree with PyTorch on
what every option means and on which values it rejects.

Conventions (NCHW, as PyTorch):

- input ``(batch, channels, height, width)``, or one unbatched image ``(channels, height, width)``;
- a window of ``k`` taps ``d`` apart (``dilation``) spans ``d*(k - 1) + 1`` pixels and moves by ``stride``;
- convolution: the output size along an axis of padded length ``n_pad`` is ``(n_pad - span) // stride + 1``
  (the last incomplete window is dropped, as ``nn.Conv2d`` does);
- convolution ``padding="same"`` pads ``d*(k - 1)`` zeros per axis, half before (rounded down) and the rest
  after, so an odd total puts the extra zero on the bottom/right: exactly ``nn.Conv2d(padding="same")``. Like
  PyTorch it needs ``stride == 1`` (with a stride the output cannot keep the input's size);
- pooling: ``padding`` at most half the kernel, and PyTorch's output size (``pool_output_size``): with
  ``ceil_mode`` a last partial window is kept when it starts inside the input or the left padding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlfs.errors import check_positive_int

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)
Pair = tuple[int, int]  # (height, width)


def _int_at_least(name: str, value: Any, minimum: int) -> int:
    if minimum == 1:
        return check_positive_int(name, value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


def pair(name: str, value: Any, minimum: int = 1, single: bool = False) -> Pair:
    """An int ``k`` or a pair ``(kh, kw)`` of ints >= ``minimum``, as ``(kh, kw)``.

    ``single=True``: a 1-tuple ``(k,)`` counts as the int ``k``, as PyTorch reads a stride, padding or dilation
    (and a pooling's kernel size; ``nn.Conv2d``'s ``kernel_size`` is the exception).
    """
    if isinstance(value, tuple | list):
        if single and len(value) == 1:
            v = _int_at_least(name, value[0], minimum)
            return (v, v)
        if len(value) != 2:
            n = len(value)
            raise ValueError(f"{name}: expected an int or a pair (height, width), got {n} value"
                             f"{'' if n == 1 else 's'} {tuple(value)!r}")
        return (_int_at_least(f"{name}[0]", value[0], minimum), _int_at_least(f"{name}[1]", value[1], minimum))
    k = _int_at_least(name, value, minimum)
    return (k, k)


def span(kernel: Pair, dilation: Pair) -> Pair:
    """The pixels a window covers per axis: ``d*(k - 1) + 1`` (``k`` taps ``d`` apart)."""
    return (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)


# --- convolution ------------------------------------------------------------------------------------------------
def resolve_padding(layer: str, padding: Any, kernel: Pair, stride: Pair, dilation: Pair = (1, 1)) -> Pads:
    """``"same"``, ``"valid"``, an int >= 0 or a pair ``(ph, pw)`` as ``(top, bottom, left, right)`` zeros."""
    expected = "'same', 'valid', an int >= 0 or a pair (height, width) of ints >= 0"
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{layer} padding='same' needs stride 1 (the output keeps the input's size only "
                                 f"then; PyTorch rejects it too), got stride {stride}; pass an int padding instead")
            (th, tw) = (dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1))  # total zeros per axis
            return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        raise ValueError(f"{layer} padding: expected {expected}, got {padding!r}")
    if isinstance(padding, tuple | list):
        ph, pw = pair(f"{layer} padding", padding, minimum=0, single=True)
        return (ph, ph, pw, pw)
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer):
        raise TypeError(f"{layer} padding: expected {expected}, got {type(padding).__name__} {padding!r}")
    if padding < 0:
        raise ValueError(f"{layer} padding: expected {expected}, got {padding}")
    return (int(padding),) * 4


def conv_geometry(layer: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1
                  ) -> tuple[Pair, Pair, Pair, Pads]:
    """A convolution's ``(kernel, stride, dilation, pads)`` from its arguments, checked as ``nn.Conv2d`` checks
    them: ``kernel_size``, ``stride`` and ``dilation`` positive ints or pairs, ``padding`` as
    ``resolve_padding``."""
    kernel = pair(f"{layer} kernel_size", kernel_size)
    strides = pair(f"{layer} stride", stride, single=True)
    dilations = pair(f"{layer} dilation", dilation, single=True)
    return kernel, strides, dilations, resolve_padding(layer, padding, kernel, strides, dilations)


def check_groups(layer: str, groups: Any, out_channels: int) -> int:
    """``groups`` must be a positive int dividing ``out_channels`` (the input channels are checked with the
    first input, ``check_conv_input``)."""
    g = check_positive_int(f"{layer} groups", groups)
    if out_channels % g:
        raise ValueError(f"{layer} groups: expected a divisor of out_channels={out_channels} (PyTorch: "
                         f"out_channels must be divisible by groups), got groups={g}")
    return g


def check_image(layer: str, shape: tuple[int, ...]) -> None:
    """The input of a convolution or pooling layer: 4-D (batch, channels, height, width) or one unbatched
    3-D (channels, height, width) image, as PyTorch takes it."""
    if len(shape) not in (3, 4):
        hint = " (add the channel axis with x[None] for one grayscale image)" if len(shape) == 2 else ""
        raise ValueError(f"{layer}: expected a 3-D (channels, height, width) or 4-D (batch, channels, height, "
                         f"width) input, got {len(shape)}-D shape {tuple(shape)}{hint}")


def _does_not_fit(layer: str, hw: Pair, kernel: Pair, dilation: Pair, pads: Pads) -> ValueError:
    (h, w), (kh, kw), (eh, ew) = hw, kernel, span(kernel, dilation)
    dilated = f" (dilated by {dilation} to {eh}x{ew})" if dilation != (1, 1) else ""
    padded = (f" (padded by {pads} to {h + pads[0] + pads[1]}x{w + pads[2] + pads[3]})" if any(pads) else "")
    return ValueError(f"{layer}: the {kh}x{kw} window{dilated} does not fit in the {h}x{w} input{padded}; use a "
                      f"smaller kernel{', less dilation' if dilated else ''}, more padding, or a larger input")


def output_hw(layer: str, hw: Pair, kernel: Pair, stride: Pair, pads: Pads = (0, 0, 0, 0),
              dilation: Pair = (1, 1)) -> Pair:
    """A convolution's output ``(Ho, Wo)``: windows ``kernel`` dilated by ``dilation``, moved by ``stride`` over
    ``hw`` padded by ``pads``; the last incomplete window is dropped.

    Raises ``ValueError`` when the (dilated) window is larger than the padded input (no window fits), which
    PyTorch rejects too ("Kernel size can't be greater than actual input size").
    """
    (h, w), (sh, sw), (eh, ew) = hw, stride, span(kernel, dilation)
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    if eh > hp or ew > wp:
        raise _does_not_fit(layer, hw, kernel, dilation, pads)
    return ((hp - eh) // sh + 1, (wp - ew) // sw + 1)


def check_conv_input(layer: str, shape: tuple[int, ...], kernel: Pair, stride: Pair, pads: Pads,
                     in_channels: int | None, dilation: Pair = (1, 1), groups: int = 1) -> None:
    """A convolution's input: 3-D or 4-D, large enough for one window, with channels divisible by ``groups``
    and, once built, ``in_channels`` of them."""
    check_image(layer, shape)
    output_hw(layer, tuple(shape[-2:]), kernel, stride, pads, dilation)
    channels = shape[-3]
    if in_channels is not None and channels != in_channels:
        raise ValueError(f"{layer}: expected {in_channels} input channels (the number it was built for), got "
                         f"{channels} in shape {tuple(shape)}")
    if channels % groups:
        raise ValueError(f"{layer} groups={groups}: expected a number of input channels divisible by groups "
                         f"(PyTorch: in_channels must be divisible by groups), got {channels} in shape "
                         f"{tuple(shape)}")


# --- pooling ----------------------------------------------------------------------------------------------------
def pool_geometry(layer: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any = 1
                  ) -> tuple[Pair, Pair, Pair, Pair]:
    """A pooling's ``(kernel, stride, padding, dilation)``, checked as PyTorch checks them: ``stride`` None (or
    ``()``) is the kernel; ``padding`` zeros (max pooling: -inf) on each side, at most ``kernel_size // 2``."""
    kernel = pair(f"{layer} kernel_size", kernel_size, single=True)
    default = stride is None or (isinstance(stride, tuple | list) and len(stride) == 0)
    strides = kernel if default else pair(f"{layer} stride", stride, single=True)
    pads = pair(f"{layer} padding", padding, minimum=0, single=True)
    if pads[0] > kernel[0] // 2 or pads[1] > kernel[1] // 2:
        raise ValueError(f"{layer} padding: expected at most half the kernel size per axis, (kh // 2, kw // 2) = "
                         f"{(kernel[0] // 2, kernel[1] // 2)} for kernel_size {kernel} (PyTorch's limit), got "
                         f"{pads}")
    return kernel, strides, pads, pair(f"{layer} dilation", dilation, single=True)


def pool_output_size(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's pooling output size along one axis of length ``n`` padded by ``p`` on each side.

    Windows of span ``d*(k - 1) + 1`` moved by ``s``: ``floor`` (or with ``ceil_mode``, ``ceil``) of
    ``(n + 2p - span) / s``, plus one; with ``ceil_mode`` a last window that would start in the right padding
    (at or beyond ``n + p``) is dropped, so every window starts inside the input or the left padding.
    """
    out = (n + 2 * p - (d * (k - 1) + 1) + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def pool_output_hw(layer: str, hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1),
                   ceil_mode: bool = False) -> Pair:
    """A pooling's output ``(Ho, Wo)``; ``ValueError`` when it would be empty (PyTorch: "Output size is too
    small")."""
    out = tuple(pool_output_size(hw[a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode) for a in (0, 1))
    if min(out) < 1:
        raise _does_not_fit(layer, hw, kernel, dilation, (padding[0], padding[0], padding[1], padding[1]))
    return out


def check_pool_input(layer: str, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair,
                     dilation: Pair = (1, 1), ceil_mode: bool = False) -> None:
    """A pooling's input: 3-D or 4-D, with at least one output position."""
    check_image(layer, shape)
    pool_output_hw(layer, tuple(shape[-2:]), kernel, stride, padding, dilation, ceil_mode)


def check_divisor_override(layer: str, value: Any) -> int | None:
    """``AvgPool2D``'s ``divisor_override``: None or a non-zero int (PyTorch accepts a negative one)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{layer} divisor_override: expected None or a non-zero int, got {type(value).__name__} "
                        f"{value!r}")
    if value == 0:
        raise ValueError(f"{layer} divisor_override: expected None or a non-zero int, got 0")
    return int(value)


# --- reshaping and fixed-size models ----------------------------------------------------------------------------
def check_reshape(layer: str, shape: tuple[int, ...], target: tuple[int, ...]) -> None:
    """The per-sample size of an input of ``shape`` must equal the product of ``target``."""
    if len(shape) < 2:
        raise ValueError(f"{layer}: expected an input with a batch axis and at least one more, got {len(shape)}-D "
                         f"shape {tuple(shape)}")
    have, want = int(np.prod(shape[1:])), int(np.prod(target))
    if have != want:
        raise ValueError(f"{layer}: cannot reshape samples of shape {tuple(shape[1:])} ({have} values) to "
                         f"{target} ({want} values)")


def reshape_target(shape: Any) -> tuple[int, ...]:
    """``Reshape``'s target: an int or a non-empty sequence of positive ints, as a tuple."""
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    target = tuple(check_positive_int(f"Reshape shape[{i}]", s) for i, s in enumerate(shape))
    if not target:
        raise ValueError("Reshape shape: expected at least one dimension, got ()")
    return target


def check_images(owner: str, name: str, shape: tuple[int, ...], expected: tuple[int, int, int]) -> None:
    """A model built for one image size (the autoencoder): ``shape`` must be (N, C, H, W) with N >= 1 and
    (C, H, W) == ``expected``."""
    C, H, W = expected
    if len(shape) != 4:
        hint = ""
        if len(shape) == 3 and shape[1:] == (H, W):
            hint = " (add the channel axis with x[:, None])"
        elif len(shape) == 2 and shape[1] == C * H * W:
            hint = f" (reshape flattened images with x.reshape(-1, {C}, {H}, {W}))"
        raise ValueError(f"{owner}: {name} expected a 4-D (batch, channels, height, width) array of shape "
                         f"(N, {C}, {H}, {W}), got {len(shape)}-D shape {tuple(shape)}{hint}")
    if tuple(shape[1:]) != expected:
        raise ValueError(f"{owner}: {name} expected images of shape {expected} (channels, height, width), the "
                         f"size the model was built for, got {tuple(shape[1:])}; build Autoencoder(image_size="
                         f"{tuple(shape[2:])}, channels={shape[1]}) for these")
    if shape[0] == 0:
        raise ValueError(f"{owner}: {name} expected at least one image, got shape {tuple(shape)}")
