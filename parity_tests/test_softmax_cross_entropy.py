"""Softmax cross-entropy (chapter 4): scratch's log-sum-exp against ``nn.CrossEntropyLoss``, value and gradient
dL/dz = (softmax(z) - y) / N, integer and one-hot labels, extreme logits, finite differences, bad labels; the module
built with its options (weight, ignore_index, label_smoothing, reduction). The whole option grid, PyTorch's layout
and bad options: ``test_loss_options.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlfs
from study.parity import check_trajectory, compare

S, T = dlfs.backend("scratch"), dlfs.backend("torch")


def _logits_and_labels(batch: int, classes: int, dtype: str, scale: float = 3.0, seed: int = 0):
    rng = np.random.default_rng(seed + batch)
    z = (rng.standard_normal((batch, classes)) * scale).astype(dtype)
    y = rng.integers(0, classes, batch)
    return z, y


def _pair(z: np.ndarray, y: np.ndarray, dtype: str):
    ls, lt = S.SoftmaxCrossEntropy(), T.SoftmaxCrossEntropy()
    vs, vt = ls.forward(z, y), lt.forward(z, y)
    compare("loss", np.array(vt), np.array(vs), dtype=dtype, check_dtype=False)
    gs, gt = ls.backward(), lt.backward()
    compare("grad", gt, gs, dtype=dtype)
    return vs, gs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 7])
def test_parity_with_cross_entropy_loss(batch, dtype):
    z, y = _logits_and_labels(batch, 5, dtype)
    vs, gs = _pair(z, y, dtype)
    # the reference, written out: mean of -log softmax at the label; gradient (softmax - onehot) / N
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert vs == pytest.approx(-np.log(p[np.arange(batch), y]).mean(), rel=1e-12 if dtype == "float64" else 1e-5)
    expected = (p - np.eye(5)[y]) / batch
    compare("grad vs (p - y)/N", gs, expected.astype(dtype), dtype=dtype)
    # and against PyTorch's criterion called directly (the torch backend's own path is nn.CrossEntropyLoss too)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.CrossEntropyLoss()(zt, torch.tensor(y))
    ref.backward()
    assert vs == pytest.approx(float(ref.detach()), rel=1e-12 if dtype == "float64" else 1e-5)
    compare("grad vs nn.CrossEntropyLoss", gs, zt.grad.numpy(), dtype=dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_parity_with_the_module_built_with_its_options(dtype, reduction):
    """``nn.CrossEntropyLoss(weight, ignore_index=2, label_smoothing=0.1, reduction)`` called as PyTorch users call it,
    against both backends built with the same arguments: loss and dL/dz (an upstream gradient for "none")."""
    z, y = _logits_and_labels(7, 5, dtype)
    y[[1, 4]] = 2  # two ignored samples
    w = np.array([0.5, 1.0, 2.0, 1.5, 0.8])
    criterion = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float64 if dtype == "float64" else
                                                             torch.float32),
                                          ignore_index=2, label_smoothing=0.1, reduction=reduction)
    zt = torch.tensor(z, requires_grad=True)
    ref = criterion(zt, torch.tensor(y))
    g = np.random.default_rng(3).standard_normal(ref.shape).astype(dtype)
    ref.backward(torch.tensor(g))
    grads = []
    for B in (S, T):
        loss = B.SoftmaxCrossEntropy(weight=w, ignore_index=2, label_smoothing=0.1, reduction=reduction)
        compare(f"{B.__name__} loss", np.array(loss.forward(z, y)), ref.detach().numpy(), dtype=dtype,
                check_dtype=False)
        grads.append(loss.backward(g))
        compare(f"{B.__name__} grad", grads[-1], zt.grad.numpy(), dtype=dtype)
        assert not grads[-1][[1, 4]].any()  # ignored samples get no gradient
    compare("torch vs scratch", grads[1], grads[0], dtype=dtype)


@pytest.mark.parametrize("B", [S, T], ids=["scratch", "torch"])
def test_one_hot_and_integer_labels_agree(B):
    z, y = _logits_and_labels(6, 4, "float64")
    a, b = B.SoftmaxCrossEntropy(), B.SoftmaxCrossEntropy()
    assert a.forward(z, y) == b.forward(z, np.eye(4)[y])
    np.testing.assert_array_equal(a.backward(), b.backward())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_logits_stay_finite(dtype):
    z = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, 1e3], [1e3, 1e3, -1e3], [-1e3, 1e3, 999.0]], dtype=dtype)
    y = np.array([0, 0, 1, 2])
    vs, gs = _pair(z, y, dtype)
    # log-sum-exp: the exact answers. Row 0 is right (loss 0), row 1 is 2000 nats wrong, row 2 is a coin flip
    # between two classes (log 2), row 3 misses by one logit (log(1 + e^1) - 0 ~ 1.3133).
    expected = (0.0 + 2000.0 + np.log(2.0) + np.log1p(np.exp(1.0))) / 4
    assert np.isfinite(vs) and vs == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(gs).all()
    np.testing.assert_allclose(gs.sum(axis=1), 0.0, atol=1e-7)  # softmax rows sum to 1, one-hot rows too


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_logits_stay_finite_with_the_options(dtype):
    """Label smoothing puts weight on the -1e3 classes too: their log-probability is -2000, and the loss is large but
    finite and the same in both backends and PyTorch."""
    z = np.array([[1e3, -1e3, 0.0], [-1e3, -1e3, 1e3], [1e3, 1e3, -1e3], [-1e3, 1e3, 999.0]], dtype=dtype)
    y = np.array([0, 0, 1, 2])
    kwargs = {"weight": np.array([1.0, 2.0, 0.5]), "label_smoothing": 0.3}
    values = [B.SoftmaxCrossEntropy(**kwargs).forward(z, y) for B in (S, T)]
    ref = F.cross_entropy(torch.tensor(z), torch.tensor(y), weight=torch.tensor(kwargs["weight"], dtype=torch.tensor(
        z).dtype), label_smoothing=0.3)
    assert all(np.isfinite(values)) and values == pytest.approx([float(ref)] * 2, rel=1e-6)


def test_training_trajectory_parity():
    """A softmax classifier on random data: 3 epochs x 8 batches with each backend's Trainer, float64."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((120, 9))
    y = rng.integers(0, 4, 120)
    report = check_trajectory(
        "softmax_cross_entropy", lambda B: B.NeuralNetwork([B.Dense(7, B.Tanh()), B.Dense(4, B.Linear())],
                                                           B.SoftmaxCrossEntropy(), dtype="float64"),
        lambda B: B.SGD(lr=0.1), X, np.eye(4)[y], epochs=3, batch_size=15)
    assert len(report.comparisons) == 4


def test_torch_trainer_feeds_int64_labels():
    net = T.NeuralNetwork([T.Dense(3, T.Linear())], T.SoftmaxCrossEntropy(), dtype="float64")
    trainer = T.Trainer(net, T.SGD(0.1))
    out = net.forward(np.zeros((1, 2)), training=False)
    for y in (np.array([0, 2, 1]), np.eye(3)[[0, 2, 1]]):
        t = trainer._targets(y, out)
        assert t.dtype == torch.int64 and t.tolist() == [0, 2, 1]
    # with class weights one-hot rows stay class probabilities (PyTorch's meaning: their mean divides by N)
    net = T.NeuralNetwork([T.Dense(3, T.Linear())], T.SoftmaxCrossEntropy(weight=[1.0, 2.0, 3.0]), dtype="float64")
    t = T.Trainer(net, T.SGD(0.1))._targets(np.eye(3)[[0, 2, 1]], out)
    assert t.dtype == torch.float64 and t.tolist() == np.eye(3)[[0, 2, 1]].tolist()


# --- bad input -------------------------------------------------------------------------------------------------
Z = np.zeros((3, 4))


def test_label_out_of_range(B):
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy target: class labels must lie in \[0, 4\) for C=4 "
                                         r"classes \(the prediction's width\), got min 0 and max 4"):
        B.SoftmaxCrossEntropy().forward(Z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 4\).*got min -1"):
        B.SoftmaxCrossEntropy().forward(Z, np.array([0, -1, 1]))


def test_one_hot_width_differs_from_classes(B):
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy target: one-hot labels must have C=4 columns .* "
                                         r"got shape \(3, 5\)"):
        B.SoftmaxCrossEntropy().forward(Z, np.eye(5)[:3])


@pytest.mark.parametrize("bad", [np.full((3, 4), 0.25), np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]),
                                 np.array([[2, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])])
def test_two_d_labels_that_are_not_one_hot(B, bad):
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy target: 2-D labels must be one-hot \(a single 1 per "
                                         r"row, zeros elsewhere\); \d of 3 rows are not, e.g. row 0"):
        B.SoftmaxCrossEntropy().forward(Z, bad)


def test_wrong_number_or_rank_of_labels(B):
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy target: expected 3 labels \(one per prediction row\), "
                                         r"got 2"):
        B.SoftmaxCrossEntropy().forward(Z, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"expected integer class labels of shape \(N,\) or one-hot labels of shape "
                                         r"\(N, C\), got 3-D shape \(3, 4, 1\)"):
        B.SoftmaxCrossEntropy().forward(Z, np.zeros((3, 4, 1)))
    with pytest.raises(TypeError, match="SoftmaxCrossEntropy target: expected integer class labels, got array of "
                                        "shape \\(3,\\) and dtype float64 with non-integer values"):
        B.SoftmaxCrossEntropy().forward(Z, np.array([0.0, 1.5, 2.0]))
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy: expected 2-D \(batch, classes\) logits, got 1-D"):
        B.SoftmaxCrossEntropy().forward(np.zeros(4), np.array([1]))


def test_trainer_rejects_a_bad_label_before_training(B):
    """The last label is out of range: the Trainer says so before the first step (not mid-epoch)."""
    X = np.random.default_rng(0).standard_normal((30, 5))
    y = np.arange(30) % 3
    y[-1] = 3
    net, fresh = (B.NeuralNetwork([B.Dense(3, B.Linear())], B.SoftmaxCrossEntropy(), dtype="float64")
                  for _ in range(2))
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 3\)"):
        B.Trainer(net, B.SGD(0.1)).fit(X, y, epochs=1, batch_size=10)
    fresh.forward(X[:1])
    for k, v in fresh.state_dict().items():  # not one step was taken
        np.testing.assert_array_equal(net.state_dict()[k], v)
    with pytest.raises(ValueError, match="one-hot labels must have C=3 columns"):
        B.Trainer(net, B.SGD(0.1)).fit(X, np.eye(3)[y % 3], X, np.eye(4)[y % 3], epochs=1, batch_size=10)
