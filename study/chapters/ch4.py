"""Chapter 4, extensions: softmax cross-entropy, momentum, learning-rate decay, Glorot initialisation,
dropout and early stopping."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from dlfs.backends import backend
from dlfs.tolerances import Tol
from study.chapters.ch2_3 import mlp
from study.parity import ParityReport, compare, numerical_gradient
from study.spec import BATCHES, CheckSpec, Concept, LayerSpec, TrajectorySpec, report


def classes(n: int = 120, d: int = 13, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(n, 13) inputs and labels in 0..3 from a random linear map."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, d))
    return X, np.argmax(X @ rng.standard_normal((d, k)), axis=1)


# --- softmax cross-entropy over nn.CrossEntropyLoss's options ---------------------------------------------------
CE_KINDS = ("indices", "probabilities", "one-hot")
CE_LAYOUTS = ((0, -1), (1, 1), (1, -1), (2, 1), (2, -1))  # (K extra dimensions, class_axis)
CE_GRID = tuple((kind, weighted, ignored, eps, reduction)
                for kind in CE_KINDS for weighted in (False, True) for ignored in (False, True)
                for eps in (0.0, 0.1, 1.0) for reduction in ("mean", "sum", "none")
                if not (ignored and kind != "indices"))


def cross_entropy_case(kind: str, weighted: bool, ignored: bool, eps: float, reduction: str, K: int,
                       class_axis: int, batch: int, dtype: str, C: int = 4
                       ) -> tuple[str, dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """One case of the option grid: (label, the loss's keyword arguments, logits z, target y, upstream gradient g).

    z: (batch, C, 2, 3)[:2 + K] with ``class_axis=1``, (batch, 2, 3)[:1 + K] + (C,) with -1, scale 3. y: class
    indices (every third position ignored and, for batch > 1 and K > 0, every position of sample 0: a whole row;
    ``ignore_index`` 2, a class, with class_axis 1, else the default -100), probabilities in [0, 1) (not normalised,
    as PyTorch's OpInfo samples) or one-hot rows. Weights in [0.2, 1.2). g: a random number, or per element.
    """
    rng = np.random.default_rng([K, batch, C, len(kind), int(10 * eps)])
    dims = (2, 3)[:K]
    shape, positions = ((batch, C, *dims) if class_axis == 1 else (batch, *dims, C)), (batch, *dims)
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    kwargs: dict[str, Any] = {"label_smoothing": eps, "reduction": reduction, "class_axis": class_axis}
    if kind == "indices":
        y = rng.integers(0, C, positions)
        if ignored:
            kwargs["ignore_index"] = skip = 2 if class_axis == 1 else -100
            y.reshape(-1)[::3] = skip
            if batch > 1 and K > 0:
                y[0] = skip
            y.reshape(-1)[-1] = 0  # one position always counts (all ignored: a mean of 0 / 0)
    elif kind == "probabilities":
        y = rng.random(shape).astype(dtype)
        kwargs["probabilities"] = True
    else:
        y = np.moveaxis(np.eye(C, dtype=dtype)[rng.integers(0, C, positions)], -1, class_axis)
    if weighted:
        kwargs["weight"] = rng.random(C) + 0.2
    g = rng.standard_normal(positions if reduction == "none" else ())
    label = (f"{kind}{' weight' if weighted else ''}{' ignore' if ignored else ''} ls={eps} {reduction} K={K} "
             f"axis={class_axis} batch {batch}")
    return label, kwargs, z, y, g


def covering_cases(dtype: str) -> list[tuple[str, dict[str, Any], np.ndarray, np.ndarray, np.ndarray]]:
    """Every (kind, weight, ignore, smoothing, reduction) of ``CE_GRID`` once, the layouts and the batch sizes of
    ``BATCHES`` taking turns (each layout with each batch size)."""
    return [cross_entropy_case(*opts, *CE_LAYOUTS[i % 5], BATCHES[i // 5 % 2], dtype) for i, opts in enumerate(CE_GRID)]


def softmax_cross_entropy(dtype: str) -> list[ParityReport]:
    """Loss and dL/dlogits (scaled by a random upstream gradient, per element for ``reduction="none"``) over the
    options (``covering_cases``), scratch against torch, one report per target kind and reduction; the scratch
    gradient against finite differences of ``sum(loss * g)`` in float64."""
    S, T = backend("scratch"), backend("torch")
    groups: dict[str, list] = {}
    for (kind, *_, reduction), (label, kwargs, z, y, g) in zip(CE_GRID, covering_cases(dtype), strict=True):
        ls, lt = S.SoftmaxCrossEntropy(**kwargs), T.SoftmaxCrossEntropy(**kwargs)
        vs, vt = ls.forward(z, y), lt.forward(z, y)
        options = label.removeprefix(kind).replace(f" {reduction} ", " ").strip()
        groups.setdefault(f"{kind} {reduction}", []).extend([
            compare(f"output {options}", np.array(vt), np.array(vs), dtype=dtype, check_dtype=False),
            compare(f"input_grad {options}", lt.backward(g), ls.backward(g))])
        if dtype == "float64":
            def loss(z: np.ndarray = z, y: np.ndarray = y, kwargs: dict = kwargs, g: np.ndarray = g) -> float:
                return float(np.sum(S.SoftmaxCrossEntropy(**kwargs).forward(z, y) * g))
            groups.setdefault(f"{kind} {reduction} (finite differences)", []).append(
                compare(f"input_grad {options}", ls.backward(g), numerical_gradient(loss, z), "finite_difference"))
    return [report(f"softmax-cross-entropy {key}", dtype, comparisons) for key, comparisons in groups.items()]


def options_net(loss: Callable[[ModuleType], Any]) -> Callable[[ModuleType, str], Any]:
    """13 sigmoid units -> 4 logits against ``loss(B)``."""
    return lambda B, dtype: B.NeuralNetwork([B.Dense(13, B.Sigmoid()), B.Dense(4, B.Linear())], loss(B), seed=3,
                                            dtype=dtype)


def weighted_smoothed(B: ModuleType) -> Any:
    """Class weights and label smoothing 0.1 (labels of -100, the default ``ignore_index``, are skipped)."""
    return B.SoftmaxCrossEntropy(weight=[0.5, 2.0, 1.0, 1.5], label_smoothing=0.1)


def classes_with_ignored() -> tuple[np.ndarray, np.ndarray]:
    """``classes()`` with every seventh label -100 (``ignore_index``'s default: those samples are skipped)."""
    X, y = classes()
    y = y.copy()
    y[::7] = -100
    return X, y


def glorot(dtype: str) -> list[ParityReport]:
    """The same seed draws the same Glorot weights in both backends (exactly), and their spread is
    sqrt(2 / (fan_in + fan_out)) (200 -> 300)."""
    nets = {}
    for name in ("scratch", "torch"):
        B = backend(name)
        nets[name] = B.NeuralNetwork([B.Dense(300, B.Tanh(), weight_init="glorot")], B.MeanSquaredError(),
                                     seed=5, dtype=dtype)
        nets[name].forward(np.zeros((1, 200), dtype=dtype), training=False)
    s, t = nets["scratch"].state_dict(), nets["torch"].state_dict()
    exact = Tol(0.0, 0.0, "drawn from one NumPy stream: bitwise equal")
    same = [compare(f"param:{k}", t[k], s[k], tol=exact) for k in sorted(s)]
    # the sample standard deviation of 60,000 N(0, sigma^2) draws is within 1% of sigma (3 standard errors)
    spread = compare("std(W)", np.array(np.std(s["layers.0.W"].astype(np.float64))),
                     np.array(np.sqrt(2 / (200 + 300))), tol=Tol(0.01, 0.0, "standard error of the std: 0.3%"))
    return [report("glorot", dtype, same),
            report("glorot std(W) vs sqrt(2 / (fan_in + fan_out)) (referee)", dtype, [spread])]


def _momentum(lr: float, **decay: object):
    return lambda B, dtype: B.SGDMomentum(lr=lr, momentum=0.9, **decay)


# --- the book's equations (LaTeX, one display equation each) and what the book's own code does ---------------
_SCE_EQ = (
    r"\log p_{mc} = z_{mc} - \mu_{m} - \log \sum_{k} e^{z_{mk} - \mu_{m}}, \quad \mu_{m} = \max_{k} z_{mk}",
    r"t_{m} = \mathrm{onehot}(y_{m}) \text{ or the given probabilities}, \quad "
    r"t_{m} \leftarrow (1 - \varepsilon) \, t_{m} + \frac{\varepsilon}{C}",
    r"q_{mc} = w_{c} \, t_{mc} \, \kappa_{m}, \quad \kappa_{m} = \mathbf{1}\left[ y_{m} \neq \mathrm{ignore} \right]",
    r"\ell_{m} = -\sum_{c} q_{mc} \log p_{mc}",
    r"L = \frac{1}{D} \sum_{m} \ell_{m}, \quad D = \sum_{m} \kappa_{m} w_{y_{m}} \text{ (mean, indices)}, \;"
    r" M \text{ (mean, probabilities)}, \; 1 \text{ (sum)}",
    r"\frac{\partial L}{\partial z_{m}} = \frac{g_{m}}{D} \left( p_{m} \sum_{c} q_{mc} - q_{m} \right)",
)
_SCE_BOOK = (
    "The book clips the softmax probabilities to [1e-9, 1 - 1e-9] and reports as its loss the *binary* "
    "cross-entropy summed over the classes, `sum(-y log p - (1 - y) log(1 - p)) / N`, while its gradient is "
    "`(p - y) / N`, the gradient of the categorical loss: loss and gradient disagree. Both backends compute the "
    "loss whose gradient that is: the mean over the batch of `-log softmax(z)[y]`, by log-sum-exp with no "
    "clipping (finite for logits of +-1e3), equal to `nn.CrossEntropyLoss()`. The gradient that trains is the "
    "book's up to its clipping; the reported loss values are not comparable number for number. The book has no "
    "options; both backends take `nn.CrossEntropyLoss`'s (`weight`, `ignore_index`, `label_smoothing`, "
    "`reduction`) with its meanings, class indices or probabilities as targets, PyTorch's (N, C, d1, ..., dK) "
    "with `class_axis=1`; the book's mean over the batch stays the default. scratch writes the weighted, "
    "smoothed, ignored sums out with their analytic gradient; torch calls `F.cross_entropy`."
)
_MOMENTUM_EQ = (
    r"v \leftarrow \mu v + g, \quad v_{0} = 0",
    r"p \leftarrow p - \mathrm{lr} \cdot v",
)
_MOMENTUM_BOOK = (
    "The book puts the learning rate inside the velocity: `v = mu v + lr g; p -= v`. While lr is constant its v "
    "is exactly lr times ours and the parameters agree; under learning-rate decay its velocity keeps past "
    "gradients at their old, larger learning rates, and the two part ways (100% apart after 6 epochs of decay "
    "from 0.2 to 0.01, `test_momentum.py`). Both backends use `torch.optim.SGD(momentum=mu)`'s form, which "
    "applies today's lr to the whole velocity."
)
_LR_DECAY_EQ = (
    r"\mathrm{lr}_{e} = \mathrm{lr}_{0} - \left( \mathrm{lr}_{0} - \mathrm{lr}_{\mathrm{final}} \right) "
    r"\frac{e}{E - 1} \quad \text{(linear)}",
    r"\mathrm{lr}_{e} = \mathrm{lr}_{0} \left( \frac{\mathrm{lr}_{\mathrm{final}}}{\mathrm{lr}_{0}} \right)"
    r"^{e / (E - 1)} \quad \text{(exponential)}",
    r"\mathrm{lr}_{e+1} = \gamma \, \mathrm{lr}_{e}, \quad "
    r"\gamma = \left( \frac{\mathrm{lr}_{\mathrm{final}}}{\mathrm{lr}_{0}} \right)^{1 / (E - 1)} "
    r"\quad \text{(torch ExponentialLR)}",
    r"e = 0, \ldots, E - 1, \quad \mathrm{lr}_{E-1} = \mathrm{lr}_{\mathrm{final}}",
)
_LR_DECAY_BOOK = (
    "Nothing is known to be wrong in the book's schedule: its `_decay_lr` gives the same sequence. scratch "
    "computes the closed form (`dlfs.training.lr_schedule`); torch steps `LinearLR` or `ExponentialLR` once per "
    "epoch, whose multiplicative updates drift by a few ulps, so both pin the last epoch to exactly `final_lr`. "
    "(Under decay the book's momentum differs from ours: see sgd-momentum.)"
)
_GLOROT_EQ = (
    r"W_{ij}, \, B_{j} \sim \mathcal{N}\left( 0, \frac{2}{n_{\mathrm{in}} + n_{\mathrm{out}}} \right)",
    r"\mathrm{std}(W) = \sqrt{\frac{2}{n_{\mathrm{in}} + n_{\mathrm{out}}}}",
    r"\text{Conv2D: } n_{\mathrm{in}} = C k_{h} k_{w}, \quad n_{\mathrm{out}} = O k_{h} k_{w}",
    r"\text{standard: } W_{ij}, \, B_{j} \sim \mathcal{N}(0, 1)",
)
_GLOROT_BOOK = (
    "A bug in the book: it passes 2/(fan_in + fan_out), the variance, to `np.random.normal` as the standard "
    "deviation, so its weights are off by a square root (std 0.0023 instead of 0.048 for 784 -> 89); its conv "
    "Glorot also leaves out the kernel area. Both backends draw N(0, 2/(fan_in + fan_out)), i.e. std "
    "sqrt(2/(fan_in + fan_out)) as `torch.nn.init.xavier_normal_`, with conv fans counting kh kw, from the "
    "network's seeded NumPy stream: bitwise the same draws in both, checked against the formula by a KS test."
)
_DROPOUT_EQ = (
    r"k_{i} \sim \mathrm{Bernoulli}(1 - p), \quad m_{i} = \frac{k_{i}}{1 - p}",
    r"y = x \odot m \quad \text{(training)}, \qquad y = x \quad \text{(inference)}",
    r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \odot m",
    r"\mathbb{E}\left[ y \right] = x",
)
_DROPOUT_BOOK = (
    "A convention, not a bug: the book's `Dropout(keep_prob=0.8)` keeps units with probability `keep_prob` in "
    "training and multiplies by `keep_prob` at inference. Here `dropout=p` is PyTorch's drop probability (the "
    "book's 0.8 is our 0.2) of inverted dropout: kept units are scaled by 1/(1 - p) in training, so inference is "
    "the identity, with the same expected activations. Both backends draw the keep-masks from the same NumPy "
    "stream (a child spawned per layer; `nn.Dropout` would use torch's RNG), so training with dropout is "
    "reproducible across them."
)
_EARLY_STOPPING_EQ = (
    r"L_{\mathrm{best}}(e) = \min_{e' \in \mathcal{E}, \; e' < e} L_{\mathrm{val}}(e'), \quad "
    r"\mathcal{E} = \text{the evaluated epochs}",
    r"\text{stop at the first } e \in \mathcal{E} \text{ with } L_{\mathrm{val}}(e) \geq L_{\mathrm{best}}(e)",
    r"\theta \leftarrow \theta_{e^{*}}, \quad e^{*} = \operatorname*{argmin}_{e' \in \mathcal{E}, \; e' < e} "
    r"L_{\mathrm{val}}(e')",
)
_EARLY_STOPPING_BOOK = (
    "The book's Trainer copies the network at the *start* of every evaluation epoch, so when the validation "
    "loss rises at epoch 50 it restores the weights after epoch 49, weights never evaluated, while printing "
    "\"using the model from epoch 40\". Both backends share one `dlfs.training.EarlyStopping`: the same rule "
    "(stop at the first evaluation that is not below the best), then the weights of the best *evaluated* epoch, "
    "named in `History.restored_epoch`."
)

SCE_NET = mlp("SoftmaxCrossEntropy", 4)
_P = "parity_tests/"
CONCEPTS = [
    Concept("softmax-cross-entropy", "Softmax cross-entropy (log-sum-exp, mean over the batch)", "4",
            "scratch.losses:SoftmaxCrossEntropy", "torch_impl.losses:SoftmaxCrossEntropy",
            (CheckSpec(softmax_cross_entropy),
             TrajectorySpec(options_net(weighted_smoothed), lambda B, dtype: B.SGD(lr=0.1), classes_with_ignored,
                            epochs=3, batch_size=30, label="weight, label_smoothing, ignored labels")),
            (f"{_P}test_softmax_cross_entropy.py::test_parity_with_cross_entropy_loss",
             f"{_P}test_softmax_cross_entropy.py::test_extreme_logits_stay_finite",
             f"{_P}test_loss_options.py::test_every_option_against_f_cross_entropy",
             f"{_P}test_loss_options.py::test_bad_input_is_refused_by_both_backends_and_pytorch"),
            equations=_SCE_EQ, book_code=_SCE_BOOK),
    Concept("sgd-momentum", "SGD with momentum (PyTorch's form)", "4", "scratch.optimizers:SGDMomentum",
            "torch_impl.optimizers:SGDMomentum",
            TrajectorySpec(SCE_NET, _momentum(0.05), lambda: classes(200), epochs=10, batch_size=20),
            (f"{_P}test_momentum.py::test_trajectory_100_momentum_steps",
             f"{_P}test_momentum.py::test_book_form_diverges_under_decay"),
            conversion="velocities: scratch arrays vs torch.optim momentum_buffer",
            equations=_MOMENTUM_EQ, book_code=_MOMENTUM_BOOK),
    Concept("lr-decay", "Learning-rate decay per epoch (linear, exponential)", "4",
            "scratch.optimizers:Optimizer.setup_decay", "torch_impl.optimizers:Optimizer._make_scheduler",
            tuple(TrajectorySpec(SCE_NET, _momentum(0.1, final_lr=0.01, decay_type=kind), classes, epochs=6,
                                 batch_size=30, label=kind) for kind in ("linear", "exponential")),
            (f"{_P}test_lr_decay.py::test_lr_sequences_agree",
             f"{_P}test_lr_decay.py::test_decayed_trajectory_parity"),
            equations=_LR_DECAY_EQ, book_code=_LR_DECAY_BOOK),
    Concept("glorot", "Glorot initialisation (drawn from one NumPy stream)", "4", "scratch.dense:Dense._setup_layer",
            "torch_impl.dense:Dense._setup_layer", CheckSpec(glorot),
            (f"{_P}test_init.py::test_same_seed_same_draws_in_both_backends",
             f"{_P}test_init.py::test_ks_against_the_formula"),
            conversion="the same draws: W (in, out) copied into nn.Linear.weight.T",
            equations=_GLOROT_EQ, book_code=_GLOROT_BOOK),
    Concept("dropout", "Inverted dropout, p = drop probability, masks from one NumPy stream", "4",
            "scratch.dropout:Dropout", "torch_impl.dropout:Dropout",
            # p = 0.3 in training mode: both backends draw the same masks from the same NumPy stream
            (LayerSpec(lambda B, dtype: B.Dropout(0.3, rng=np.random.default_rng(8)), (9,), training=True,
                       finite_differences=False),
             TrajectorySpec(mlp("SoftmaxCrossEntropy", 4, dropout=0.2), _momentum(0.05), classes, epochs=5,
                            batch_size=30, label="network")),
            (f"{_P}test_dropout.py::test_dropout_train_mode_parity",
             f"{_P}test_dropout.py::test_dense_with_dropout_train_mode_parity",
             f"{_P}test_dropout.py::test_dropout_network_trajectory_over_an_epoch_of_digits"),
            equations=_DROPOUT_EQ, book_code=_DROPOUT_BOOK),
    Concept("early-stopping", "Early stopping: restore the best evaluated epoch (one loop, both backends)", "4",
            "dlfs.training:EarlyStopping", "dlfs.training:EarlyStopping",
            TrajectorySpec(SCE_NET, lambda B, dtype: B.SGD(lr=2.0), classes, epochs=30, batch_size=30,
                           fit_kwargs={"eval_every": 1, "early_stopping": True}),
            (f"{_P}test_early_stopping.py::test_same_stop_and_restored_epoch_in_both_backends",),
            equations=_EARLY_STOPPING_EQ, book_code=_EARLY_STOPPING_BOOK),
]
