"""Dropout (chapter 4): inverted dropout with drop probability p. Both backends draw the keep-mask from the
layer's seeded NumPy stream, so train-mode outputs and gradients agree exactly and a dropout network trains to
the same parameters in both; statistically the masks drop p of the units and preserve the mean, like
``nn.Dropout``; at inference dropout is the identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import dlfs
from study.parity import check_layer_parity, check_trajectory, compare, numerical_gradient

S, T = dlfs.backend("scratch"), dlfs.backend("torch")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 6])
def test_dropout_train_mode_parity(batch, dtype):
    """The same seeded stream gives the same mask: output and input gradient agree bitwise-closely."""
    report = check_layer_parity("dropout", lambda B: B.Dropout(0.3, rng=np.random.default_rng(7)), (batch, 11),
                                dtype, training=True)
    assert [c.name for c in report.comparisons] == ["output", "input_grad"]
    assert report.worst()[0] == 0.0  # one multiplication by the same mask: identical numbers


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 5])
def test_dense_with_dropout_train_mode_parity(batch, dtype):
    report = check_layer_parity("dense_dropout", lambda B: B.Dense(7, B.Tanh(), dropout=0.4), (batch, 9), dtype,
                                training=True)
    assert {c.name for c in report.comparisons} == {"output", "input_grad", "grad:W", "grad:B"}


def test_dropout_finite_differences():
    """Train mode with the mask held fixed (the stream re-seeded before every forward)."""
    x = np.random.default_rng(1).standard_normal((4, 6))
    G = np.random.default_rng(2).standard_normal((4, 6))
    op = S.Dropout(0.5)

    def loss() -> float:
        op.mask_rng = np.random.default_rng(3)
        return float(np.sum(op.forward(x, training=True) * G))

    loss()
    grad = op.backward(G)
    assert 0 < np.count_nonzero(op.mask) < op.mask.size
    compare("input_grad", grad, numerical_gradient(loss, x), "finite_difference", "float64")


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_identity_at_inference(B, p):
    x = np.random.default_rng(4).standard_normal((3, 5))
    op = B.Dropout(p)
    np.testing.assert_array_equal(op.forward(x, training=False), x)
    g = np.random.default_rng(5).standard_normal((3, 5))
    np.testing.assert_array_equal(op.backward(g), g)
    np.testing.assert_array_equal(B.Dropout(0.0).forward(x, training=True), x)  # p = 0: identity in training too
    # a dropout network at inference equals the same network without dropout
    nets = [B.NeuralNetwork([B.Dense(4, B.Tanh(), dropout=d), B.Dense(2)], B.MeanSquaredError(), seed=3,
                            dtype="float64") for d in (0.0, 0.5)]
    np.testing.assert_array_equal(nets[0].forward(x, training=False), nets[1].forward(x, training=False))


@pytest.mark.parametrize("p", [0.2, 0.5])
@pytest.mark.parametrize("who", ["scratch", "torch", "nn.Dropout"])
def test_drop_rate_and_preserved_mean(who, p):
    """Over 200,000 units the fraction dropped is p and the mean of the output is the input's, within 5 sigma;
    kept units are scaled by exactly 1 / (1 - p). ``nn.Dropout`` is the reference the other two must match."""
    x = np.ones((400, 500))
    if who == "nn.Dropout":
        torch.manual_seed(0)
        out = nn.Dropout(p).train()(torch.from_numpy(x)).numpy()
    else:
        out = dlfs.backend(who).Dropout(p, rng=np.random.default_rng(8)).forward(x, training=True)
    n = x.size
    dropped = float(np.mean(out == 0))
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / n), dropped
    assert abs(out.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n), out.mean()
    np.testing.assert_allclose(out[out != 0], 1.0 / (1.0 - p), rtol=1e-15)


def test_fresh_mask_every_forward_and_same_masks_across_backends():
    x = np.ones((20, 30))
    outs = {}
    for B in (S, T):
        op = B.Dropout(0.5, rng=np.random.default_rng(9))
        outs[B.__name__] = [op.forward(x, training=True) for _ in range(2)]
    assert not np.array_equal(outs["scratch"][0], outs["scratch"][1])
    for a, b in zip(outs["scratch"], outs["torch_impl"]):
        np.testing.assert_array_equal(a, b)


def test_dropout_streams_do_not_move_the_initial_weights(B):
    """The masks come from a child stream (``Generator.spawn``): adding dropout leaves every weight as it was."""
    nets = [B.NeuralNetwork([B.Dense(6, B.Tanh(), dropout=d), B.Dense(5, B.Tanh(), dropout=d), B.Dense(2)],
                            B.MeanSquaredError(), seed=11, dtype="float64") for d in (0.0, 0.3)]
    x = np.random.default_rng(0).standard_normal((4, 3))
    for n in nets:
        n.train_batch(x, np.zeros((4, 2)))
    # the train_batch above drew masks for the dropout net; the weights were drawn before, from the parent stream
    s0, s1 = nets[0].state_dict(), nets[1].state_dict()
    for k in s0:
        np.testing.assert_array_equal(s0[k], s1[k])


def test_torch_module_applies_the_injected_mask():
    layer = T.Dropout(0.25, rng=np.random.default_rng(12))
    assert isinstance(layer.module, nn.Module) and type(layer.module).__name__ == "MaskedDropout"
    expected = S.Dropout(0.25, rng=np.random.default_rng(12)).forward(np.full((3, 8), 2.0), training=True)
    layer.module.train()
    out = layer.module(torch.full((3, 8), 2.0, dtype=torch.float64))
    np.testing.assert_array_equal(out.numpy(), expected)
    # mask_source=None falls back to PyTorch's own RNG (F.dropout): statistically dropout, not reproducible
    layer.module.mask_source = None
    torch.manual_seed(0)
    out = layer.module(torch.ones(100, 100, dtype=torch.float64))
    assert 0.2 < float((out == 0).double().mean()) < 0.3


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dropout_network_trajectory_over_an_epoch_of_digits(dtype):
    """64 -> 32 tanh (dropout 0.25) -> 10, softmax cross-entropy, SGDMomentum: one epoch of the 1,797 digits in
    batches of 60 (30 steps, 30 masks) leaves the same parameters in both backends."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean()) / X.std()
    report = check_trajectory(
        "dropout_network", lambda B: B.NeuralNetwork([B.Dense(32, B.Tanh(), dropout=0.25), B.Dense(10, B.Linear())],
                                                     B.SoftmaxCrossEntropy(), seed=5, dtype=dtype),
        lambda B: B.SGDMomentum(0.1, 0.9), X, y, epochs=1, batch_size=60, dtype=dtype)
    assert len(report.comparisons) == 4


# --- bad input -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_dropout_outside_zero_one(B, bad):
    with pytest.raises(ValueError, match=rf"Dropout p: expected a drop probability in \[0, 1\), got {bad} "
                                         r"\(dlfs's dropout=p drops each unit with probability p, as PyTorch; the "
                                         r"book's keep-probability 0.8 is dropout=0.2\)"):
        B.Dropout(bad)
    with pytest.raises(ValueError, match=rf"Dense\(4\) dropout: expected a drop probability in \[0, 1\), got {bad}"):
        B.Dense(4, dropout=bad)


def test_dropout_not_a_number(B):
    with pytest.raises(TypeError, match="Dense\\(4\\) dropout: expected a number, got str"):
        B.Dense(4, dropout="half")
