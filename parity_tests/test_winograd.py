"""Winograd's F(4x4, r x r) in the fast ``Conv2D`` (``scratch/fast/winograd.py``): its matrices, the rule
that chooses it, and parity of output, input gradient and both parameter gradients against ``nn.Conv2d``, the
book form's loops and the im2col form, in float64 (rtol 1e-9) and float32 (the table's 1e-4).

Shapes cover the tiling's edges: outputs that are not a multiple of the 4x4 tile (the tiles past the output are
computed from zeros and cropped), batch 1 and > 1, padding "same", "valid", an int and a pair, 3x3 and 5x5
kernels, several blocks of images with a ragged last block, the evaluation-mode path that recomputes the
transformed tiles in the backward, and the first layer's path that skips dL/dx.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlfs
import scratch.fast.conv as fast_conv
from scratch.fast.winograd import MIN_CHANNELS, POINTS, TILE, cook_toom, usable
from study.parity import check_layer_parity, compare

S = dlfs.backend("scratch")

# name -> (Conv2D keyword arguments, input shape (N, C, H, W)); every case takes the Winograd path
CASES = {
    "k5_same_28": (dict(out_channels=6, kernel_size=5), (2, 16, 28, 28)),
    "k5_same_ragged_batch1": (dict(out_channels=3, kernel_size=5), (1, 16, 9, 11)),
    "k3_same_ragged": (dict(out_channels=5, kernel_size=3), (3, 17, 6, 13)),
    "k3_valid": (dict(out_channels=4, kernel_size=3, padding="valid"), (2, 20, 10, 7)),
    "k5_pad1_no_bias": (dict(out_channels=2, kernel_size=5, padding=1, bias=False), (2, 16, 8, 8)),
    "k5_pad_pair_tanh": (dict(out_channels=3, kernel_size=5, padding=(0, 3), activation="tanh"), (2, 16, 7, 5)),
}
BOOK_CASES = ["k5_same_ragged_batch1", "k3_same_ragged"]  # the loops are slow: two small cases


def _conv(kwargs):
    return lambda B: B.Conv2D(**kwargs)


def _winograd_op(layer):
    return layer.operations[0]._winograd


@pytest.mark.parametrize("r", sorted(POINTS))
def test_one_dimensional_minimal_filtering_is_correlation(r):
    """y = A^T [(G g) * (B^T d)] is the cross-correlation y_u = sum_k d_{u+k} g_k, to float64 rounding."""
    AT, G, BT = cook_toom(TILE, r)
    assert AT.shape == (TILE, TILE + r - 1) and G.shape == (TILE + r - 1, r) and BT.shape == (TILE + r - 1,) * 2
    rng = np.random.default_rng(r)
    for _ in range(5):
        d, g = rng.standard_normal(TILE + r - 1), rng.standard_normal(r)
        expected = np.array([d[u:u + r] @ g for u in range(TILE)])
        np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), expected, rtol=0, atol=1e-13)


def test_the_rule():
    assert usable((5, 5), (1, 1), (1, 1), 1, MIN_CHANNELS) and usable((3, 3), (1, 1), (1, 1), 1, 64)
    for args in [((5, 5), (1, 1), (1, 1), 1, MIN_CHANNELS - 1),  # too thin: im2col is faster
                 ((5, 5), (2, 2), (1, 1), 1, 32), ((5, 5), (1, 1), (2, 2), 1, 32), ((5, 5), (1, 1), (1, 1), 2, 32),
                 ((4, 4), (1, 1), (1, 1), 1, 32), ((5, 3), (1, 1), (1, 1), 1, 32), ((7, 7), (1, 1), (1, 1), 1, 32)]:
        assert not usable(*args), args
    layer = S.Conv2D(64, 5)
    layer.forward(np.zeros((1, 32, 28, 28), np.float32))  # the benchmark's 32 -> 64 layer
    assert _winograd_op(layer) is not None
    layer = S.Conv2D(32, 5)
    layer.forward(np.zeros((1, 1, 28, 28), np.float32))  # the 1 -> 32 layer stays on im2col
    assert _winograd_op(layer) is None


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_winograd_parity_with_torch(case, dtype):
    kwargs, shape = CASES[case]
    x = np.random.default_rng(1).standard_normal(shape)
    report = check_layer_parity(f"Conv2D winograd {case}", _conv(kwargs), shape, dtype, x=x)
    params = (["grad:B"] if kwargs.get("bias", True) else []) + ["grad:W"]
    assert [c.name for c in report.comparisons] == ["output", "input_grad", *params]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", BOOK_CASES)
def test_winograd_parity_with_the_book_form(case, dtype):
    kwargs, shape = CASES[case]
    x = np.random.default_rng(2).standard_normal(shape)
    check_layer_parity(f"Conv2D winograd {case}", _conv(kwargs), shape, dtype, x=x, forms=("book", "scratch"))


def _grads(layer, x, g, training=True, needs_input_grad=True):
    layer.operations[0].needs_input_grad = needs_input_grad
    y = layer.forward(x, training=training)
    dx = layer.backward(g)
    return y, dx, layer.grad_dict()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blocks_evaluation_mode_and_skipped_input_grad(monkeypatch, dtype):
    """Many blocks of images (a ragged last one), the evaluation-mode forward (tiles not kept, recomputed in the
    backward) and the skipped input gradient give the numbers of the one-block training path, and those of torch."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 16, 10, 9)).astype(dtype)
    W = (0.1 * rng.standard_normal((16, 4, 5, 5))).astype(dtype)
    B = rng.standard_normal((1, 4, 1, 1)).astype(dtype)
    g = rng.standard_normal((7, 4, 10, 9)).astype(dtype)

    def fresh():
        layer = S.Conv2D(4, 5)
        layer.forward(x[:1])
        layer.load_state_dict({"W": W, "B": B})
        return layer

    y0, dx0, grads0 = _grads(fresh(), x, g)
    # torch, in float64, is the reference
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    Wt = torch.tensor(W.transpose(1, 0, 2, 3), dtype=torch.float64, requires_grad=True)
    yt = F.conv2d(xt, Wt, padding=2) + torch.tensor(B, dtype=torch.float64)
    yt.backward(torch.tensor(g, dtype=torch.float64))
    compare("output", y0, yt.detach().numpy().astype(dtype), dtype=dtype)
    compare("input_grad", dx0, xt.grad.numpy().astype(dtype), dtype=dtype)
    compare("grad:W", grads0["W"], Wt.grad.numpy().transpose(1, 0, 2, 3).astype(dtype), dtype=dtype)

    per_tile_row = 8 * 8 * 2 * (16 + 4) * 3 * x.itemsize  # alpha^2 * 2 (C + O) * tw for one image
    monkeypatch.setattr(fast_conv, "WINOGRAD_BLOCK_BYTES", 3 * per_tile_row)  # blocks of 3, 3 and 1 images
    layer = fresh()
    y1, dx1, grads1 = _grads(layer, x, g)
    assert _winograd_op(layer).blocks(7) == [(0, 3), (3, 6), (6, 7)]
    y2, dx2, grads2 = _grads(fresh(), x, g, training=False)
    _, dx3, grads3 = _grads(fresh(), x, g, needs_input_grad=False)
    assert dx3 is None
    # other block sizes give other GEMM shapes, so BLAS may round differently: the table's tolerance
    compare("output", y1, y0, dtype=dtype)
    compare("input_grad", dx1, dx0, dtype=dtype)
    for k in grads0:
        compare(f"grad:{k}", grads1[k], grads0[k], dtype=dtype)
    # the same blocks: the recomputed tiles and the skipped dL/dx change nothing, to the bit
    for y, dx, grads in [(y2, dx2, grads2), (None, None, grads3)]:
        if y is not None:
            np.testing.assert_array_equal(y, y1)
            np.testing.assert_array_equal(dx, dx1)
        for k in grads1:
            np.testing.assert_array_equal(grads[k], grads1[k])


def test_winograd_agrees_with_im2col(monkeypatch):
    """The same layer through both fast paths, float64: the two algorithms differ only by rounding."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 16, 12, 12))
    g = rng.standard_normal((3, 8, 12, 12))
    state = {"W": 0.1 * rng.standard_normal((16, 8, 5, 5)), "B": rng.standard_normal((1, 8, 1, 1))}
    results = []
    for use in (True, False):
        monkeypatch.setattr(fast_conv, "usable", lambda *a, use=use: use)
        layer = S.Conv2D(8, 5)
        layer.forward(x[:1])
        assert (_winograd_op(layer) is not None) is use
        layer.load_state_dict(state)
        results.append(_grads(layer, x, g))
    (y_w, dx_w, g_w), (y_i, dx_i, g_i) = results
    compare("output", y_w, y_i, dtype="float64")
    compare("input_grad", dx_w, dx_i, dtype="float64")
    for k in g_i:
        compare(f"grad:{k}", g_w[k], g_i[k], dtype="float64")
