"""Chapter 4, extensions: softmax cross-entropy, momentum, learning-rate decay, Glorot initialisation,
dropout and early stopping."""

from __future__ import annotations

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


def softmax_cross_entropy(dtype: str) -> list[ParityReport]:
    """Loss and dL/dlogits on (batch, 5) logits of scale 3 with integer labels, against
    ``nn.CrossEntropyLoss``; finite differences in float64."""
    reports = []
    S, T = backend("scratch"), backend("torch")
    for n in BATCHES:
        rng = np.random.default_rng(n)
        z, y = (rng.standard_normal((n, 5)) * 3).astype(dtype), rng.integers(0, 5, n)
        ls, lt = S.SoftmaxCrossEntropy(), T.SoftmaxCrossEntropy()
        vs, vt = ls.forward(z, y), lt.forward(z, y)
        reports.append(report(f"softmax-cross-entropy batch {n}", dtype, [
            compare("output", np.array(vt), np.array(vs), dtype=dtype, check_dtype=False),
            compare("input_grad", lt.backward(), ls.backward())]))
        if dtype == "float64":
            def loss(z: np.ndarray = z, y: np.ndarray = y) -> float:
                return S.SoftmaxCrossEntropy().forward(z, y)
            reports.append(report(f"softmax-cross-entropy batch {n} (finite differences)", dtype, [
                compare("input_grad", ls.backward(), numerical_gradient(loss, z), "finite_difference")]))
    return reports


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
    r"p_{n} = \mathrm{softmax}(z_{n}), \quad p_{nc} = \frac{e^{z_{nc}}}{\sum_{k} e^{z_{nk}}}",
    r"\log p_{nc} = z_{nc} - m_{n} - \log \sum_{k} e^{z_{nk} - m_{n}}, \quad m_{n} = \max_{k} z_{nk}",
    r"L = -\frac{1}{N} \sum_{n} \log p_{n, y_{n}}",
    r"\frac{\partial L}{\partial z_{n}} = \frac{p_{n} - \mathrm{onehot}(y_{n})}{N}",
)
_SCE_BOOK = (
    "The book clips the softmax probabilities to [1e-9, 1 - 1e-9] and reports as its loss the *binary* "
    "cross-entropy summed over the classes, `sum(-y log p - (1 - y) log(1 - p)) / N`, while its gradient is "
    "`(p - y) / N`, the gradient of the categorical loss: loss and gradient disagree. Both backends compute the "
    "loss whose gradient that is: the mean over the batch of `-log softmax(z)[y]`, by log-sum-exp with no "
    "clipping (finite for logits of +-1e3), equal to `nn.CrossEntropyLoss()`. The gradient that trains is the "
    "book's up to its clipping; the reported loss values are not comparable number for number."
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
            CheckSpec(softmax_cross_entropy),
            (f"{_P}test_softmax_cross_entropy.py::test_parity_with_cross_entropy_loss",
             f"{_P}test_softmax_cross_entropy.py::test_extreme_logits_stay_finite"),
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
