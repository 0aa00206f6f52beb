"""Convolutional networks end to end: a small CNN's training trajectory in both backends, and the chapter 5
and chapter 7 experiment (``experiments/cnn.py``) on a small digits subset."""

from __future__ import annotations

import json

import numpy as np

import dlfs
from experiments import cnn
from study.parity import build_pair, check_trajectory


def test_cnn_trajectory_parity():
    """The same weights, batches and dropout masks give the same parameters after 100 momentum steps."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2, 6, 7))
    y = rng.integers(0, 4, 40)

    def build(B):
        return B.NeuralNetwork([B.Conv2D(3, 3, activation="tanh", dropout=0.1), B.MaxPool2D(2),
                                B.Conv2D(2, (2, 3), padding="valid", activation="relu", flatten=True),
                                B.Dense(4)], B.SoftmaxCrossEntropy(), seed=3, dtype="float64")

    report = check_trajectory("small CNN", build, lambda B: B.SGDMomentum(lr=0.05, momentum=0.9), X, y,
                              epochs=10, batch_size=4, scale=0.3)
    assert len(report.comparisons) == 6  # W and B of two conv layers and the dense layer
    assert report.worst()[1] < 1e-7
    # and the 100 steps did move the weights (agreement is not two untouched copies)
    net, _, start = build_pair(build, X[:2], scale=0.3)
    S = dlfs.backend("scratch")
    S.Trainer(net, S.SGDMomentum(lr=0.05, momentum=0.9)).fit(X, y, epochs=10, batch_size=4, seed=0, eval_every=10)
    assert min(np.abs(net.state_dict()[k] - start[k]).max() for k in start) > 1e-3


def _run(tmp_path, *extra):
    out = tmp_path / "run"
    metrics = cnn.main(["--dataset", "digits", "--backend", "both", "--train-size", "240", "--test-size", "120",
                        "--out", str(out), "--no-progress", *extra])
    return out, metrics


def test_cnn_experiment_ch5_on_digits(tmp_path, capsys):
    out, m = _run(tmp_path, "--dtype", "float64", "--epochs", "2")
    printed = capsys.readouterr().out
    assert "book (MNIST)" in printed and "90.31" in printed  # the book's number beside ours
    assert m["model"] == "ch5" and m["recipe"] == "book" and m["n_train"] == 240 and m["n_test"] == 120
    # float64, identical weights, batches and dropout masks: the two backends train the same network
    assert m["max_param_diff"] < 1e-8
    assert m["scratch"]["accuracy"] == m["torch"]["accuracy"] > 30.0  # well above chance (10%)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["scratch"]["steps"] == 2 * 4 and saved["torch"]["batch_size"] == 60
    assert (out / "filters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "config.json").stat().st_size > 0


def test_cnn_experiment_ch7_and_fashion_recipe(tmp_path):
    _, m = _run(tmp_path, "--model", "ch7", "--dtype", "float64")
    assert m["recipe"] is None and m["scratch"]["batch_size"] == 32 and m["scratch"]["lr"] == 0.01
    assert m["max_param_diff"] < 1e-8 and m["scratch"]["accuracy"] == m["torch"]["accuracy"]
    _, m = _run(tmp_path / "fashion", "--recipe", "fashion", "--backend", "scratch")
    assert m["recipe"] == "fashion" and m["scratch"]["lr"] == 5e-4 and m["backends"] == ["scratch"]


def test_train_batch_skips_the_gradient_of_the_data():
    """train_batch needs no dL/dx of the input batch (PyTorch does not compute it): the first operation skips it,
    the parameter gradients are those of a full backward, and a full backward afterwards still returns dL/dx."""
    S = dlfs.backend("scratch")
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((5, 2, 6, 5)), rng.integers(0, 3, 5)
    for first in (S.Conv2D(3, 3, activation="tanh", flatten=True), S.Dense(4, "tanh")):
        layers = [first, S.Dense(3)] if isinstance(first, S.Conv2D) else [S.Flatten(), first, S.Dense(3)]
        net = S.NeuralNetwork(layers, S.SoftmaxCrossEntropy(), dtype="float64")
        net.train_batch(X, y)
        grads = net.grad_dict()
        op = net.layers[0].operations[0]
        if isinstance(first, S.Conv2D):
            assert op.input_grad is None and op.needs_input_grad  # skipped, and the flag is restored
        loss = S.SoftmaxCrossEntropy()
        loss.forward(net.forward(X, training=True), y)
        dx = net.backward(loss.backward())
        assert dx.shape == X.shape and np.abs(dx).max() > 0
        for k, v in net.grad_dict().items():
            np.testing.assert_allclose(grads[k], v, rtol=1e-12, atol=1e-14)
