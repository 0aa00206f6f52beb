"""PyTorch's options of Conv2D, MaxPool2D and AvgPool2D in every form: book = fast = torch, against
``torch.nn.functional`` directly, and bad values rejected exactly where PyTorch rejects them.

- A grid of option combinations (stride, pair padding, "same" with odd and even totals, "valid", dilation,
  groups, no bias, ceil_mode, count_include_pad, divisor_override, unbatched (C, H, W) input): output, input
  gradient and every parameter gradient, random non-zero weights and biases, a random upstream gradient,
  batch 1 and > 1, float64 at the table's rtol 1e-9 and float32 at its default; the book forms against the
  fast forms and against centred finite differences.
- Seeded random option combinations against ``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d`` with the
  weights loaded in the canonical layout through ``load_state_dict`` (how PyTorch's own samples, which pass
  the weight explicitly, are reproduced).
- ``BAD``: every rejected value, each checked three times: both backends (and the book forms) raise
  ``ValueError``/``TypeError`` naming the layer and the argument, and PyTorch itself raises on the same case;
  ``EDGES``: the limits PyTorch still accepts (a kernel exactly the padded input, padding exactly half the
  kernel, a ceil_mode window larger than the input, 1-tuples, ``stride=()``) run in every form.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.init import _calculate_fan_in_and_fan_out

import dlfs
from study.parity import check_finite_differences, check_layer_parity, compare, namespace

S, T, BOOK = dlfs.backend("scratch"), dlfs.backend("torch"), namespace("book")
DTYPES = ["float64", "float32"]
FORMS = [("scratch", "torch"), ("book", "scratch")]

# name -> (Conv2D keyword arguments, input shape: (N, C, H, W) or unbatched (C, H, W)); the book form is slow,
# so the images are a few pixels wide
CONV = {
    "pair_padding_stride": (dict(out_channels=3, kernel_size=(2, 3), stride=(2, 1), padding=(1, 2)), (2, 2, 5, 4)),
    "dilation_pair": (dict(out_channels=2, kernel_size=(3, 2), padding=(2, 1), dilation=(2, 3)), (1, 2, 5, 6)),
    "same_dilated_even_total": (dict(out_channels=3, kernel_size=3, padding="same", dilation=2), (2, 2, 4, 5)),
    "same_dilated_odd_total": (dict(out_channels=2, kernel_size=(2, 4), padding="same", dilation=(3, 1)),
                               (2, 3, 5, 4)),
    "valid_strided_dilated": (dict(out_channels=2, kernel_size=2, stride=2, padding="valid", dilation=2),
                              (2, 2, 6, 5)),
    "groups2_no_bias": (dict(out_channels=4, kernel_size=3, padding=1, groups=2, bias=False), (2, 4, 4, 5)),
    "depthwise_multiplier2": (dict(out_channels=6, kernel_size=(3, 2), padding=0, groups=3, activation="tanh"),
                              (1, 3, 4, 5)),
    "groups_dilated_strided": (dict(out_channels=4, kernel_size=2, stride=(1, 2), padding=(0, 1), dilation=(2, 1),
                                    groups=2), (2, 2, 5, 6)),
    "unbatched_groups": (dict(out_channels=4, kernel_size=3, padding=(1, 0), groups=2), (2, 4, 5)),
    "unbatched_flatten_dropout_free": (dict(out_channels=2, kernel_size=2, stride=2, padding=1, flatten=True),
                                       (3, 4, 5)),
}
POOL = {
    "max_padded_ceil": (lambda B: B.MaxPool2D(3, stride=2, padding=1, ceil_mode=True), (2, 2, 6, 7)),
    "max_dilated_pair_padding": (lambda B: B.MaxPool2D((3, 2), stride=(1, 2), padding=(1, 1), dilation=(2, 1)),
                                 (1, 2, 7, 6)),
    "max_ceil_window_past_the_padding": (lambda B: B.MaxPool2D(3, stride=2, ceil_mode=True), (2, 1, 6, 6)),
    "max_stride_empty_tuple": (lambda B: B.MaxPool2D((2, 3), stride=()), (1, 2, 5, 7)),
    "max_unbatched_dilated_ceil": (lambda B: B.MaxPool2D(2, stride=2, padding=1, dilation=2, ceil_mode=True),
                                   (2, 5, 6)),
    "avg_padded_count_pad": (lambda B: B.AvgPool2D(3, stride=2, padding=1), (2, 2, 6, 5)),
    "avg_padded_ceil_count_pad": (lambda B: B.AvgPool2D(3, stride=2, padding=1, ceil_mode=True), (1, 2, 6, 7)),
    "avg_no_pad_count_ceil": (lambda B: B.AvgPool2D((2, 3), stride=(2, 1), padding=(1, 1), ceil_mode=True,
                                                    count_include_pad=False), (2, 2, 5, 6)),
    "avg_divisor_override": (lambda B: B.AvgPool2D(2, stride=1, padding=1, divisor_override=3), (2, 1, 4, 5)),
    "avg_negative_divisor_ceil": (lambda B: B.AvgPool2D(3, stride=2, ceil_mode=True, divisor_override=-2),
                                  (1, 2, 6, 6)),
    "avg_unbatched_no_pad_count": (lambda B: B.AvgPool2D(2, padding=1, count_include_pad=False), (2, 5, 4)),
}


def _conv(kwargs):
    return lambda B: B.Conv2D(**kwargs)


@pytest.mark.parametrize("forms", FORMS, ids=lambda f: f"{f[0]}-{f[1]}")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(CONV))
def test_conv2d_options_parity(case, dtype, forms):
    kwargs, shape = CONV[case]
    x = np.random.default_rng(1).standard_normal(shape)
    report = check_layer_parity(f"Conv2D {case}", _conv(kwargs), shape, dtype, x=x, forms=forms)
    params = (["grad:B"] if kwargs.get("bias", True) else []) + ["grad:W"]
    assert [c.name for c in report.comparisons] == ["output", "input_grad", *params]
    assert report.comparisons[1].shape == shape  # an unbatched input's gradient is (C, H, W) too


@pytest.mark.parametrize("case", sorted(CONV))
def test_conv2d_options_book_finite_differences(case):
    kwargs, shape = CONV[case]
    x = np.random.default_rng(2).standard_normal(shape)
    check_finite_differences(f"Conv2D book {case}", _conv(kwargs), shape, x=x, form="book")


@pytest.mark.parametrize("forms", FORMS, ids=lambda f: f"{f[0]}-{f[1]}")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(POOL))
def test_pooling_options_parity(case, dtype, forms):
    build, shape = POOL[case]
    x = np.random.default_rng(3).standard_normal(shape)
    report = check_layer_parity(f"pooling {case}", build, shape, dtype, x=x, forms=forms)
    assert [c.name for c in report.comparisons] == ["output", "input_grad"]
    assert report.comparisons[1].shape == shape


@pytest.mark.parametrize("case", sorted(POOL))
def test_pooling_options_book_finite_differences(case):
    build, shape = POOL[case]
    x = np.random.default_rng(4).standard_normal(shape)  # no ties: max pooling is differentiable there
    check_finite_differences(f"pooling book {case}", build, shape, x=x, form="book")


# --- against torch.nn.functional, the weights loaded in the canonical layout ----------------------------------
def _check_against(layer, x, fn, params=()):
    """``layer`` (already holding ``params``' values) against ``fn(x_tensor, *param_tensors)``: output, input
    gradient and the parameter gradients (canonical layout: W = weight.permute(1, 0, 2, 3))."""
    xt = torch.tensor(x, requires_grad=True)
    pt = [torch.tensor(p, requires_grad=True) for p in params]
    ref = fn(xt, *pt)
    out = layer.forward(x, training=False)
    compare("output", out, ref.detach())
    g = np.random.default_rng(5).standard_normal(out.shape)
    ref.backward(torch.tensor(g))
    compare("input_grad", layer.backward(g), xt.grad)
    if params:
        grads = layer.grad_dict()
        compare("grad:W", grads["W"], pt[0].grad.permute(1, 0, 2, 3))
        if len(pt) > 1:
            compare("grad:B", grads["B"], pt[1].grad.reshape(1, -1, 1, 1))


def _conv_cases(n):
    rng = np.random.default_rng(6)
    for _ in range(n):
        G = int(rng.choice([1, 1, 2, 3]))
        C, O = G * int(rng.integers(1, 3)), G * int(rng.integers(1, 3))
        k = [1, 2, 3, (2, 3), (3, 1)][rng.integers(5)]
        d = [1, 2, (1, 2), (2, 3)][rng.integers(4)]
        padding = [0, 1, (1, 2), (0, 2), "valid", "same"][rng.integers(6)]
        s = 1 if padding == "same" else [1, 2, (1, 2), (2, 1)][rng.integers(4)]
        shape = (C, int(rng.integers(5, 8)), int(rng.integers(5, 8)))
        if rng.random() < 0.7:
            shape = (int(rng.integers(1, 4)), *shape)
        yield dict(out_channels=O, kernel_size=k, stride=s, padding=padding, dilation=d, groups=G,
                   bias=bool(rng.random() < 0.7)), shape


@pytest.mark.parametrize("B", [S, T, BOOK], ids=["scratch", "torch", "book"])
def test_against_torch_functional(B):
    """Random option combinations against ``F.conv2d`` (weights passed explicitly, as PyTorch's samples
    pass them), ``F.max_pool2d`` and ``F.avg_pool2d``."""
    rng = np.random.default_rng(7)
    for kwargs, shape in list(_conv_cases(24))[: 8 if B is BOOK else 24]:
        x = rng.standard_normal(shape)
        k = kwargs["kernel_size"] if isinstance(kwargs["kernel_size"], tuple) else (kwargs["kernel_size"],) * 2
        O, G = kwargs["out_channels"], kwargs["groups"]
        weight = rng.standard_normal((O, shape[-3] // G, *k))
        params = (weight,) + ((rng.standard_normal(O),) if kwargs["bias"] else ())
        layer = B.Conv2D(**kwargs)
        layer.forward(x)
        layer.load_state_dict({"W": weight.transpose(1, 0, 2, 3), **({"B": params[1].reshape(1, O, 1, 1)}
                                                                        if kwargs["bias"] else {})})
        a = dict(stride=kwargs["stride"], padding=kwargs["padding"], dilation=kwargs["dilation"], groups=G)
        with warnings.catch_warnings():  # F.conv2d(padding="same") warns that it pads with a copy
            warnings.simplefilter("ignore", UserWarning)
            _check_against(layer, x, lambda xt, w, b=None, a=a: F.conv2d(xt, w, b, **a), params)
    for _ in range(20):
        k = [1, 2, 3, (2, 3), (3, 2)][rng.integers(5)]
        kk = k if isinstance(k, tuple) else (k, k)
        s = [None, 1, 2, (1, 2), 3][rng.integers(5)]
        p = (int(rng.integers(0, kk[0] // 2 + 1)), int(rng.integers(0, kk[1] // 2 + 1)))
        d, ceil = [1, 2, (1, 2)][rng.integers(3)], bool(rng.random() < 0.5)
        x = rng.standard_normal((2, 2, int(rng.integers(6, 9)), int(rng.integers(6, 9)))[int(rng.random() < 0.3):])
        ref = F.max_pool2d(torch.tensor(x), k, s, p, d, ceil)
        if torch.isfinite(ref).all():  # (a dilated window can fall entirely into padding: -inf, see the docs)
            _check_against(B.MaxPool2D(k, s, p, d, ceil), x, lambda xt, a=(k, s, p, d, ceil): F.max_pool2d(xt, *a))
        cip, div = bool(rng.random() < 0.5), [None, None, 3, -2][rng.integers(4)]
        a = (k, s, p, ceil, cip, div)
        _check_against(B.AvgPool2D(*a), x, lambda xt, a=a: F.avg_pool2d(xt, *a))


def test_same_padding_is_pytorchs_for_every_total():
    """"same" pads d*(k - 1) zeros per axis, the odd one bottom/right: F.conv2d(padding="same") exactly."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 6, 5))
    for k, d in [(2, 1), (3, 2), ((2, 3), (3, 2)), (4, 1), ((4, 2), 2)]:
        layer = S.Conv2D(3, k, padding="same", dilation=d, bias=False)
        out = layer.forward(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            expected = F.conv2d(torch.tensor(x), torch.tensor(layer.state_dict()["W"].transpose(1, 0, 2, 3)),
                                padding="same", dilation=d)
        assert out.shape == (2, 3, 6, 5)
        compare(f"same k={k} d={d}", out, expected)
        compare(f"same k={k} d={d} torch", T.Conv2D(3, k, padding="same", dilation=d, bias=False).forward(x), out)


def test_avg_pool_divisors_by_hand():
    """A last ceil_mode window that runs past the padded edge: its divisor stops at that edge."""
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4)
    expected = {  # windows start at -1, 1, 3 (padding 1 on each side, the last runs one past the right pad)
        (True, None): [(0 + 1 + 2) / 3, (2 + 3 + 4) / 3, (4 + 0) / 2],
        (False, None): [(1 + 2) / 2, (2 + 3 + 4) / 3, 4 / 1],
        (True, 5): [3 / 5, 9 / 5, 4 / 5],
    }
    for form in (S, T, BOOK):
        for (cip, div), want in expected.items():
            layer = form.AvgPool2D((1, 3), stride=(1, 2), padding=(0, 1), ceil_mode=True, count_include_pad=cip,
                                   divisor_override=div)
            compare("by hand", layer.forward(x)[0, 0, 0], np.array(want))
            compare("F.avg_pool2d", np.array(want), F.avg_pool2d(torch.tensor(x), (1, 3), (1, 2), (0, 1), True,
                                                                 cip, div)[0, 0, 0])
        # ceil_mode's rule: a last window that would start in the right padding is dropped (2 windows, not 3)
        assert form.MaxPool2D((1, 2), stride=(1, 2), padding=(0, 1), ceil_mode=True).forward(x[..., :3]).shape == (
            1, 1, 1, 2)


def test_unbatched_is_the_batch_of_one(B):
    """A (C, H, W) image gives what the batch (1, C, H, W) gives, without the batch axis, in every layer."""
    x = np.random.default_rng(9).standard_normal((4, 5, 6))
    for build in (lambda: B.Conv2D(4, 3, groups=2, flatten=True), lambda: B.MaxPool2D(2, padding=1),
                  lambda: B.AvgPool2D(3, stride=1, ceil_mode=True)):
        one, batch = build(), build()
        out = one.forward(x)
        compare("unbatched", out, batch.forward(x[None])[0])
        g = np.random.default_rng(10).standard_normal(out.shape)
        compare("unbatched dx", one.backward(g), batch.backward(g[None])[0])
    assert B.Conv2D(4, 3, groups=2, flatten=True).forward(x).shape == (4 * 5 * 6,)


def test_grouped_weights_layout_fans_and_exchange():
    """W is (C/groups, O, kh, kw) = nn.Conv2d.weight.permute(1, 0, 2, 3); the draws are bit-identical across
    backends; glorot's fans are torch.nn.init's for the grouped weight; scratch -> torch -> scratch is exact."""
    x = np.random.default_rng(11).standard_normal((2, 6, 5, 4)).astype("float32")
    nets = [B.NeuralNetwork([B.Conv2D(9, (3, 2), groups=3, weight_init="glorot")], B.MeanSquaredError(), seed=3)
            for B in (S, T)]
    for net in nets:
        net.forward(x)
    ss, ts = nets[0].state_dict(), nets[1].state_dict()
    assert {k: v.shape for k, v in ss.items()} == {"layers.0.W": (2, 9, 3, 2), "layers.0.B": (1, 9, 1, 1)}
    for k in ss:
        np.testing.assert_array_equal(ss[k], ts[k])
    conv = nets[1].layers[0].conv
    assert conv.groups == 3 and tuple(conv.weight.shape) == (9, 2, 3, 2)
    np.testing.assert_array_equal(conv.weight.detach().numpy(), ss["layers.0.W"].transpose(1, 0, 2, 3))
    state = {k: np.random.default_rng(12).standard_normal(v.shape).astype("float32") for k, v in ss.items()}
    nets[1].load_state_dict(state)
    nets[0].load_state_dict(nets[1].state_dict())
    for k in state:
        np.testing.assert_array_equal(nets[0].state_dict()[k], state[k])
    fan_in, fan_out = _calculate_fan_in_and_fan_out(nn.Conv2d(30, 40, 5, groups=5).weight)
    assert (fan_in, fan_out) == (30 // 5 * 25, 40 * 25)
    layer = S.Conv2D(40, 5, groups=5, weight_init="glorot")
    layer.rng = np.random.default_rng(13)
    layer.forward(np.zeros((1, 30, 5, 5)))
    W = layer.state_dict()["W"].ravel()
    std = np.sqrt(2.0 / (fan_in + fan_out))
    assert scipy.stats.kstest(W, "norm", args=(0, std)).pvalue > 1e-3
    assert scipy.stats.kstest(W, "norm", args=(0, np.sqrt(2.0 / (30 * 25 + 40 * 25)))).pvalue < 1e-6


# --- bad input: rejected in every form, and by PyTorch ----------------------------------------------------------
X4, X3 = np.zeros((1, 4, 6, 6)), np.zeros((1, 3, 6, 6))
XT4, XT3 = torch.zeros(1, 4, 6, 6), torch.zeros(1, 3, 6, 6)
W4 = torch.zeros(2, 4, 3, 3)


def built(layer, x):
    layer.forward(x)
    return layer


# id -> (our call on a form B, PyTorch's call on the same case, our error type, what our message names)
BAD = {
    "conv padding=-1": (lambda B: B.Conv2D(2, 3, padding=-1), lambda: F.conv2d(XT4, W4, padding=-1), ValueError,
                        "Conv2D padding"),
    "conv padding=(1, -1)": (lambda B: B.Conv2D(2, 3, padding=(1, -1)), lambda: F.conv2d(XT4, W4, padding=(1, -1)),
                             ValueError, "Conv2D padding[1]"),
    "conv padding per side (4 values)": (lambda B: B.Conv2D(2, 3, padding=(1, 1, 1, 1)), lambda: nn.Conv2d(
        4, 2, 3, padding=(1, 1, 1, 1))(XT4), ValueError, "Conv2D padding"),
    "conv padding='full'": (lambda B: B.Conv2D(2, 3, padding="full"), lambda: nn.Conv2d(4, 2, 3, padding="full"),
                            ValueError, "Conv2D padding"),
    "conv padding=1.5": (lambda B: B.Conv2D(2, 3, padding=1.5), lambda: nn.Conv2d(4, 2, 3, padding=1.5)(XT4),
                         TypeError, "Conv2D padding"),
    "conv stride=0": (lambda B: B.Conv2D(2, 3, stride=0, padding=0), lambda: F.conv2d(XT4, W4, stride=0),
                      ValueError, "Conv2D stride"),
    "conv stride=(1, -1)": (lambda B: B.Conv2D(2, 3, stride=(1, -1), padding=0), lambda: F.conv2d(
        XT4, W4, stride=(1, -1)), ValueError, "Conv2D stride[1]"),
    "conv stride=()": (lambda B: B.Conv2D(2, 3, stride=(), padding=0), lambda: F.conv2d(XT4, W4, stride=()),
                       ValueError, "Conv2D stride"),
    "conv dilation=0": (lambda B: B.Conv2D(2, 3, dilation=0), lambda: F.conv2d(XT4, W4, dilation=0), ValueError,
                        "Conv2D dilation"),
    "conv dilation=(1, -2)": (lambda B: B.Conv2D(2, 3, dilation=(1, -2)), lambda: F.conv2d(
        XT4, W4, dilation=(1, -2)), ValueError, "Conv2D dilation[1]"),
    "conv kernel_size=0": (lambda B: B.Conv2D(2, 0), lambda: nn.Conv2d(4, 2, 0)(XT4), ValueError,
                           "Conv2D kernel_size"),
    "conv kernel_size=(3,)": (lambda B: B.Conv2D(2, (3,)), lambda: nn.Conv2d(4, 2, (3,))(XT4), ValueError,
                              "Conv2D kernel_size"),
    "conv kernel_size=(3, 3, 3)": (lambda B: B.Conv2D(2, (3, 3, 3)), lambda: nn.Conv2d(4, 2, (3, 3, 3))(XT4),
                                   ValueError, "Conv2D kernel_size"),
    "conv groups=0": (lambda B: B.Conv2D(2, 3, groups=0), lambda: nn.Conv2d(4, 2, 3, groups=0), ValueError,
                      "Conv2D groups"),
    "conv groups=1.5": (lambda B: B.Conv2D(3, 3, groups=1.5), lambda: nn.Conv2d(3, 3, 3, groups=1.5), TypeError,
                        "Conv2D groups"),
    "conv groups not dividing out_channels": (lambda B: B.Conv2D(3, 3, groups=2), lambda: nn.Conv2d(
        4, 3, 3, groups=2), ValueError, "Conv2D groups"),
    "conv groups not dividing in_channels": (lambda B: B.Conv2D(2, 3, groups=2).forward(X3), lambda: nn.Conv2d(
        3, 2, 3, groups=2), ValueError, "groups=2"),
    "conv same with stride 2": (lambda B: B.Conv2D(2, 3, stride=2), lambda: nn.Conv2d(
        4, 2, 3, stride=2, padding="same"), ValueError, "Conv2D padding='same'"),
    "conv same with stride (1, 2)": (lambda B: B.Conv2D(2, 3, stride=(1, 2), padding="same"), lambda: F.conv2d(
        XT4, W4, stride=(1, 2), padding="same"), ValueError, "Conv2D padding='same'"),
    "conv kernel larger than the padded input": (lambda B: B.Conv2D(2, 7, padding=0).forward(X4), lambda: F.conv2d(
        XT4, torch.zeros(2, 4, 7, 7)), ValueError, "Conv2D(2, kernel_size=7): the 7x7 window"),
    "conv dilated kernel larger than the padded input": (lambda B: B.Conv2D(2, 3, padding=1, dilation=4).forward(
        X4), lambda: F.conv2d(XT4, W4, padding=1, dilation=4), ValueError, "dilated by (4, 4) to 9x9"),
    "conv 2-D input": (lambda B: B.Conv2D(2, 3).forward(X4[0, 0]), lambda: F.conv2d(XT4[0, 0], W4), ValueError,
                       "Conv2D(2, kernel_size=3): expected a 3-D"),
    "conv 5-D input": (lambda B: B.Conv2D(2, 3).forward(X4[None]), lambda: F.conv2d(XT4[None], W4), ValueError,
                       "Conv2D(2, kernel_size=3): expected a 3-D"),
    "conv channels differ from the built ones": (lambda B: built(B.Conv2D(2, 3), X4).forward(X3), lambda: F.conv2d(
        XT3, W4), ValueError, "expected 4 input channels"),
    "max padding > kernel_size // 2": (lambda B: B.MaxPool2D(3, padding=2), lambda: F.max_pool2d(
        XT4, 3, padding=2), ValueError, "MaxPool2D padding"),
    "max padding=1 for kernel_size=1": (lambda B: B.MaxPool2D(1, padding=1), lambda: F.max_pool2d(
        XT4, 1, padding=1), ValueError, "MaxPool2D padding"),
    "max padding (1, 2) for kernel_size (3, 2)": (lambda B: B.MaxPool2D((3, 2), padding=(1, 2)),
                                                  lambda: F.max_pool2d(XT4, (3, 2), padding=(1, 2)), ValueError,
                                                  "MaxPool2D padding"),
    "max padding > kernel_size // 2 even dilated": (lambda B: B.MaxPool2D(3, padding=2, dilation=2),
                                                    lambda: F.max_pool2d(XT4, 3, padding=2, dilation=2), ValueError,
                                                    "MaxPool2D padding"),
    "avg padding > kernel_size // 2": (lambda B: B.AvgPool2D(2, padding=2), lambda: F.avg_pool2d(
        XT4, 2, padding=2), ValueError, "AvgPool2D padding"),
    "avg padding=-1": (lambda B: B.AvgPool2D(2, padding=-1), lambda: F.avg_pool2d(XT4, 2, padding=-1), ValueError,
                       "AvgPool2D padding"),
    "max padding='same'": (lambda B: B.MaxPool2D(3, padding="same"), lambda: F.max_pool2d(XT4, 3, padding="same"),
                           TypeError, "MaxPool2D padding"),
    "avg padding (1, 1, 1)": (lambda B: B.AvgPool2D(3, padding=(1, 1, 1)), lambda: F.avg_pool2d(
        XT4, 3, padding=(1, 1, 1)), ValueError, "AvgPool2D padding"),
    "max stride=0": (lambda B: B.MaxPool2D(2, stride=0), lambda: F.max_pool2d(XT4, 2, stride=0), ValueError,
                     "MaxPool2D stride"),
    "avg stride=-1": (lambda B: B.AvgPool2D(2, stride=-1), lambda: F.avg_pool2d(XT4, 2, stride=-1), ValueError,
                      "AvgPool2D stride"),
    "max stride (1, 1, 1)": (lambda B: B.MaxPool2D(2, stride=(1, 1, 1)), lambda: F.max_pool2d(
        XT4, 2, stride=(1, 1, 1)), ValueError, "MaxPool2D stride"),
    "max kernel_size=0": (lambda B: B.MaxPool2D(0), lambda: F.max_pool2d(XT4, 0), ValueError,
                          "MaxPool2D kernel_size"),
    "avg kernel_size=2.0": (lambda B: B.AvgPool2D(2.0), lambda: F.avg_pool2d(XT4, 2.0), TypeError,
                            "AvgPool2D kernel_size"),
    "max kernel_size (2, 2, 2)": (lambda B: B.MaxPool2D((2, 2, 2)), lambda: F.max_pool2d(XT4, (2, 2, 2)),
                                  ValueError, "MaxPool2D kernel_size"),
    "max dilation=0": (lambda B: B.MaxPool2D(2, dilation=0), lambda: F.max_pool2d(XT4, 2, dilation=0), ValueError,
                       "MaxPool2D dilation"),
    "max ceil_mode=1": (lambda B: B.MaxPool2D(2, ceil_mode=1), lambda: F.max_pool2d(XT4, 2, ceil_mode=1),
                        TypeError, "MaxPool2D ceil_mode"),
    "avg divisor_override=0": (lambda B: B.AvgPool2D(2, divisor_override=0), lambda: F.avg_pool2d(
        XT4, 2, divisor_override=0), ValueError, "AvgPool2D divisor_override"),
    "avg divisor_override=2.5": (lambda B: B.AvgPool2D(2, divisor_override=2.5), lambda: F.avg_pool2d(
        XT4, 2, divisor_override=2.5), TypeError, "AvgPool2D divisor_override"),
    "max window larger than the input": (lambda B: B.MaxPool2D(7).forward(X4), lambda: F.max_pool2d(XT4, 7),
                                         ValueError, "MaxPool2D(7): the 7x7 window"),
    "avg window larger than the input, stride 1, ceil_mode": (lambda B: B.AvgPool2D(
        7, stride=1, ceil_mode=True).forward(X4), lambda: F.avg_pool2d(XT4, 7, 1, ceil_mode=True), ValueError,
        "AvgPool2D(7): the 7x7 window"),
    "max dilated window larger than the input": (lambda B: B.MaxPool2D(3, dilation=3).forward(X4),
                                                 lambda: F.max_pool2d(XT4, 3, dilation=3), ValueError,
                                                 "dilated by (3, 3) to 7x7"),
    "max 2-D input": (lambda B: B.MaxPool2D(2).forward(X4[0, 0]), lambda: F.max_pool2d(XT4[0, 0], 2), ValueError,
                      "MaxPool2D(2): expected a 3-D"),
    "avg 5-D input": (lambda B: B.AvgPool2D(2).forward(X4[None]), lambda: F.avg_pool2d(XT4[None], 2), ValueError,
                      "AvgPool2D(2): expected a 3-D"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_rejects_what_pytorch_rejects(case):
    ours, theirs, error, names = BAD[case]
    with pytest.raises(Exception):  # noqa: B017 -- PyTorch's own error, whatever its type
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            theirs()
    for form in (S, T, BOOK):
        with pytest.raises(error) as info:
            ours(form)
        assert names in str(info.value), (form.__name__, str(info.value))


# the edges PyTorch accepts: each must run in every form, with PyTorch's output shape (nothing rejected too eagerly)
EDGES = {
    "conv kernel exactly the padded input": (lambda B: B.Conv2D(2, 8, padding=1), lambda x: F.conv2d(
        x, torch.zeros(2, 4, 8, 8, dtype=x.dtype), padding=1)),
    "conv dilated span exactly the input": (lambda B: B.Conv2D(2, (2, 3), padding=0, dilation=(5, 2)),
                                            lambda x: F.conv2d(x, torch.zeros(2, 4, 2, 3, dtype=x.dtype),
                                                               dilation=(5, 2))),
    "conv 1-tuples for stride, padding, dilation": (lambda B: B.Conv2D(2, 3, stride=(2,), padding=(1,),
                                                                       dilation=(2,)),
                                                    lambda x: F.conv2d(x, torch.zeros(2, 4, 3, 3, dtype=x.dtype),
                                                                       stride=(2,), padding=(1,), dilation=(2,))),
    "max padding exactly kernel_size // 2": (lambda B: B.MaxPool2D((3, 2), padding=(1, 1)),
                                             lambda x: F.max_pool2d(x, (3, 2), padding=(1, 1))),
    "max window larger than the input, ceil_mode": (lambda B: B.MaxPool2D(8, ceil_mode=True),
                                                    lambda x: F.max_pool2d(x, 8, ceil_mode=True)),
    "avg 1-tuples, stride ()": (lambda B: B.AvgPool2D((2,), stride=(), padding=(1,)),
                                lambda x: F.avg_pool2d(x, (2,), (), (1,))),
}


@pytest.mark.parametrize("case", list(EDGES))
def test_accepts_what_pytorch_accepts(case):
    ours, theirs = EDGES[case]
    x = np.random.default_rng(14).standard_normal((1, 4, 6, 6))
    expected = theirs(torch.tensor(x))
    for form in (S, T, BOOK):  # the shapes (the values of every option are compared above)
        assert ours(form).forward(x).shape == tuple(expected.shape), (case, form.__name__)
