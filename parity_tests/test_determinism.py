"""Determinism: the same seed gives bit-identical training twice in a row, in each backend.

Every training configuration (dense SGD, momentum with decay, dropout, early stopping, a small Conv2D net, a small
LSTM net, a GRU net with AdaGrad) is trained twice from scratch, a fresh network built from the same seed each
time; parameters and ``History`` must be equal bit for bit. The torch backend runs under
``torch.use_deterministic_algorithms(True)`` (scoped to these tests by a fixture); on the CPU its kernels are
deterministic anyway, the flag makes a non-deterministic one an error rather than noise. The configurations are
shared with ``test_checkpoint.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import dlfs

EPOCHS, BATCH, SEED = 6, 8, 11


@dataclass(frozen=True)
class Config:
    """One training configuration: the network, the optimiser, the data (train and validation) and fit options."""

    net: Callable[[ModuleType], Any]
    optim: Callable[[ModuleType], Any]
    data: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    fit: dict[str, Any] = field(default_factory=dict)


def _tabular(classes: int | None, n: int = 32, features: int = 5, seed: int = 0) -> Callable[[], tuple]:
    def data() -> tuple:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n + 16, features))
        y = rng.integers(0, classes, n + 16) if classes else X[:, :2] @ rng.standard_normal((2, 2)) + 0.1
        return X[:n], y[:n], X[n:], y[n:]
    return data


def _images() -> tuple:
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 2, 6, 7)), rng.integers(0, 3, 40)
    return X[:32], y[:32], X[32:], y[32:]


def _sequences() -> tuple:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 5, 3))
    y = np.cumsum(X[..., :2], axis=1) * 0.3  # a running sum: the recurrence has something to learn
    return X[:32], y[:32], X[32:], y[32:]


def _dense(B: ModuleType, hidden: int, out: int, loss: str, dropout: float = 0.0) -> Any:
    return B.NeuralNetwork([B.Dense(hidden, B.Tanh(), dropout=dropout), B.Dense(out, dropout=0.0)],
                           getattr(B, loss)(), seed=5, dtype="float64")


CONFIGS: dict[str, Config] = {
    "dense SGD": Config(lambda B: _dense(B, 6, 2, "MeanSquaredError"), lambda B: B.SGD(lr=0.05), _tabular(None)),
    "momentum + decay": Config(
        lambda B: _dense(B, 8, 3, "SoftmaxCrossEntropy"),
        lambda B: B.SGDMomentum(lr=0.1, momentum=0.9, final_lr=0.01, decay_type="exponential"), _tabular(3)),
    "dropout": Config(
        lambda B: B.NeuralNetwork([B.Dense(8, B.Tanh(), dropout=0.3), B.Dense(6, B.ReLU(), dropout=0.2),
                                   B.Dense(3)], B.SoftmaxCrossEntropy(), seed=6, dtype="float64"),
        lambda B: B.SGDMomentum(lr=0.1, momentum=0.8, final_lr=0.02, decay_type="linear"), _tabular(3)),
    # a bold momentum step on few samples: evaluated every 2 epochs, the validation loss is best at epoch 2 and
    # turns up at epoch 4, so a run resumed from epoch 3 must bring early stopping's best-so-far back to stop
    "early stopping": Config(
        lambda B: _dense(B, 16, 3, "SoftmaxCrossEntropy"), lambda B: B.SGDMomentum(lr=0.08, momentum=0.9),
        _tabular(3, n=24, seed=4), {"early_stopping": True, "eval_every": 2}),
    "Conv2D": Config(
        lambda B: B.NeuralNetwork([B.Conv2D(3, 3, activation="tanh", dropout=0.1), B.MaxPool2D(2),
                                   B.Conv2D(2, 2, padding="valid", activation="relu", flatten=True), B.Dense(3)],
                                  B.SoftmaxCrossEntropy(), seed=3, dtype="float64"),
        lambda B: B.SGDMomentum(lr=0.05, momentum=0.9), _images),
    "LSTM": Config(
        lambda B: B.NeuralNetwork([B.LSTMLayer(5), B.RNNLinear(2)], B.MeanSquaredError(), seed=1, dtype="float64"),
        lambda B: B.Adam(lr=0.02, final_lr=0.005, decay_type="linear", clip_norm=0.5), _sequences),
    "GRU + AdaGrad": Config(
        lambda B: B.NeuralNetwork([B.GRULayer(4), B.RNNLinear(2)], B.MeanSquaredError(), seed=2, dtype="float64"),
        lambda B: B.AdaGrad(lr=0.05, clip_value=1.0), _sequences),
}


def fit(B: ModuleType, name: str, seed: int = SEED, **kwargs: Any) -> tuple[Any, Any]:
    """Build configuration ``name`` afresh in backend ``B`` and train it; returns (network, History)."""
    c = CONFIGS[name]
    X, y, Xv, yv = c.data()
    net = c.net(B)
    options = {"eval_every": 1, **c.fit, **kwargs}
    history = B.Trainer(net, c.optim(B)).fit(X, y, Xv, yv, epochs=EPOCHS, batch_size=BATCH, seed=seed, **options)
    return net, history


@pytest.fixture
def deterministic_torch():
    """``torch.use_deterministic_algorithms(True)`` for one test, then the previous setting back."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("backend", dlfs.BACKENDS)
def test_same_seed_twice_is_bit_identical(backend, name, deterministic_torch):
    B = dlfs.backend(backend)
    (net1, h1), (net2, h2) = fit(B, name), fit(B, name)
    a, b = net1.state_dict(), net2.state_dict()
    assert list(a) == list(b) and len(a) >= 2
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{backend} {name}: {k}")
    assert h1.to_dict() == h2.to_dict()
    assert len(h1.train_loss) >= 3 and np.isfinite(h1.train_loss).all()
    if name == "early stopping":
        assert (h1.stopped_epoch, h1.restored_epoch) == (4, 2)


@pytest.mark.parametrize("backend", dlfs.BACKENDS)
def test_the_comparison_can_fail(backend):
    """Another batch-order seed gives other parameters: the equality above is not two untouched copies."""
    B = dlfs.backend(backend)
    a, _ = fit(B, "dropout")
    b, _ = fit(B, "dropout", seed=SEED + 1)
    assert max(np.abs(a.state_dict()[k] - b.state_dict()[k]).max() for k in a.state_dict()) > 1e-4
