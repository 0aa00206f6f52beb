"""Parity of chapters 2-3 beyond the registry's own checks (``test_concepts.py``): more dense layers and
networks than the registry's one of each, a 3-layer SGD trajectory, and the same initial weights from one seed.

Every case runs in float64 (tight) and float32 (the table's tolerance), batch size 1 and > 1, with random
non-zero weights and biases and a random upstream gradient; the scratch side is also checked by finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import dlfs
from study.parity import check_finite_differences, check_layer_parity, check_trajectory

MODELS = {  # the registry checks Dense(5, Tanh) on 7 inputs and the network 11 -> 8 -> 5 -> 3
    "dense_sigmoid": (lambda B, dt: B.Dense(3, "sigmoid"), 4),
    "dense_relu_glorot": (lambda B, dt: B.Dense(6, B.ReLU(), weight_init="glorot"), 9),
    "net_2_layers": (lambda B, dt: B.NeuralNetwork([B.Dense(13, B.Sigmoid()), B.Dense(1)],
                                                   B.MeanSquaredError(), dtype=dt), 13),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_model_parity(model, batch, dtype):
    build, width = MODELS[model]
    report = check_layer_parity(model, lambda B: build(B, dtype), (batch, width), dtype)
    names = [c.name for c in report.comparisons]
    assert names[:2] == ["output", "input_grad"] and any(n.startswith("grad:") for n in names)


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_model_finite_differences(model, batch):
    build, width = MODELS[model]
    check_finite_differences(model, lambda B: build(B, "float64"), (batch, width))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trajectory_100_sgd_steps(dtype):
    """Same init, same batches: parameters after 100 SGD steps agree (float64 rtol <= 1e-7)."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((200, 13))
    y = np.tanh(X @ rng.standard_normal((13, 1))) + 0.1 * rng.standard_normal((200, 1))
    # 200 samples / batch 20 = 10 steps per epoch, 10 epochs = 100 steps
    report = check_trajectory(
        "net_3_layers", lambda B: B.NeuralNetwork([B.Dense(13, B.Sigmoid()), B.Dense(13, B.Tanh()), B.Dense(1)],
                                                  B.MeanSquaredError(), dtype=dtype),
        lambda B: B.SGD(lr=0.01), X, y, epochs=10, batch_size=20, dtype=dtype)
    assert len(report.comparisons) == 6


def test_same_seed_same_initial_weights_in_both_backends():
    nets = [B.NeuralNetwork([B.Dense(4, B.Tanh()), B.Dense(2)], B.MeanSquaredError(), seed=7, dtype="float64")
            for B in (dlfs.backend("scratch"), dlfs.backend("torch"))]
    x = np.ones((1, 3))
    for n in nets:
        n.forward(x)
    s, t = nets[0].state_dict(), nets[1].state_dict()
    assert sorted(s) == ["layers.0.B", "layers.0.W", "layers.1.B", "layers.1.W"]
    for k in s:
        np.testing.assert_array_equal(s[k], t[k])
