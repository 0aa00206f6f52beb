"""Chapters 2 and 3, fundamentals and deep learning from scratch: linear regression, the activations, the
mean squared error, the dense layer, the network, SGD and the Trainer."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from dlfs.backends import backend
from study.parity import ParityReport, compare, numerical_gradient
from study.spec import BATCHES, CheckSpec, Concept, LayerSpec, TrajectorySpec, report


def linear_regression(dtype: str) -> list[ParityReport]:
    """The closed form in both backends on 40 x 5 data, and scikit-learn's ``LinearRegression`` as referee
    (float64 only)."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5)).astype(dtype)
    y = (X @ rng.standard_normal((5, 1)) + 0.3 + 0.1 * rng.standard_normal((40, 1))).astype(dtype)
    s = backend("scratch").closed_form_linear_regression(X, y)
    t = backend("torch").closed_form_linear_regression(X, y)
    reports = [report("linear-regression", dtype, [compare(f"param:{k}", t[k], s[k]) for k in sorted(s)])]
    if dtype == "float64":
        sk = LinearRegression().fit(X, y)
        reports.append(report("linear-regression (sklearn referee)", dtype, [
            compare("param:W", s["W"], sk.coef_.T),
            compare("param:B", s["B"], np.reshape(sk.intercept_, (1, 1)))]))
    return reports


def mse(dtype: str) -> list[ParityReport]:
    """The loss value and dL/dprediction on (batch, 3), and the book's reduction written out: the squared
    error summed over outputs, averaged over the batch."""
    reports = []
    S, T = backend("scratch"), backend("torch")
    for n in BATCHES:
        rng = np.random.default_rng(n)
        p, y = rng.standard_normal((n, 3)).astype(dtype), rng.standard_normal((n, 3)).astype(dtype)
        ls, lt = S.MeanSquaredError(), T.MeanSquaredError()
        vs, vt = ls.forward(p, y), lt.forward(p, y)
        by_hand = np.sum((p.astype(np.float64) - y) ** 2) / n
        reports.append(report(f"mse batch {n}", dtype, [
            compare("output", np.array(vt), np.array(vs), dtype=dtype, check_dtype=False),
            compare("input_grad", lt.backward(), ls.backward()),
            compare("output (sum over outputs / batch)", np.array(vs), np.array(by_hand), dtype=dtype,
                    check_dtype=False)]))
        if dtype == "float64":
            def loss(p: np.ndarray = p, y: np.ndarray = y) -> float:
                return S.MeanSquaredError().forward(p, y)
            reports.append(report(f"mse batch {n} (finite differences)", dtype, [
                compare("input_grad", ls.backward(), numerical_gradient(loss, p), "finite_difference")]))
    return reports


def regression_data(n: int = 200, d: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """y = tanh(X w) + noise: (200, 13) inputs, (200, 1) targets."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((n, d))
    return X, np.tanh(X @ rng.standard_normal((d, 1))) + 0.1 * rng.standard_normal((n, 1))


def mlp(loss: str = "MeanSquaredError", out: int = 1, dropout: float = 0.0,
        weight_init: str = "standard") -> Callable[[ModuleType, str], Any]:
    """13 sigmoid units -> ``out`` linear units against ``loss``: ``build(B, dtype)``."""
    def build(B: ModuleType, dtype: str) -> Any:
        return B.NeuralNetwork([B.Dense(13, B.Sigmoid(), weight_init=weight_init, dropout=dropout),
                                B.Dense(out, B.Linear(), weight_init=weight_init)], getattr(B, loss)(),
                               seed=3, dtype=dtype)
    return build


def network(B: ModuleType, dtype: str) -> Any:
    """11 -> 8 tanh -> 5 relu -> 3, mean squared error."""
    return B.NeuralNetwork([B.Dense(8, B.Tanh()), B.Dense(5, B.ReLU()), B.Dense(3)], B.MeanSquaredError(),
                           dtype=dtype)


def _activation(name: str) -> LayerSpec:
    # scaled by 4 so the tails saturate; the activation row's float32 tolerance covers exp() differing by an
    # ulp between NumPy and torch
    return LayerSpec(lambda B, dtype: getattr(B, name)(), (9,), op="activation", x_scale=4.0)


SGD_100_STEPS = TrajectorySpec(mlp(), lambda B, dtype: B.SGD(lr=0.01), regression_data, epochs=10,
                               batch_size=20)

_D = "parity_tests/test_dense.py"
CONCEPTS = [
    Concept("linear-regression", "Linear regression (Dense(1) + closed form, sklearn referee)", "2",
            "scratch.linear_regression:closed_form_linear_regression",
            "torch_impl.linear_regression:closed_form_linear_regression", CheckSpec(linear_regression),
            ("parity_tests/test_linear_regression.py",),
            conversion="W (in, 1), B (1, 1) as a Dense(1) state dict"),
    Concept("sigmoid", "Sigmoid activation", "2", "scratch.activations:Sigmoid", "torch_impl.activations:Sigmoid",
            _activation("Sigmoid")),
    Concept("mse", "Mean squared error (sum over outputs, mean over batch)", "2",
            "scratch.losses:MeanSquaredError", "torch_impl.losses:MeanSquaredError", CheckSpec(mse),
            ("parity_tests/test_autoencoder.py::test_mse_on_images",)),
    Concept("tanh", "Tanh activation", "3", "scratch.activations:Tanh", "torch_impl.activations:Tanh",
            _activation("Tanh")),
    Concept("relu", "ReLU activation", "3", "scratch.activations:ReLU", "torch_impl.activations:ReLU",
            _activation("ReLU")),
    Concept("linear", "Linear (identity) activation", "3", "scratch.activations:Linear",
            "torch_impl.activations:Linear", _activation("Linear")),
    Concept("dense", "Dense layer: WeightMultiply, BiasAdd, activation", "3", "scratch.dense:Dense",
            "torch_impl.dense:Dense", LayerSpec(lambda B, dtype: B.Dense(5, B.Tanh()), (7,)),
            (f"{_D}::test_model_parity", f"{_D}::test_model_finite_differences"),
            show_scratch=("scratch.dense:WeightMultiply", "scratch.dense:BiasAdd", "scratch.dense:Dense"),
            conversion="W (in, out) = nn.Linear.weight.T; B (1, out) = nn.Linear.bias[None, :]"),
    Concept("network", "NeuralNetwork (layers + loss)", "3", "scratch.network:NeuralNetwork",
            "torch_impl.network:NeuralNetwork", LayerSpec(network, (11,)), (f"{_D}::test_model_parity",),
            conversion="keys layers.<i>.<name>, each layer's canonical layout"),
    Concept("sgd", "SGD and the Trainer (100-step trajectory)", "3", "scratch.optimizers:SGD",
            "torch_impl.optimizers:SGD", SGD_100_STEPS, (f"{_D}::test_trajectory_100_sgd_steps",)),
    Concept("trainer", "Trainer: seeded batch order, eval every N epochs", "3", "scratch.trainer:Trainer",
            "torch_impl.trainer:Trainer", SGD_100_STEPS),
]
