"""Per-concept parity checks that run outside pytest: what ``dlfs parity`` runs.

Each check builds its concept small in both backends through the helpers of ``study/parity.py`` (random non-zero
weights and biases, a random upstream gradient, batch sizes 1 and > 1, asymmetric shapes) and returns the
``ParityReport``s it made; in float64 it adds the scratch side's finite-difference check where there is a
backward. A failed comparison raises ``AssertionError`` with the numbers. The pytest suite (``parity_tests/``)
covers more cases; these are the quick, printable summary, one per row of the concept table.

    from study.parity_suite import run
    outcome = run("dense", "float32")        # Outcome(passed=True, reports=[...])
"""

from __future__ import annotations

import contextlib
import io
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from dlfs.backends import backend
from dlfs.tolerances import Tol
from study.parity import (
    Comparison,
    ParityReport,
    build_pair,
    check_finite_differences,
    check_layer_parity,
    check_trajectory,
    compare,
    numerical_gradient,
)

Check = Callable[[str], list[ParityReport]]
CHECKS: dict[str, Check] = {}
DTYPES = ("float64", "float32")
BATCHES = (1, 4)


def register(*keys: str) -> Callable[[Check], Check]:
    """Register ``check(dtype) -> [ParityReport, ...]`` as the parity check of the concepts ``keys``."""
    def deco(fn: Check) -> Check:
        for k in keys:
            CHECKS[k] = fn
        return fn
    return deco


def _report(concept: str, dtype: str, comparisons: list[Comparison]) -> ParityReport:
    r = ParityReport(concept, dtype)
    for c in comparisons:
        r.add(c)
    return r


def _layer(concept: str, build: Callable[[ModuleType], Any], shape: tuple[int, ...], dtype: str,
           op: str = "default", x_scale: float = 1.0, training: bool = False, fd: bool = True) -> list[ParityReport]:
    """check_layer_parity at batch 1 and 4 (``shape`` without the batch axis), plus finite differences in float64."""
    reports = []
    for i, batch in enumerate(BATCHES):
        x = np.random.default_rng(10 + i).standard_normal((batch, *shape)) * x_scale
        reports.append(check_layer_parity(f"{concept} batch {batch}", build, x.shape, dtype, seed=i, op=op, x=x,
                                          training=training))
    if fd and dtype == "float64":
        x = np.random.default_rng(12).standard_normal((BATCHES[-1], *shape)) * x_scale
        x[np.abs(x) < 1e-2] = 0.5  # away from kinks (ReLU at 0), where the derivative is undefined
        reports.append(check_finite_differences(concept, build, x.shape, x=x))
    return reports


# --- chapter 1: foundations ------------------------------------------------------------------------------------

def _foundations() -> tuple[Any, Any]:
    return backend("scratch").foundations, backend("torch").foundations


@register("derivatives")
def _derivatives(dtype: str) -> list[ParityReport]:
    """Each elementary function and its hand-derived derivative (scratch) against torch autograd."""
    S, T = _foundations()
    x = np.random.default_rng(1).standard_normal((4, 3)) * 2
    x[np.abs(x) < 0.05] = 0.5  # relu's kink at 0 has no derivative
    x = x.astype(dtype)
    comps = []
    for name in ("square", "relu", "leaky_relu", "sigmoid"):
        comps.append(compare(f"output {name}", getattr(T, name)(x), getattr(S, name)(x), "activation", dtype))
        comps.append(compare(f"input_grad {name}'", getattr(T, name + "_deriv")(x), getattr(S, name + "_deriv")(x),
                             "activation", dtype))
    reports = [_report("derivatives", dtype, comps)]
    if dtype == "float64":
        fd = [compare(f"input_grad {n}'", S.deriv(getattr(S, n), x, 1e-6), getattr(S, n + "_deriv")(x),
                      "finite_difference") for n in ("square", "relu", "leaky_relu", "sigmoid")]
        reports.append(_report("derivatives (finite differences)", dtype, fd))
    return reports


@register("chain-rule")
def _chain_rule(dtype: str) -> list[ParityReport]:
    """The chain rule for sigmoid(square(x)) and sigmoid(square(leaky_relu(x)))."""
    S, T = _foundations()
    x = (np.random.default_rng(2).standard_normal((3, 5)) * 2).astype(dtype)
    comps = []
    for rule, names in (("chain_deriv_2", ("square", "sigmoid")), ("chain_deriv_3", ("leaky_relu", "square",
                                                                                       "sigmoid"))):
        s_chain, t_chain = [getattr(S, n) for n in names], [getattr(T, n) for n in names]
        comps.append(compare(f"output {rule}", T.chain(t_chain)(x), S.chain(s_chain)(x), "activation", dtype))
        comps.append(compare(f"input_grad {rule}", getattr(T, rule)(t_chain, x), getattr(S, rule)(s_chain, x),
                             "activation", dtype))
    return [_report("chain-rule", dtype, comps)]


@register("matrix-chain-rule")
def _matrix_chain_rule(dtype: str) -> list[ParityReport]:
    """L = sum(sigma(X @ W)) and its gradients dL/dX, dL/dW, for X (n, 3) and W (3, 2), n = 1 and 4."""
    S, T = _foundations()
    reports = []
    for n in BATCHES:
        rng = np.random.default_rng(n)
        X, W = rng.standard_normal((n, 3)).astype(dtype), rng.standard_normal((3, 2)).astype(dtype)
        dX, dW = S.matrix_function_backward_sum(X, W, S.sigmoid)
        tdX, tdW = T.matrix_function_backward_sum(X, W, T.sigmoid)
        L_s = S.matrix_function_forward_sum(X, W, S.sigmoid)
        L_t = T.matrix_function_forward_sum(X, W, T.sigmoid)
        reports.append(_report(f"matrix-chain-rule batch {n}", dtype, [
            compare("output", np.array(L_t), np.array(L_s), dtype=dtype, check_dtype=False),
            compare("input_grad", tdX, dX), compare("grad:W", tdW, dW)]))
        if dtype == "float64":
            loss = lambda: S.matrix_function_forward_sum(X, W, S.sigmoid)  # noqa: E731, B023
            reports.append(_report(f"matrix-chain-rule batch {n} (finite differences)", dtype, [
                compare("input_grad", dX, numerical_gradient(loss, X), "finite_difference"),
                compare("grad:W", dW, numerical_gradient(loss, W), "finite_difference")]))
    return reports


@register("multiple-inputs")
def _multiple_inputs(dtype: str) -> list[ParityReport]:
    """s = sigma(x + y) and s = sigma(x * y) with (ds/dx, ds/dy): hand-derived against autograd."""
    S, T = _foundations()
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    comps = []
    for op in ("add", "multiply"):
        f, back = f"multiple_inputs_{op}", f"multiple_inputs_{op}_backward"
        comps.append(compare(f"output {op}", getattr(T, f)(x, y, T.sigmoid), getattr(S, f)(x, y, S.sigmoid),
                             "activation", dtype))
        for name, gt, gs in zip("xy", getattr(T, back)(x, y, T.sigmoid), getattr(S, back)(x, y, S.sigmoid)):
            comps.append(compare(f"input_grad {op} d/d{name}", gt, gs, "activation", dtype))
    return [_report("multiple-inputs", dtype, comps)]


# --- chapters 2-3: dense networks ------------------------------------------------------------------------------

@register("linear-regression")
def _linear_regression(dtype: str) -> list[ParityReport]:
    """The closed form in both backends, and scikit-learn's ``LinearRegression`` as referee (float64 only)."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5)).astype(dtype)
    y = (X @ rng.standard_normal((5, 1)) + 0.3 + 0.1 * rng.standard_normal((40, 1))).astype(dtype)
    s = backend("scratch").closed_form_linear_regression(X, y)
    t = backend("torch").closed_form_linear_regression(X, y)
    reports = [_report("linear-regression", dtype, [compare(f"param:{k}", t[k], s[k]) for k in sorted(s)])]
    if dtype == "float64":
        sk = LinearRegression().fit(X, y)
        reports.append(_report("linear-regression (sklearn referee)", dtype, [
            compare("param:W", s["W"], sk.coef_.T), compare("param:B", s["B"], np.reshape(sk.intercept_, (1, 1)))]))
    return reports


def _activation(name: str) -> Check:
    def check(dtype: str) -> list[ParityReport]:
        # scaled by 4 so the tails saturate; the op's float32 tolerance covers exp() differing by an ulp
        return _layer(name.lower(), lambda B: getattr(B, name)(), (9,), dtype, op="activation", x_scale=4.0)
    check.__doc__ = f"{name} forward and backward on (batch, 9) inputs spanning both tails."
    return check


for _name in ("Sigmoid", "Tanh", "ReLU", "Linear"):
    register(_name.lower())(_activation(_name))


@register("dense")
def _dense(dtype: str) -> list[ParityReport]:
    """Dense(5, Tanh) on 7 inputs: output, dL/dx, dL/dW (7, 5) and dL/dB (1, 5)."""
    return _layer("dense", lambda B: B.Dense(5, B.Tanh()), (7,), dtype)


@register("mse")
def _mse(dtype: str) -> list[ParityReport]:
    """The loss value and dL/dprediction on (batch, 3), and the book's reduction written out."""
    reports = []
    S, T = backend("scratch"), backend("torch")
    for n in BATCHES:
        rng = np.random.default_rng(n)
        p, y = rng.standard_normal((n, 3)).astype(dtype), rng.standard_normal((n, 3)).astype(dtype)
        ls, lt = S.MeanSquaredError(), T.MeanSquaredError()
        vs, vt = ls.forward(p, y), lt.forward(p, y)
        comps = [compare("output", np.array(vt), np.array(vs), dtype=dtype, check_dtype=False),
                 compare("input_grad", lt.backward(), ls.backward()),
                 compare("output (sum over outputs / batch)", np.array(vs),
                         np.array(np.sum((p.astype(np.float64) - y) ** 2) / n), dtype=dtype, check_dtype=False)]
        reports.append(_report(f"mse batch {n}", dtype, comps))
        if dtype == "float64":
            num = numerical_gradient(lambda: S.MeanSquaredError().forward(p, y), p)  # noqa: B023
            reports.append(_report(f"mse batch {n} (finite differences)", dtype,
                                   [compare("input_grad", ls.backward(), num, "finite_difference")]))
    return reports


@register("network")
def _network(dtype: str) -> list[ParityReport]:
    """A 3-layer network 11 -> 8 tanh -> 5 relu -> 3: every layer's W and B gradient."""
    def build(B: ModuleType) -> Any:
        return B.NeuralNetwork([B.Dense(8, B.Tanh()), B.Dense(5, B.ReLU()), B.Dense(3)], B.MeanSquaredError(),
                               dtype=dtype)
    return _layer("network", build, (11,), dtype)


def _regression_data(n: int = 200, d: int = 13) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    X = rng.standard_normal((n, d))
    return X, np.tanh(X @ rng.standard_normal((d, 1))) + 0.1 * rng.standard_normal((n, 1))


def _mlp(dtype: str, loss: str = "MeanSquaredError", out: int = 1, dropout: float = 0.0,
         weight_init: str = "standard") -> Callable[[ModuleType], Any]:
    def build(B: ModuleType) -> Any:
        return B.NeuralNetwork([B.Dense(13, B.Sigmoid(), weight_init=weight_init, dropout=dropout),
                                B.Dense(out, B.Linear(), weight_init=weight_init)], getattr(B, loss)(), seed=3,
                               dtype=dtype)
    return build


@register("sgd", "trainer")
def _sgd(dtype: str) -> list[ParityReport]:
    """100 SGD steps (10 epochs of 10 batches) from the same weights on the same batches: every parameter,
    and the per-epoch losses the two Trainers record."""
    X, y = _regression_data()
    return [check_trajectory("sgd", _mlp(dtype), lambda B: B.SGD(lr=0.01), X, y, epochs=10, batch_size=20,
                             dtype=dtype, compare_history=True)]


# --- chapter 4: extensions ---------------------------------------------------------------------------------------

def _classes(n: int = 120, d: int = 13, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, d))
    return X, np.argmax(X @ rng.standard_normal((d, k)), axis=1)


@register("softmax-cross-entropy")
def _softmax_cross_entropy(dtype: str) -> list[ParityReport]:
    """Loss and dL/dlogits on (batch, 5) logits with integer labels, against ``nn.CrossEntropyLoss``."""
    reports = []
    S, T = backend("scratch"), backend("torch")
    for n in BATCHES:
        rng = np.random.default_rng(n)
        z, y = (rng.standard_normal((n, 5)) * 3).astype(dtype), rng.integers(0, 5, n)
        ls, lt = S.SoftmaxCrossEntropy(), T.SoftmaxCrossEntropy()
        vs, vt = ls.forward(z, y), lt.forward(z, y)
        reports.append(_report(f"softmax-cross-entropy batch {n}", dtype, [
            compare("output", np.array(vt), np.array(vs), dtype=dtype, check_dtype=False),
            compare("input_grad", lt.backward(), ls.backward())]))
        if dtype == "float64":
            num = numerical_gradient(lambda: S.SoftmaxCrossEntropy().forward(z, y), z)  # noqa: B023
            reports.append(_report(f"softmax-cross-entropy batch {n} (finite differences)", dtype,
                                   [compare("input_grad", ls.backward(), num, "finite_difference")]))
    return reports


@register("sgd-momentum")
def _sgd_momentum(dtype: str) -> list[ParityReport]:
    """SGDMomentum(0.9) against ``torch.optim.SGD(momentum=0.9)``: 100 steps, softmax cross-entropy."""
    X, y = _classes(200)
    return [check_trajectory("sgd-momentum", _mlp(dtype, "SoftmaxCrossEntropy", 4),
                             lambda B: B.SGDMomentum(lr=0.05, momentum=0.9), X, y, epochs=10, batch_size=20,
                             dtype=dtype, compare_history=True)]


@register("lr-decay")
def _lr_decay(dtype: str) -> list[ParityReport]:
    """Linear and exponential decay from lr to final_lr (scratch's schedule vs ``lr_scheduler``), per epoch."""
    X, y = _classes()
    return [check_trajectory(f"lr-decay {kind}", _mlp(dtype, "SoftmaxCrossEntropy", 4),
                             lambda B, kind=kind: B.SGDMomentum(lr=0.1, momentum=0.9, final_lr=0.01, decay_type=kind),
                             X, y, epochs=6, batch_size=30, dtype=dtype, compare_history=True)
            for kind in ("linear", "exponential")]


@register("glorot")
def _glorot(dtype: str) -> list[ParityReport]:
    """The same seed draws the same Glorot weights in both backends (exactly), and their spread is
    sqrt(2 / (fan_in + fan_out))."""
    nets = {}
    for name in ("scratch", "torch"):
        B = backend(name)
        nets[name] = B.NeuralNetwork([B.Dense(300, B.Tanh(), weight_init="glorot")], B.MeanSquaredError(), seed=5,
                                     dtype=dtype)
        nets[name].forward(np.zeros((1, 200), dtype=dtype), training=False)
    s, t = nets["scratch"].state_dict(), nets["torch"].state_dict()
    exact = Tol(0.0, 0.0, "drawn from one NumPy stream: bitwise equal")
    same = [compare(f"param:{k}", t[k], s[k], tol=exact) for k in sorted(s)]
    # the sample standard deviation of 60,000 N(0, sigma^2) draws is within 1% of sigma (3 standard errors)
    spread = compare("std(W)", np.array(np.std(s["layers.0.W"].astype(np.float64))),
                     np.array(np.sqrt(2 / (200 + 300))), tol=Tol(0.01, 0.0, "standard error of the std: 0.3%"))
    return [_report("glorot", dtype, same), _report("glorot std(W) vs sqrt(2 / (fan_in + fan_out)) (referee)", dtype,
                                                    [spread])]


@register("dropout")
def _dropout(dtype: str) -> list[ParityReport]:
    """Inverted dropout p = 0.3 in training mode: both backends draw the same masks from the same NumPy stream."""
    reports = _layer("dropout", lambda B: B.Dropout(0.3, rng=np.random.default_rng(8)), (9,), dtype, training=True,
                     fd=False)
    X, y = _classes()
    reports.append(check_trajectory("dropout", _mlp(dtype, "SoftmaxCrossEntropy", 4, dropout=0.2),
                                    lambda B: B.SGDMomentum(lr=0.05, momentum=0.9), X, y, epochs=5, batch_size=30,
                                    dtype=dtype, compare_history=True))
    return reports


@register("early-stopping")
def _early_stopping(dtype: str) -> list[ParityReport]:
    """A learning rate too large to keep improving: both stop at the same evaluation and restore the same epoch."""
    X, y = _classes()
    return [check_trajectory("early-stopping", _mlp(dtype, "SoftmaxCrossEntropy", 4), lambda B: B.SGD(lr=2.0), X, y,
                             epochs=30, batch_size=30, dtype=dtype, fit_kwargs={"eval_every": 1,
                                                                                "early_stopping": True},
                             compare_history=True)]


# --- chapter 5: convolutional networks -----------------------------------------------------------------------------

@register("conv2d")
def _conv2d(dtype: str) -> list[ParityReport]:
    """Conv2D against ``nn.Conv2d`` (output, dL/dx, dL/dW, dL/dB): 3 maps of a 3x3 kernel, "same" padding, on
    (batch, 2, 5, 7); and a (2, 3) kernel with stride 2, padding 1 and tanh on (batch, 2, 7, 6)."""
    return (_layer("conv2d", lambda B: B.Conv2D(3, 3), (2, 5, 7), dtype)
            + _layer("conv2d strided", lambda B: B.Conv2D(3, (2, 3), stride=2, padding=1, activation="tanh"),
                     (2, 7, 6), dtype))


@register("max-pool")
def _max_pool(dtype: str) -> list[ParityReport]:
    """MaxPool2D(2) on (batch, 2, 6, 5): the last column is dropped, as ``nn.MaxPool2d`` does."""
    return _layer("max-pool", lambda B: B.MaxPool2D(2), (2, 6, 5), dtype)


@register("avg-pool")
def _avg_pool(dtype: str) -> list[ParityReport]:
    """AvgPool2D((3, 2), stride 1) on (batch, 2, 5, 6): overlapping windows."""
    return _layer("avg-pool", lambda B: B.AvgPool2D((3, 2), stride=1), (2, 5, 6), dtype)


@register("flatten")
def _flatten(dtype: str) -> list[ParityReport]:
    """Flatten (batch, 2, 4, 5) -> (batch, 40) and back in the backward."""
    return _layer("flatten", lambda B: B.Flatten(), (2, 4, 5), dtype)


@register("reshape")
def _reshape(dtype: str) -> list[ParityReport]:
    """Reshape (batch, 24) -> (batch, 3, 2, 4)."""
    return _layer("reshape", lambda B: B.Reshape((3, 2, 4)), (24,), dtype)


# --- chapter 6: autograd, recurrent networks, adaptive optimisers ----------------------------------------------

@register("autograd")
def _autograd(dtype: str) -> list[ParityReport]:
    """A two-layer expression, sigmoid(tanh(x @ W + b) @ V), through each backend's autograd engine, with a
    random upstream gradient: the output and the gradient of every leaf."""
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in ((4, 3), (3, 5), (5,), (5, 2))]
    G = rng.standard_normal((4, 2)).astype(dtype)
    results = {}
    for name in ("scratch", "torch"):
        L = backend(name).autograd
        x, W, b, V = (L.tensor(a) for a in arrays)
        out = ((x @ W + b).tanh() @ V).sigmoid()
        L.backward(out, G)
        results[name] = (L.to_numpy(out), [L.grad_of(t) for t in (x, W, b, V)])
    (out_s, grads_s), (out_t, grads_t) = results["scratch"], results["torch"]
    comps = [compare("output", out_t, out_s, "autograd", dtype)]
    comps += [compare(f"{'input_grad' if k == 'x' else 'grad:' + k}", gt, gs, "autograd", dtype)
              for k, gs, gt in zip(("x", "W", "b", "V"), grads_s, grads_t)]
    return [_report("autograd", dtype, comps)]


def _recurrent(concept: str, build: Callable[[ModuleType], Any]) -> Check:
    def check(dtype: str) -> list[ParityReport]:
        return _layer(concept, build, (6, 5), dtype)  # 6 time steps of 5 features, hidden 7: V != H
    check.__doc__ = f"{concept} over 6 time steps, input width 5, hidden 7: output, dL/dx, every gate's gradient."
    return check


register("rnn")(_recurrent("rnn", lambda B: B.RNNLayer(7)))
register("gru")(_recurrent("gru", lambda B: B.GRULayer(7, gru="torch")))
register("gru-classic")(_recurrent("gru-classic", lambda B: B.GRULayer(7, gru="classic")))
register("lstm")(_recurrent("lstm", lambda B: B.LSTMLayer(7)))
register("rnn-linear")(_recurrent("rnn-linear", lambda B: B.RNNLinear(4)))


@register("adagrad")
def _adagrad(dtype: str) -> list[ParityReport]:
    """AdaGrad against ``torch.optim.Adagrad``: 100 steps from the same weights on the same batches."""
    X, y = _regression_data()
    return [check_trajectory("adagrad", _mlp(dtype), lambda B: B.AdaGrad(lr=0.05), X, y, epochs=10, batch_size=20,
                             dtype=dtype, compare_history=True)]


@register("adam")
def _adam(dtype: str) -> list[ParityReport]:
    """Adam against ``torch.optim.Adam``: 100 steps from the same weights on the same batches."""
    X, y = _regression_data()
    return [check_trajectory("adam", _mlp(dtype), lambda B: B.Adam(lr=0.01), X, y, epochs=10, batch_size=20,
                             dtype=dtype, compare_history=True)]


@register("gradient-clipping")
def _gradient_clipping(dtype: str) -> list[ParityReport]:
    """clip_grad_value and clip_grad_norm against ``torch.nn.utils``' on one backward's gradients, then 100 Adam
    steps that clip by norm before every update."""
    X, y = _regression_data()
    comps = []
    for clip in ("value", "norm"):
        s_net, t_net, _ = build_pair(_mlp(dtype), X[:8].astype(dtype))
        for net in (s_net, t_net):
            net.train_batch(X[:8].astype(dtype), y[:8].astype(dtype))
        B = {id(s_net): backend("scratch"), id(t_net): backend("torch")}
        if clip == "value":
            for net in (s_net, t_net):
                B[id(net)].clip_grad_value(net, 0.05)
        else:
            norms = [B[id(net)].clip_grad_norm(net, 0.1) for net in (s_net, t_net)]
            comps.append(compare("grad norm", np.array(norms[1]), np.array(norms[0]), dtype=dtype,
                                 check_dtype=False))
        gs, gt = s_net.grad_dict(), t_net.grad_dict()
        largest = max(float(np.abs(g).max()) for g in gs.values())
        if clip == "value" and not np.isclose(largest, 0.05):  # the check must clip something to mean anything
            raise AssertionError(f"clip_grad_value(0.05) left a largest gradient of {largest}")
        if clip == "norm" and not norms[0] > 0.1:
            raise AssertionError(f"clip_grad_norm(0.1): the gradient norm {norms[0]} needed no clipping")
        comps += [compare(f"grad:{k} clipped by {clip}", gt[k], gs[k]) for k in sorted(gs)]
    report = _report("gradient-clipping", dtype, comps)
    return [report, check_trajectory("gradient-clipping", _mlp(dtype), lambda B: B.Adam(lr=0.01, clip_norm=0.5), X, y,
                                     epochs=10, batch_size=20, dtype=dtype, compare_history=True)]


# --- chapter 7: t-SNE --------------------------------------------------------------------------------------------

@register("autoencoder")
def _autoencoder(dtype: str) -> list[ParityReport]:
    """The chapter 7 convolutional autoencoder as one model (4 Conv2D, 2 Dense, Reshape): output, dL/dx and all
    12 parameter gradients, on an asymmetric 6x7 image with a 5-number encoding. Weights of scale 0.1 keep the
    tanh layers out of saturation (where every gradient would vanish and agree trivially). Finite differences of
    the whole model take seconds, so they stay in parity_tests/test_autoencoder.py."""
    reports = []
    for i, batch in enumerate(BATCHES):
        reports.append(check_layer_parity(
            f"autoencoder batch {batch}", lambda B: B.Autoencoder((6, 7), encoding_dim=5, seed=5, dtype=dtype),
            (batch, 1, 6, 7), dtype, seed=i, scale=0.1))
    return reports


@register("tsne")
def _tsne(dtype: str) -> list[ParityReport]:
    """The pieces of exact t-SNE on 60 digits: joint probabilities P (perplexity 10), the Student-t affinities Q,
    KL(P || Q) and its gradient (analytic in scratch, autograd in torch); scikit-learn referees in float64."""
    from sklearn.datasets import load_digits

    S, T = backend("scratch").tsne, backend("torch").tsne
    X = load_digits().data[:60]
    D = S.pairwise_squared_distances(X).astype(dtype)
    Y = (3.0 * np.random.default_rng(11).standard_normal((60, 2))).astype(dtype)
    P_s, P_t = S.joint_probabilities(D, 10.0), T.joint_probabilities(D, 10.0)
    kl_s, grad_s = S.kl_divergence(P_s, Y)
    kl_t, grad_t = T.kl_divergence(P_s, Y)
    reports = [_report("tsne", dtype, [
        compare("output P", P_t, P_s, dtype=dtype), compare("output Q", T.student_t_affinities(Y),
                                                              S.student_t_affinities(Y), dtype=dtype),
        compare("output KL", np.array(kl_t), np.array(kl_s), dtype=dtype, check_dtype=False),
        compare("grad:Y", grad_t, grad_s, dtype=dtype)])]
    if dtype == "float64":
        from scipy.spatial.distance import squareform
        from sklearn.manifold._t_sne import _joint_probabilities, _kl_divergence

        # sklearn searches on float32 distances: give both the same float32-representable numbers
        D32 = D.astype(np.float32).astype(np.float64)
        P_ref = squareform(_joint_probabilities(D32, 10.0, 0))
        kl_ref, grad_ref = _kl_divergence(Y.ravel(), squareform(P_s), 1, 60, 2)
        reports.append(_report("tsne (sklearn referee)", dtype, [
            compare("output P", S.joint_probabilities(D32, 10.0), P_ref),
            compare("output KL", np.array(kl_s), np.array(kl_ref)),
            compare("grad:Y", grad_s, grad_ref.reshape(60, 2))]))
    return reports


# --- running -------------------------------------------------------------------------------------------------------

GROUPS = (("output", "forward"), ("input_grad", "input grad"), ("grad:", "param grads"), ("param:", "params"),
          ("history:", "history"))


def group_of(name: str) -> str:
    """The row a comparison is reported in: forward, input grad, param grads, params (after training), history."""
    for prefix, label in GROUPS:
        if name.startswith(prefix):
            return label
    return name


def is_oracle(report: ParityReport) -> bool:
    """A report against a third opinion (finite differences, scikit-learn), not scratch against torch."""
    return "finite differences" in report.concept or "referee" in report.concept


@dataclass
class Outcome:
    """The result of one concept's check at one dtype."""

    concept: str
    dtype: str
    reports: list[ParityReport] = field(default_factory=list)
    error: str | None = None  # the AssertionError's message (or the exception) when the check failed
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None

    def rows(self) -> list[dict[str, Any]]:
        """One row per (report, group): worst max abs / rel error, and the tolerance of the comparison with the
        largest relative error."""
        out = []
        for r in self.reports:
            groups: dict[str, list[Comparison]] = {}
            for c in r.comparisons:
                groups.setdefault(group_of(c.name), []).append(c)
            for label, cs in groups.items():
                worst = max(cs, key=lambda c: c.max_rel)
                out.append({"check": r.concept, "quantity": label, "n": len(cs),
                            "max_abs": max(c.max_abs for c in cs), "max_rel": max(c.max_rel for c in cs),
                            "rtol": worst.rtol, "atol": worst.atol})
        return out

    def summary(self) -> dict[str, Any]:
        """What ``last_parity.json`` keeps: pass/fail and the worst scratch-vs-torch errors per group."""
        paired = [c for r in self.reports if not is_oracle(r) for c in r.comparisons]
        by_group: dict[str, dict[str, float]] = {}
        for c in paired:
            g = by_group.setdefault(group_of(c.name), {"max_abs": 0.0, "max_rel": 0.0})
            g["max_abs"], g["max_rel"] = max(g["max_abs"], c.max_abs), max(g["max_rel"], c.max_rel)
        return {"passed": self.passed, "error": self.error, "seconds": round(self.seconds, 3),
                "max_abs": max((c.max_abs for c in paired), default=None),
                "max_rel": max((c.max_rel for c in paired), default=None), "groups": by_group,
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def run(key: str, dtype: str = "float64") -> Outcome:
    """Run the parity check of concept ``key`` at ``dtype``; a failure is recorded in the Outcome, not raised."""
    if key not in CHECKS:
        raise KeyError(f"no parity check registered for concept {key!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype: expected one of {list(DTYPES)}, got {dtype!r}")
    t0 = time.perf_counter()
    outcome = Outcome(key, dtype)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainers' own messages (early stopping) stay out
            outcome.reports = CHECKS[key](dtype)
    except AssertionError as e:
        outcome.error = str(e) or "assertion failed"
    except Exception as e:  # a concept being built right now may not even import: report it, keep going
        outcome.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
    outcome.seconds = time.perf_counter() - t0
    return outcome
