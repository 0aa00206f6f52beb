"""Softmax cross-entropy on sequences: logits (N, ..., C) with labels (N, ...) or one-hot (N, ..., C). The loss is
the mean over every position, equal to ``nn.CrossEntropyLoss`` on the flattened positions; the gradient is shaped
like the logits. Both backends against PyTorch's criterion (float64 and float32), the scratch gradient against
finite differences, clear errors for mismatched shapes, and the Trainer passing such targets through."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dlfs
from study.parity import check_trajectory, compare, numerical_gradient

S, T = dlfs.backend("scratch"), dlfs.backend("torch")
SHAPES = [(1, 1, 3), (2, 5, 4), (3, 2, 4, 6)]  # (N, T, C) and (N, H, W, C): batch 1 and > 1, C != T


def _case(shape: tuple[int, ...], dtype: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + sum(shape))
    z = (rng.standard_normal(shape) * 3.0).astype(dtype)
    return z, rng.integers(0, shape[-1], shape[:-1])


def _reference(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``nn.CrossEntropyLoss`` on the positions flattened, and its gradient shaped like ``z``."""
    zt = torch.tensor(z.reshape(-1, z.shape[-1]), requires_grad=True)
    loss = torch.nn.CrossEntropyLoss()(zt, torch.tensor(y.reshape(-1)))
    loss.backward()
    return float(loss.detach()), zt.grad.numpy().reshape(z.shape)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=["1x1x3", "2x5x4", "3x2x4x6"])
def test_both_backends_equal_cross_entropy_loss_on_the_flattened_positions(shape, dtype):
    z, y = _case(shape, dtype)
    ref_loss, ref_grad = _reference(z, y)
    rel = 1e-12 if dtype == "float64" else 1e-5
    grads = {}
    for B in (S, T):
        loss = B.SoftmaxCrossEntropy()
        value = loss.forward(z, y)
        assert value == pytest.approx(ref_loss, rel=rel)
        grads[B.__name__] = loss.backward()
        compare(f"{B.__name__} grad vs nn.CrossEntropyLoss", grads[B.__name__], ref_grad, dtype=dtype)
    compare("torch grad vs scratch grad", grads["torch_impl"], grads["scratch"], dtype=dtype)
    # the mean over every position, written out: (softmax - onehot) / M
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    compare("grad vs (p - y)/M", grads["scratch"], ((p - np.eye(shape[-1])[y]) / y.size).astype(dtype), dtype=dtype)


@pytest.mark.parametrize("B", [S, T], ids=["scratch", "torch"])
def test_the_sequence_loss_is_the_2d_loss_of_the_flattened_positions_bit_for_bit(B):
    z, y = _case((4, 3, 5), "float64")
    seq, flat = B.SoftmaxCrossEntropy(), B.SoftmaxCrossEntropy()
    assert seq.forward(z, y) == flat.forward(z.reshape(-1, 5), y.reshape(-1))
    np.testing.assert_array_equal(seq.backward(), flat.backward().reshape(z.shape))


@pytest.mark.parametrize("B", [S, T], ids=["scratch", "torch"])
def test_one_hot_and_integer_sequence_labels_agree(B):
    z, y = _case((3, 4, 6), "float64")
    a, b = B.SoftmaxCrossEntropy(), B.SoftmaxCrossEntropy()
    assert a.forward(z, y) == b.forward(z, np.eye(6)[y])
    np.testing.assert_array_equal(a.backward(), b.backward())


def test_finite_differences_of_the_scratch_sequence_loss():
    z, y = _case((2, 3, 4), "float64", seed=3)
    loss = S.SoftmaxCrossEntropy()
    loss.forward(z, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: S.SoftmaxCrossEntropy().forward(z, y), z)
    compare("grad vs finite differences", analytic, numeric, "finite_difference", "float64")


# --- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target,error,match", [
    (np.zeros((2, 4), dtype=int), ValueError, r"SoftmaxCrossEntropy target: expected integer class labels of shape "
     r"\(2, 3\) \(one per position of the logits \(2, 3, 5\)\) or one-hot labels of shape \(2, 3, 5\), got 2-D "
     r"shape \(2, 4\)"),
    (np.zeros(2, dtype=int), ValueError, r"SoftmaxCrossEntropy target: expected integer class labels of shape "
     r"\(2, 3\) .* got 1-D shape \(2,\)"),
    (np.zeros((2, 3, 4)), ValueError, r"or one-hot labels of shape \(2, 3, 5\), got 3-D shape \(2, 3, 4\)"),
    (np.full((2, 3), 5), ValueError, r"SoftmaxCrossEntropy target: class labels must lie in \[0, 5\) for C=5 "
     r"classes .* got min 5 and max 5"),
    (np.full((2, 3), 0.5), TypeError, r"SoftmaxCrossEntropy target: expected integer class labels, got .* with "
     r"non-integer values"),
    (np.full((2, 3, 5), 0.2), ValueError, r"SoftmaxCrossEntropy target: 2-D labels must be one-hot .* 6 of 6 rows"),
    (np.array([["a"] * 3] * 2), TypeError, r"SoftmaxCrossEntropy target: expected a numeric array"),
])
def test_mismatched_sequence_targets_name_the_argument(B, target, error, match):
    with pytest.raises(error, match=match):
        B.SoftmaxCrossEntropy().forward(np.zeros((2, 3, 5)), target)


def test_logits_without_a_class_axis_are_refused(B):
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy: expected 2-D \(batch, classes\) logits, got 0-D "
                                         r"shape \(\) \(logits of a sequence, \(batch, ..., classes\), are accepted"):
        B.SoftmaxCrossEntropy().forward(np.float64(1.0), np.array(0))


def test_check_target_validates_without_computing_the_loss(B):
    """A broadcast view of one row stands for a million positions: nothing of that size is computed."""
    big = np.broadcast_to(np.zeros((1, 25, 65)), (40_000, 25, 65))
    labels = np.zeros((40_000, 25), dtype=np.int64)
    B.SoftmaxCrossEntropy().check_target(big, labels)
    labels[-1, -1] = 65
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 65\) for C=65 classes .* max 65"):
        B.SoftmaxCrossEntropy().check_target(big, labels)


# --- through the Trainer ----------------------------------------------------------------------------------------
def _sequence_data(n: int = 24, steps: int = 6, features: int = 3, classes: int = 4):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n, steps, features))
    y = (np.cumsum(X[..., 0], axis=1) > 0).astype(np.int64) + 2 * (X[..., 1] > 0)  # labels in [0, 4) per step
    return X, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_trainer_trains_on_sequence_targets_in_both_backends(dtype):
    """A per-step classifier (LSTM -> RNNLinear -> softmax cross-entropy over (batch, time)): the same parameters
    after 5 epochs x 4 batches of Adam in both backends."""
    X, y = _sequence_data()
    report = check_trajectory(
        f"sequence_cross_entropy_{dtype}",
        lambda B: B.NeuralNetwork([B.LSTMLayer(5), B.RNNLinear(4)], B.SoftmaxCrossEntropy(), seed=3, dtype=dtype),
        lambda B: B.Adam(lr=0.02), X, y, epochs=5, batch_size=6, dtype=dtype, compare_history=True)
    assert len(report.comparisons) >= 5


def test_one_hot_sequence_targets_train_like_integer_ones(B):
    X, y = _sequence_data()
    states = []
    for target in (y, np.eye(4)[y]):
        net = B.NeuralNetwork([B.RNNLayer(5), B.RNNLinear(4)], B.SoftmaxCrossEntropy(), seed=3, dtype="float64")
        hist = B.Trainer(net, B.SGD(lr=0.1)).fit(X, target, X[:8], target[:8], epochs=3, batch_size=8, eval_every=1)
        states.append((net.state_dict(), hist.step_loss, hist.val_loss))
    for k in states[0][0]:
        np.testing.assert_array_equal(states[0][0][k], states[1][0][k])
    assert states[0][1:] == states[1][1:]


def test_the_trainer_checks_every_sequence_label_before_training(B):
    X, y = _sequence_data()
    y = y.copy()
    y[-1, -1] = 4  # the last position of the last window
    net = B.NeuralNetwork([B.RNNLayer(5), B.RNNLinear(4)], B.SoftmaxCrossEntropy(), seed=3, dtype="float64")
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy target: class labels must lie in \[0, 4\) for C=4 "
                                         r"classes .* got min 0 and max 4"):
        B.Trainer(net, B.SGD(lr=0.1)).fit(X, y, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy target: expected integer class labels of shape "
                                         r"\(24, 6\) .* got 2-D shape \(24, 5\)"):
        B.Trainer(net, B.SGD(lr=0.1)).fit(X, y[:, :5], epochs=1, batch_size=8)
