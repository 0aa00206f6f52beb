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


SCE_NET = mlp("SoftmaxCrossEntropy", 4)
_P = "parity_tests/"
CONCEPTS = [
    Concept("softmax-cross-entropy", "Softmax cross-entropy (log-sum-exp, mean over the batch)", "4",
            "scratch.losses:SoftmaxCrossEntropy", "torch_impl.losses:SoftmaxCrossEntropy",
            CheckSpec(softmax_cross_entropy),
            (f"{_P}test_softmax_cross_entropy.py::test_parity_with_cross_entropy_loss",
             f"{_P}test_softmax_cross_entropy.py::test_extreme_logits_stay_finite")),
    Concept("sgd-momentum", "SGD with momentum (PyTorch's form)", "4", "scratch.optimizers:SGDMomentum",
            "torch_impl.optimizers:SGDMomentum",
            TrajectorySpec(SCE_NET, _momentum(0.05), lambda: classes(200), epochs=10, batch_size=20),
            (f"{_P}test_momentum.py::test_trajectory_100_momentum_steps",
             f"{_P}test_momentum.py::test_book_form_diverges_under_decay"),
            conversion="velocities: scratch arrays vs torch.optim momentum_buffer"),
    Concept("lr-decay", "Learning-rate decay per epoch (linear, exponential)", "4",
            "scratch.optimizers:Optimizer.setup_decay", "torch_impl.optimizers:Optimizer._make_scheduler",
            tuple(TrajectorySpec(SCE_NET, _momentum(0.1, final_lr=0.01, decay_type=kind), classes, epochs=6,
                                 batch_size=30, label=kind) for kind in ("linear", "exponential")),
            (f"{_P}test_lr_decay.py::test_lr_sequences_agree",
             f"{_P}test_lr_decay.py::test_decayed_trajectory_parity")),
    Concept("glorot", "Glorot initialisation (drawn from one NumPy stream)", "4", "scratch.dense:Dense._setup_layer",
            "torch_impl.dense:Dense._setup_layer", CheckSpec(glorot),
            (f"{_P}test_init.py::test_same_seed_same_draws_in_both_backends",
             f"{_P}test_init.py::test_ks_against_the_formula"),
            conversion="the same draws: W (in, out) copied into nn.Linear.weight.T"),
    Concept("dropout", "Inverted dropout, p = drop probability, masks from one NumPy stream", "4",
            "scratch.dropout:Dropout", "torch_impl.dropout:Dropout",
            # p = 0.3 in training mode: both backends draw the same masks from the same NumPy stream
            (LayerSpec(lambda B, dtype: B.Dropout(0.3, rng=np.random.default_rng(8)), (9,), training=True,
                       finite_differences=False),
             TrajectorySpec(mlp("SoftmaxCrossEntropy", 4, dropout=0.2), _momentum(0.05), classes, epochs=5,
                            batch_size=30, label="network")),
            (f"{_P}test_dropout.py::test_dropout_train_mode_parity",
             f"{_P}test_dropout.py::test_dense_with_dropout_train_mode_parity",
             f"{_P}test_dropout.py::test_dropout_network_trajectory_over_an_epoch_of_digits")),
    Concept("early-stopping", "Early stopping: restore the best evaluated epoch (one loop, both backends)", "4",
            "dlfs.training:EarlyStopping", "dlfs.training:EarlyStopping",
            TrajectorySpec(SCE_NET, lambda B, dtype: B.SGD(lr=2.0), classes, epochs=30, batch_size=30,
                           fit_kwargs={"eval_every": 1, "early_stopping": True}),
            (f"{_P}test_early_stopping.py::test_same_stop_and_restored_epoch_in_both_backends",)),
]
