"""Parity of chapter 5's convolution: the vectorised ``Conv2D`` and the book form's loops against
``nn.Conv2d`` and against finite differences; the canonical layout; bad input.

Shapes are asymmetric on purpose (C != O, H != W, batch 1 and > 1), weights and biases random and non-zero,
the upstream gradient random; float64 at rtol 1e-9 and float32 at the table's tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

import dlfs
import scratch.fast.conv
from scratch.conv import Conv2D as BookConv2D
from scratch.conv import conv_1d, conv_1d_grads, conv_2d, conv_2d_grads
from study.parity import check_finite_differences, check_layer_parity, compare

S, T = dlfs.backend("scratch"), dlfs.backend("torch")

# name -> (Conv2D keyword arguments, input shape (N, C, H, W))
CASES = {
    "same_odd": (dict(out_channels=3, kernel_size=3), (2, 2, 5, 7)),
    "same_odd_batch1_in1": (dict(out_channels=4, kernel_size=5), (1, 1, 6, 5)),
    "same_even": (dict(out_channels=4, kernel_size=4), (3, 3, 6, 5)),
    "valid_tanh_flatten": (dict(out_channels=3, kernel_size=3, padding="valid", activation="tanh", flatten=True),
                           (2, 2, 5, 6)),
    "stride2_pad1_rect_kernel": (dict(out_channels=3, kernel_size=(2, 3), stride=2, padding=1), (2, 2, 7, 6)),
    "stride_1x2_valid": (dict(out_channels=2, kernel_size=3, stride=(1, 2), padding="valid"), (1, 3, 5, 8)),
    "no_bias_sigmoid": (dict(out_channels=2, kernel_size=2, bias=False, activation="sigmoid"), (2, 3, 4, 5)),
}
# the loop version is slow: a few small cases
LOOP_CASES = ["same_odd", "same_odd_batch1_in1", "same_even", "stride2_pad1_rect_kernel", "no_bias_sigmoid"]


def _loops_or(kwargs):
    return lambda B: BookConv2D(**kwargs) if B is S else B.Conv2D(**kwargs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_conv2d_parity(case, dtype):
    kwargs, shape = CASES[case]
    report = check_layer_parity(f"Conv2D {case}", lambda B: B.Conv2D(**kwargs), shape, dtype)
    names = [c.name for c in report.comparisons]
    assert names == ["output", "input_grad"] + (["grad:B"] if kwargs.get("bias", True) else []) + ["grad:W"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv2d_finite_differences(case):
    kwargs, shape = CASES[case]
    check_finite_differences(f"Conv2D {case}", lambda B: B.Conv2D(**kwargs), shape)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", LOOP_CASES)
def test_conv2d_loops_parity(case, dtype):
    kwargs, shape = CASES[case]
    check_layer_parity(f"Conv2D book {case}", _loops_or(kwargs), shape, dtype)


@pytest.mark.parametrize("case", LOOP_CASES)
def test_conv2d_loops_finite_differences_and_vectorised(case):
    kwargs, shape = CASES[case]
    # finite differences run the loop forward twice per input and weight: a smaller input keeps it fast
    small = (min(shape[0], 2), min(shape[1], 2), 4, 5)
    check_finite_differences(f"Conv2D book {case}", lambda B: BookConv2D(**kwargs), small)
    # the loop and the vectorised layer agree to float64 rounding
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    loops, fast = BookConv2D(**kwargs), S.Conv2D(**kwargs)
    out_l, out_f = loops.forward(x), fast.forward(x)  # same default rng: the same initial weights
    compare("output", out_l, out_f)
    g = rng.standard_normal(out_f.shape)
    compare("input_grad", loops.backward(g), fast.backward(g))
    for k, v in fast.grad_dict().items():
        compare(f"grad:{k}", loops.grad_dict()[k], v)


def test_conv_1d_teaching_steps():
    rng = np.random.default_rng(0)
    for k in (3, 4):  # odd and even kernels: "same" as PyTorch pads it
        x, w, g = rng.standard_normal(9), rng.standard_normal(k), rng.standard_normal(9)
        xt = torch.tensor(x[None, None], requires_grad=True)
        wt = torch.tensor(w[None, None], requires_grad=True)
        with warnings.catch_warnings():  # PyTorch warns (once per process) that it pads with a copy
            warnings.simplefilter("ignore", UserWarning)
            yt = F.conv1d(xt, wt, padding="same")
        yt.backward(torch.tensor(g[None, None]))
        compare("conv_1d", conv_1d(x, w), yt.detach()[0, 0])
        dx, dw = conv_1d_grads(x, w, g)
        compare("conv_1d dx", dx, xt.grad[0, 0])
        compare("conv_1d dw", dw, wt.grad[0, 0])
    x, w = rng.standard_normal(8), rng.standard_normal(3)  # numpy's own correlation agrees for an odd kernel
    compare("np.correlate", conv_1d(x, w), np.correlate(x, w, mode="same"))


def test_conv_2d_teaching_step_with_stride_and_padding():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((7, 6)), rng.standard_normal((3, 2))
    pads, stride = (1, 0, 2, 1), (2, 1)
    y = conv_2d(x, w, stride, pads)
    xt = torch.tensor(x[None, None], requires_grad=True)
    wt = torch.tensor(w[None, None], requires_grad=True)
    yt = F.conv2d(F.pad(xt, (2, 1, 1, 0)), wt, stride=stride)  # F.pad takes (left, right, top, bottom)
    compare("conv_2d", y, yt.detach()[0, 0])
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g[None, None]))
    dx, dw = conv_2d_grads(x, w, g, stride, pads)
    compare("conv_2d dx", dx, xt.grad[0, 0])
    compare("conv_2d dw", dw, wt.grad[0, 0])


def test_same_padding_with_even_kernel_is_pytorchs():
    """Our "same" for an even kernel (one more zero bottom/right) is exactly F.conv2d(padding="same")."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 5))
    layer = S.Conv2D(2, (4, 2), bias=False)
    out = layer.forward(x)
    W = torch.tensor(layer.state_dict()["W"].transpose(1, 0, 2, 3))  # canonical (C, O, kh, kw) -> (O, C, kh, kw)
    with warnings.catch_warnings():  # PyTorch warns (once per process) that it pads with a copy
        warnings.simplefilter("ignore", UserWarning)
        expected = F.conv2d(torch.tensor(x), W, padding="same")
    assert out.shape == (2, 2, 6, 5)
    compare("same, even kernel", out, expected)


def test_canonical_layout_and_exchange():
    """Canonical W is the book's (C, O, kh, kw) = nn.Conv2d.weight.permute(1, 0, 2, 3); B is (1, O, 1, 1)."""
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4)).astype("float32")
    s_net = S.NeuralNetwork([S.Conv2D(5, (3, 2), weight_init="glorot")], S.MeanSquaredError(), seed=11)
    t_net = T.NeuralNetwork([T.Conv2D(5, (3, 2), weight_init="glorot")], T.MeanSquaredError(), seed=11)
    s_net.forward(x), t_net.forward(x)
    ss, ts = s_net.state_dict(), t_net.state_dict()
    assert {k: v.shape for k, v in ss.items()} == {"layers.0.W": (3, 5, 3, 2), "layers.0.B": (1, 5, 1, 1)}
    for k in ss:  # the same seed draws the same initial weights in both backends, bit for bit
        np.testing.assert_array_equal(ss[k], ts[k])
    conv = t_net.layers[0].conv
    np.testing.assert_array_equal(conv.weight.detach().numpy(), ss["layers.0.W"].transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(conv.bias.detach().numpy(), ss["layers.0.B"].reshape(5))
    # round trip scratch -> torch -> scratch is the identity
    state = {k: np.random.default_rng(4).standard_normal(v.shape).astype("float32") for k, v in ss.items()}
    t_net.load_state_dict(state)
    s_net.load_state_dict(t_net.state_dict())
    for k in state:
        np.testing.assert_array_equal(s_net.state_dict()[k], state[k])


def test_glorot_init_distribution():
    """glorot: N(0, 2 / (fan_in + fan_out)) with conv fans C*kh*kw and O*kh*kw, as torch.nn.init."""
    layer = S.Conv2D(40, 5, weight_init="glorot")
    layer.rng = np.random.default_rng(5)
    layer.forward(np.zeros((1, 30, 5, 5)))
    W = layer.state_dict()["W"].ravel()
    std = np.sqrt(2.0 / (30 * 25 + 40 * 25))
    assert scipy.stats.kstest(W, "norm", args=(0, std)).pvalue > 1e-3
    assert scipy.stats.kstest(W, "norm", args=(0, 1.5 * std)).pvalue < 1e-6  # the test can fail


def test_blocks_and_repeated_backward():
    """A small workspace splits the batch into blocks (the last is shorter); backward twice gives the same."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((7, 2, 5, 6))
    whole = S.Conv2D(3, 3)
    out = whole.forward(x)
    g = rng.standard_normal(out.shape)
    dx = whole.backward(g)
    grads = whole.grad_dict()
    op = whole.operations[0]
    per_sample = 2 * 3 * 3 * op.Ho * op.Wo * x.itemsize  # K = C*kh*kw rows of Ho*Wo columns
    old = scratch.fast.conv.WORKSPACE_BYTES
    try:
        scratch.fast.conv.WORKSPACE_BYTES = 2 * per_sample + 1  # room for two samples' columns
        blocked = S.Conv2D(3, 3)
        compare("output", blocked.forward(x), out)
        assert blocked.operations[0].block == 2
        for _ in range(2):  # the second backward rebuilds the columns the first one overwrote
            compare("input_grad", blocked.backward(g), dx)
            for k, v in blocked.grad_dict().items():
                compare(f"grad:{k}", v, grads[k])
    finally:
        scratch.fast.conv.WORKSPACE_BYTES = old


def test_dropout_masks_agree_across_backends():
    x = np.random.default_rng(8).standard_normal((3, 2, 4, 5))
    outs = []
    for B in (S, T):
        net = B.NeuralNetwork([B.Conv2D(3, 3, activation="tanh", dropout=0.4, flatten=True), B.Dense(2)],
                              B.SoftmaxCrossEntropy(), seed=9, dtype="float64")
        outs.append((net.forward(x, training=True), net.forward(x, training=False)))
    compare("training output (dropout)", outs[1][0], outs[0][0])
    compare("inference output", outs[1][1], outs[0][1])
    assert not np.allclose(outs[0][0], outs[0][1])  # dropout did something in training


# --- bad input ------------------------------------------------------------------------------------------------
def test_kernel_larger_than_padded_input(B):
    with pytest.raises(ValueError, match=r"Conv2D\(2, kernel_size=5\): the 5x5 window does not fit in the 4x6 "
                                         r"input; use a smaller kernel"):
        B.Conv2D(2, 5, padding="valid").forward(np.zeros((1, 1, 4, 6)))
    with pytest.raises(ValueError, match=r"5x5 window does not fit in the 2x2 input \(padded by \(1, 1, 1, 1\) to "
                                         r"4x4\)"):
        B.Conv2D(2, 5, padding=1).forward(np.zeros((1, 1, 2, 2)))


def test_channel_mismatch(B):
    layer = B.Conv2D(2, 3)
    layer.forward(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"Conv2D\(2, kernel_size=3\): expected 3 input channels \(the number it "
                                         r"was built for\), got 1 in shape \(1, 1, 5, 5\)"):
        layer.forward(np.zeros((1, 1, 5, 5)))


@pytest.mark.parametrize("shape", [(5,), (5, 5), (1, 1, 2, 5, 5)])
def test_input_not_3d_or_4d(B, shape):
    with pytest.raises(ValueError, match=rf"Conv2D\(2, kernel_size=3\): expected a 3-D \(channels, height, width\) "
                                         rf"or 4-D \(batch, channels, height, width\) input, got {len(shape)}-D shape"):
        B.Conv2D(2, 3).forward(np.zeros(shape))


def test_bad_constructor_arguments(B):
    with pytest.raises(ValueError, match=r"Conv2D stride: expected a positive int \(>= 1\), got 0"):
        B.Conv2D(2, 3, stride=0)
    with pytest.raises(ValueError, match=r"Conv2D stride\[1\]: expected a positive int \(>= 1\), got -1"):
        B.Conv2D(2, 3, stride=(1, -1))
    with pytest.raises(ValueError, match=r"Conv2D kernel_size: expected a positive int \(>= 1\), got 0"):
        B.Conv2D(2, 0)
    with pytest.raises(ValueError, match=r"out_channels: expected a positive int \(>= 1\), got 0"):
        B.Conv2D(0, 3)
    with pytest.raises(ValueError, match=r"Conv2D padding='same' needs stride 1 .* got stride \(2, 2\)"):
        B.Conv2D(2, 3, stride=2)
    with pytest.raises(ValueError, match=r"Conv2D padding: expected 'same', 'valid', an int >= 0 or a pair "
                                         r"\(height, width\) of ints >= 0, got 'full'"):
        B.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv2D padding: expected .* got -1"):
        B.Conv2D(2, 3, padding=-1)
    with pytest.raises(ValueError, match=r"dropout: expected a drop probability in \[0, 1\)"):
        B.Conv2D(2, 3, dropout=1.0)
    with pytest.raises(ValueError, match=r"weight_init: expected one of \['standard', 'glorot'\]"):
        B.Conv2D(2, 3, weight_init="xavier")
