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


MSE_SHAPES = ((), (3,), (2, 3))  # one sample's shape: predictions (batch,), (batch, 3), (batch, 2, 3)


def mse(dtype: str) -> list[ParityReport]:
    """The loss value and dL/dprediction (scaled by a random upstream gradient, per element for ``"none"``) for
    every reduction, on predictions (batch, ...) and, for PyTorch's reductions, a 0-D number; the book's
    ``"batchmean"`` written out (the squared error summed over outputs, averaged over the batch); the scratch
    gradient against finite differences of ``sum(loss * g)`` in float64."""
    S, T = backend("scratch"), backend("torch")
    reports = []
    for reduction in ("batchmean", "mean", "sum", "none"):
        comparisons, numeric = [], []
        shapes = [(n, *shape) for n in BATCHES for shape in MSE_SHAPES]
        shapes += [] if reduction == "batchmean" else [()]  # a 0-D number has no batch to average over
        for shape in shapes:
            rng = np.random.default_rng([len(shape), *shape])
            p, y = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
            g = rng.standard_normal(shape if reduction == "none" else ())
            ls, lt = S.MeanSquaredError(reduction), T.MeanSquaredError(reduction)
            vs, vt = ls.forward(p, y), lt.forward(p, y)
            comparisons += [compare(f"output {shape}", np.array(vt), np.array(vs), dtype=dtype, check_dtype=False),
                            compare(f"input_grad {shape}", lt.backward(g), ls.backward(g))]
            if reduction == "batchmean":
                by_hand = np.sum((p.astype(np.float64) - y) ** 2) / shape[0]
                comparisons.append(compare(f"output {shape} (sum over outputs / batch)", np.array(vs),
                                           np.array(by_hand), dtype=dtype, check_dtype=False))
            if dtype == "float64":
                def loss(p: np.ndarray = p, y: np.ndarray = y, g: np.ndarray = g, r: str = reduction) -> float:
                    return float(np.sum(S.MeanSquaredError(r).forward(p, y) * g))
                numeric.append(compare(f"input_grad {shape}", ls.backward(g), numerical_gradient(loss, p),
                                       "finite_difference"))
        reports.append(report(f"mse {reduction}", dtype, comparisons))
        if numeric:
            reports.append(report(f"mse {reduction} (finite differences)", dtype, numeric))
    return reports


def mse_mean_net(B: ModuleType, dtype: str) -> Any:
    """``mlp()`` against PyTorch's ``MeanSquaredError("mean")`` on 2 outputs."""
    return B.NeuralNetwork([B.Dense(13, B.Sigmoid()), B.Dense(2, B.Linear())], B.MeanSquaredError("mean"), seed=3,
                           dtype=dtype)


def regression_data_2(n: int = 200, d: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """Two targets per row: ``regression_data``'s and its negative halved."""
    X, y = regression_data(n, d)
    return X, np.hstack([y, -0.5 * y])


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

# --- the book's equations (LaTeX, one display equation each) and what the book's own code does ---------------
_LINEAR_REGRESSION_EQ = (
    r"P = X W + B",
    r"L = \frac{1}{n} \sum_{i} \left( p_{i} - y_{i} \right)^{2}",
    r"\min_{W, B} \lVert X W + B - y \rVert^{2}",
    r"A = \left[ X, \mathbf{1} \right], \quad \left[ W ; B \right] = A^{+} y",
)
_LINEAR_REGRESSION_BOOK = (
    "Nothing is known to be wrong in the book's linear-regression code. Both backends fit the model as a "
    "`Dense(1)` with the book's mean squared error, and solve it exactly too: least squares by `lstsq` on "
    "`[X, 1]` (SVD, not the normal equations), with scikit-learn's `LinearRegression` as referee. The book's "
    "preprocessing fits its `StandardScaler` on all 506 rows, so test statistics leak into training; "
    "`dlfs.data.book_regression_split` keeps that on purpose, so the numbers compare with the book's."
)
_SIGMOID_EQ = (
    r"y = \sigma(x) = \frac{1}{1 + e^{-x}}",
    r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \odot y \odot \left( 1 - y \right)",
)
_SIGMOID_BOOK = (
    "Nothing is known to be wrong in the book's code here; both backends follow it: the output, then the input "
    "gradient `g * y * (1 - y)` from the saved output y (torch: `nn.Sigmoid` and autograd)."
)
_MSE_EQ = (
    r"L = \frac{1}{N} \sum_{n} \sum_{j} \left( p_{nj} - y_{nj} \right)^{2} \quad \text{(batchmean, the book's)}",
    r"L = \frac{1}{D} \sum \left( p - y \right)^{2}, \quad D = N \text{ (batchmean)}, \; "
    r"\lvert p \rvert \text{ (mean)}, \; 1 \text{ (sum)}",
    r"\frac{\partial L}{\partial p} = \frac{2 \left( p - y \right) g}{D}",
)
_MSE_BOOK = (
    "Nothing is known to be wrong in the book's mean squared error, and both backends keep its reduction (a "
    "convention) as the default, named `reduction=\"batchmean\"` (KLDivLoss's name for it): summed over the "
    "outputs, averaged over the batch, which is `nn.MSELoss()` times the output width (the same for the book's "
    "one-output regressions); the torch side computes `F.mse_loss(p, y, reduction=\"sum\") / N`. PyTorch's "
    "reductions are there too: `\"mean\"` (over every element, `nn.MSELoss()`), `\"sum\"` and `\"none\"` (per "
    "element; `backward` then takes the upstream gradient of that shape). The book's chapter 7 autoencoder uses "
    "`nn.MSELoss()` (a mean over the pixels too) instead, so its learning rate lr corresponds to lr / (C H W) here."
)
_TANH_EQ = (
    r"y = \tanh(x)",
    r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \odot \left( 1 - y^{2} \right)",
)
_TANH_BOOK = (
    "Nothing is known to be wrong in the book's code here; both backends follow it: the input gradient "
    "`g * (1 - y^2)` from the saved output y (torch: `nn.Tanh` and autograd)."
)
_RELU_EQ = (
    r"y = \max(0, x)",
    r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \odot \mathbf{1}\left[ x > 0 \right]",
)
_RELU_BOOK = (
    "Nothing is known to be wrong in the book's code for this activation. At the kink x = 0 both backends take "
    "the derivative to be 0, as PyTorch does (chapter 1's numerical `deriv` gives 0.5 there)."
)
_LINEAR_EQ = (
    r"y = x",
    r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}",
)
_LINEAR_BOOK = (
    "Nothing is known to be wrong in the book's code here; both backends follow it: the identity, for a layer "
    "with no nonlinearity (torch: `nn.Identity`)."
)
_DENSE_EQ = (
    r"N = X W + B",
    r"O = f(N)",
    r"\frac{\partial L}{\partial N} = \frac{\partial L}{\partial O} \odot f'(N)",
    r"\frac{\partial L}{\partial X} = \frac{\partial L}{\partial N} W^{T}",
    r"\frac{\partial L}{\partial W} = X^{T} \frac{\partial L}{\partial N}",
    r"\frac{\partial L}{\partial B} = \sum_{n} \left( \frac{\partial L}{\partial N} \right)_{n}",
)
_DENSE_BOOK = (
    "The book's `Dense` layer calls `np.random.seed(self.seed)` before drawing its weights, in every layer, so "
    "layers of the same shape start with identical weights. Both backends draw W then B, layer by layer, from "
    "the network's one seeded `np.random.Generator` (the torch side copies these draws into `nn.Linear`), so one "
    "seed gives the same network in both and no two layers alike. The rest follows the book: `WeightMultiply`, "
    "`BiasAdd`, the activation, with W (in, out) and B (1, out)."
)
_NETWORK_EQ = (
    r"X_{0} = X, \quad X_{l} = f_{l}(X_{l-1}), \quad P = X_{k}",
    r"L = \mathrm{loss}(P, Y)",
    r"\frac{\partial L}{\partial X_{l-1}} = \frac{\partial L}{\partial X_{l}} \frac{\partial X_{l}}{\partial X_{l-1}}, "
    r"\quad l = k, \ldots, 1",
    r"\frac{\partial L}{\partial \theta_{l}} = "
    r"\frac{\partial L}{\partial X_{l}} \frac{\partial X_{l}}{\partial \theta_{l}}",
)
_NETWORK_BOOK = (
    "Nothing is known to be wrong in the book's `NeuralNetwork` loop (forward through the layers, the loss, "
    "backward in reverse order); both backends follow it. They differ in where the initial weights come from: "
    "the book's layers each reset NumPy's global seed, while here `NeuralNetwork(seed=...)` seeds one generator "
    "that hands every layer its draws in order, the same numbers in scratch and torch."
)
_SGD_EQ = (
    r"L_{\mathcal{B}} = \mathrm{loss}\left( f_{\theta}(X_{\mathcal{B}}), Y_{\mathcal{B}} \right)",
    r"g = \frac{\partial L_{\mathcal{B}}}{\partial p}",
    r"p \leftarrow p - \mathrm{lr} \cdot g",
)
_SGD_BOOK = (
    "Nothing is known to be wrong in the book's SGD; both backends follow it: `p -= lr * g` for every parameter, "
    "in place (torch: `torch.optim.SGD`)."
)
_TRAINER_EQ = (
    r"\pi_{e} = \mathrm{permutation}(n) \text{ from one seeded generator}, \quad e = 1, \ldots, E",
    r"\mathcal{B}_{e,k} = \left\{ \pi_{e}(i) : k b \le i < (k + 1) b \right\}",
    r"\theta \leftarrow \mathrm{step}\left( \theta, \frac{\partial L_{\mathcal{B}_{e,k}}}{\partial \theta} \right)",
    r"L_{\mathrm{train}}(e) = \frac{1}{K} \sum_{k=0}^{K-1} L_{\mathcal{B}_{e,k}}",
    r"L_{\mathrm{val}}(e) = \mathrm{loss}\left( f_{\theta}(X_{\mathrm{test}}), Y_{\mathrm{test}} \right) "
    r"\text{ if } e \equiv 0 \pmod{N} \text{ or } e = E",
)
_TRAINER_BOOK = (
    "The book's batch order comes from `permute_data`, which shuffles with NumPy's global seed. Here each `fit` "
    "draws its permutations from one seeded `dlfs.training.BatchOrder`, the same object the torch side hands its "
    "`DataLoader` as sampler, so both backends see the same batches in the same order. The loop follows the "
    "book: a step per batch (the last one may be smaller), evaluation every `eval_every` epochs (here also after "
    "the last)."
)

_D = "parity_tests/test_dense.py"
CONCEPTS = [
    Concept("linear-regression", "Linear regression (Dense(1) + closed form, sklearn referee)", "2",
            "scratch.linear_regression:closed_form_linear_regression",
            "torch_impl.linear_regression:closed_form_linear_regression", CheckSpec(linear_regression),
            ("parity_tests/test_linear_regression.py",),
            conversion="W (in, 1), B (1, 1) as a Dense(1) state dict",
            equations=_LINEAR_REGRESSION_EQ, book_code=_LINEAR_REGRESSION_BOOK),
    Concept("sigmoid", "Sigmoid activation", "2", "scratch.activations:Sigmoid", "torch_impl.activations:Sigmoid",
            _activation("Sigmoid"), equations=_SIGMOID_EQ, book_code=_SIGMOID_BOOK),
    Concept("mse", "Mean squared error (sum over outputs, mean over batch)", "2",
            "scratch.losses:MeanSquaredError", "torch_impl.losses:MeanSquaredError",
            (CheckSpec(mse), TrajectorySpec(mse_mean_net, lambda B, dtype: B.SGD(lr=0.05), regression_data_2, epochs=5,
                                            batch_size=20, label='reduction="mean"')),
            ("parity_tests/test_autoencoder.py::test_mse_on_images",
             "parity_tests/test_loss_options.py::test_mse_every_reduction_against_f_mse_loss"),
            equations=_MSE_EQ, book_code=_MSE_BOOK),
    Concept("tanh", "Tanh activation", "3", "scratch.activations:Tanh", "torch_impl.activations:Tanh",
            _activation("Tanh"), equations=_TANH_EQ, book_code=_TANH_BOOK),
    Concept("relu", "ReLU activation", "3", "scratch.activations:ReLU", "torch_impl.activations:ReLU",
            _activation("ReLU"), equations=_RELU_EQ, book_code=_RELU_BOOK),
    Concept("linear", "Linear (identity) activation", "3", "scratch.activations:Linear",
            "torch_impl.activations:Linear", _activation("Linear"), equations=_LINEAR_EQ, book_code=_LINEAR_BOOK),
    Concept("dense", "Dense layer: WeightMultiply, BiasAdd, activation", "3", "scratch.dense:Dense",
            "torch_impl.dense:Dense", LayerSpec(lambda B, dtype: B.Dense(5, B.Tanh()), (7,)),
            (f"{_D}::test_model_parity", f"{_D}::test_model_finite_differences"),
            show_scratch=("scratch.dense:WeightMultiply", "scratch.dense:BiasAdd", "scratch.dense:Dense"),
            conversion="W (in, out) = nn.Linear.weight.T; B (1, out) = nn.Linear.bias[None, :]",
            equations=_DENSE_EQ, book_code=_DENSE_BOOK),
    Concept("network", "NeuralNetwork (layers + loss)", "3", "scratch.network:NeuralNetwork",
            "torch_impl.network:NeuralNetwork", LayerSpec(network, (11,)), (f"{_D}::test_model_parity",),
            conversion="keys layers.<i>.<name>, each layer's canonical layout",
            equations=_NETWORK_EQ, book_code=_NETWORK_BOOK),
    Concept("sgd", "SGD and the Trainer (100-step trajectory)", "3", "scratch.optimizers:SGD",
            "torch_impl.optimizers:SGD", SGD_100_STEPS, (f"{_D}::test_trajectory_100_sgd_steps",),
            equations=_SGD_EQ, book_code=_SGD_BOOK),
    Concept("trainer", "Trainer: seeded batch order, eval every N epochs", "3", "scratch.trainer:Trainer",
            "torch_impl.trainer:Trainer", SGD_100_STEPS, equations=_TRAINER_EQ, book_code=_TRAINER_BOOK),
]
