"""Sliding-window geometry and shape checks shared by the image layers (convolution, pooling, flatten,
reshape) of both backends.

Both ``scratch`` and ``torch_impl`` validate their arguments and inputs here, so a bad kernel size, stride,
padding or input reads the same in either backend, and both agree on what ``padding="same"`` means.

Conventions (NCHW, as PyTorch):

- input ``(batch, channels, height, width)``; a window of ``(kh, kw)`` moves by ``stride`` in both directions;
- the output size along an axis of padded length ``n_pad`` is ``(n_pad - k) // stride + 1`` (the last
  incomplete window is dropped, as ``nn.Conv2d`` and ``nn.MaxPool2d`` with ``ceil_mode=False`` do);
- ``padding="same"`` pads ``k - 1`` zeros per axis, ``(k - 1) // 2`` before and the rest after, so an even
  kernel gets the extra zero on the bottom/right: exactly ``nn.Conv2d(padding="same")``. Like PyTorch it
  needs ``stride == 1`` (with a stride the output cannot keep the input's size).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlfs.errors import check_positive_int

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)


def pair(name: str, value: Any) -> tuple[int, int]:
    """An int ``k`` or a pair ``(kh, kw)`` of positive ints, as ``(kh, kw)``."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an int or a pair (height, width), got {len(value)} values {value!r}")
        return (check_positive_int(f"{name}[0]", value[0]), check_positive_int(f"{name}[1]", value[1]))
    k = check_positive_int(name, value)
    return (k, k)


def resolve_padding(padding: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> Pads:
    """``"same"``, ``"valid"`` or an int >= 0 as ``(top, bottom, left, right)`` zeros."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (the output keeps the input's size only then, "
                                 f"as in PyTorch), got stride {stride}; pass an int padding instead")
            (kh, kw) = kernel
            return ((kh - 1) // 2, kh - 1 - (kh - 1) // 2, (kw - 1) // 2, kw - 1 - (kw - 1) // 2)
        raise ValueError(f"padding: expected 'same', 'valid' or an int >= 0, got {padding!r}")
    if isinstance(padding, bool) or not isinstance(padding, int):
        raise TypeError(f"padding: expected 'same', 'valid' or an int >= 0, got {type(padding).__name__} "
                        f"{padding!r}")
    if padding < 0:
        raise ValueError(f"padding: expected 'same', 'valid' or an int >= 0, got {padding}")
    return (padding, padding, padding, padding)


def check_image(layer: str, shape: tuple[int, ...]) -> None:
    """The input of a convolution or pooling layer must be 4-D (batch, channels, height, width)."""
    if len(shape) != 4:
        hint = " (add the channel axis with x[:, None] for grayscale images)" if len(shape) == 3 else ""
        raise ValueError(f"{layer}: expected a 4-D (batch, channels, height, width) input, got {len(shape)}-D "
                         f"shape {tuple(shape)}{hint}")


def output_hw(layer: str, hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
              pads: Pads = (0, 0, 0, 0)) -> tuple[int, int]:
    """The output ``(Ho, Wo)`` of windows ``kernel`` moved by ``stride`` over ``hw`` padded by ``pads``.

    Raises ``ValueError`` when the window is larger than the padded input (no window fits).
    """
    (h, w), (kh, kw), (sh, sw) = hw, kernel, stride
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    if kh > hp or kw > wp:
        padded = f" (padded by {pads} to {hp}x{wp})" if any(pads) else ""
        raise ValueError(f"{layer}: the {kh}x{kw} window does not fit in the {h}x{w} input{padded}; use a smaller "
                         f"kernel, more padding, or a larger input")
    return ((hp - kh) // sh + 1, (wp - kw) // sw + 1)


def check_reshape(layer: str, shape: tuple[int, ...], target: tuple[int, ...]) -> None:
    """The per-sample size of an input of ``shape`` must equal the product of ``target``."""
    if len(shape) < 2:
        raise ValueError(f"{layer}: expected an input with a batch axis and at least one more, got {len(shape)}-D "
                         f"shape {tuple(shape)}")
    have, want = int(np.prod(shape[1:])), int(np.prod(target))
    if have != want:
        raise ValueError(f"{layer}: cannot reshape samples of shape {tuple(shape[1:])} ({have} values) to "
                         f"{target} ({want} values)")


def conv_geometry(kernel_size: Any, stride: Any, padding: Any) -> tuple[tuple[int, int], tuple[int, int], Pads]:
    """A convolution's ``(kernel, stride, pads)`` from its arguments, checked: ``kernel_size`` and ``stride``
    as pairs, ``padding`` (``"same"``, ``"valid"`` or an int) as ``(top, bottom, left, right)`` zeros."""
    kernel, strides = pair("kernel_size", kernel_size), pair("stride", stride)
    return kernel, strides, resolve_padding(padding, kernel, strides)


def check_conv_input(layer: str, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                     pads: Pads, in_channels: int | None) -> None:
    """A convolution's input: 4-D, large enough for one window, with ``in_channels`` channels once built."""
    check_image(layer, shape)
    output_hw(layer, tuple(shape[2:]), kernel, stride, pads)
    if in_channels is not None and shape[1] != in_channels:
        raise ValueError(f"{layer}: expected {in_channels} input channels (the number it was built for), got "
                         f"{shape[1]} in shape {tuple(shape)}")


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
