"""The losses with PyTorch's arguments, in both backends: ``SoftmaxCrossEntropy(weight, ignore_index,
label_smoothing, reduction, *, class_axis, probabilities)`` and ``MeanSquaredError(reduction)``.

Every option against ``torch.nn.functional`` called directly (value and dL/dinput with a random upstream gradient),
scratch against torch, the scratch gradient against finite differences (float64); one-hot rows as PyTorch's
class-probability targets; every target ignored; the options inside a network (every parameter gradient) and a
Trainer; ``reduction="none"`` refused for training; and a table of bad input that both backends refuse with the
same message, each row checked against what PyTorch itself does (where the two differ, the row says why)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlfs
from study.chapters.ch4 import CE_LAYOUTS, cross_entropy_case
from study.parity import build_pair, check_trajectory, compare, numerical_gradient

S, T = dlfs.backend("scratch"), dlfs.backend("torch")
DTYPES = ("float64", "float32")


def reference(z: np.ndarray, y: np.ndarray, kwargs: dict, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``F.cross_entropy`` on PyTorch's layout (the class axis moved to 1): the loss and dL/dz (upstream ``g``),
    the gradient moved back to z's layout."""
    kw = dict(kwargs)
    axis, _ = kw.pop("class_axis", -1), kw.pop("probabilities", False)
    zt = torch.tensor(np.moveaxis(z, axis, 1), requires_grad=True)
    yt = torch.tensor(np.moveaxis(y, axis, 1) if y.shape == z.shape else y)  # probabilities move with z
    if kw.get("weight") is not None:
        kw["weight"] = torch.tensor(kw["weight"], dtype=zt.dtype)
    loss = F.cross_entropy(zt, yt, **kw)
    loss.backward(torch.tensor(g, dtype=zt.dtype))
    return loss.detach().numpy(), np.moveaxis(zt.grad.numpy(), 1, axis)


# --- every option, against F.cross_entropy -----------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["indices", "probabilities", "one-hot"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_option_against_f_cross_entropy(dtype, kind, reduction):
    """weight x ignore_index x label_smoothing 0 / 0.1 / 1 x K = 0, 1, 2 (class axis 1 and last) x batch 1 and 3;
    some targets ignored, and for batch 3 every position of sample 0 (a whole row)."""
    n = 0
    for weighted, ignored, eps, (K, axis), batch in itertools.product(
            (False, True), (False, True), (0.0, 0.1, 1.0), CE_LAYOUTS, (1, 3)):
        if ignored and kind != "indices":
            continue
        label, kwargs, z, y, g = cross_entropy_case(kind, weighted, ignored, eps, reduction, K, axis, batch, dtype)
        ref_loss, ref_grad = reference(z, y, kwargs, g)
        grads = {}
        for B in (S, T):
            loss = B.SoftmaxCrossEntropy(**kwargs)
            value = loss.forward(z, y)
            assert isinstance(value, np.ndarray if reduction == "none" else float), label
            compare(f"{B.__name__} {label}: loss vs F.cross_entropy", np.array(value), ref_loss, dtype=dtype,
                    check_dtype=False)
            grads[B.__name__] = loss.backward(g)
            compare(f"{B.__name__} {label}: grad vs F.cross_entropy", grads[B.__name__], ref_grad, dtype=dtype)
        compare(f"{label}: torch grad vs scratch grad", grads["torch_impl"], grads["scratch"], dtype=dtype)
        if ignored and batch > 1 and K > 0:  # a whole row ignored: no gradient reaches it
            assert not np.take(grads["scratch"], 0, axis=0).any() and not np.take(grads["torch_impl"], 0, 0).any()
        if dtype == "float64":
            def total(z=z, y=y, kwargs=kwargs, g=g):
                return float(np.sum(S.SoftmaxCrossEntropy(**kwargs).forward(z, y) * g))
            compare(f"{label}: grad vs finite differences", grads["scratch"], numerical_gradient(total, z),
                    "finite_difference", "float64")
        n += 1
    assert n == (120 if kind == "indices" else 60)


@pytest.mark.parametrize("B", [S, T], ids=["scratch", "torch"])
def test_one_hot_rows_are_pytorch_class_probabilities(B):
    """One-hot rows are class probabilities in PyTorch's terms. Without class weights that is the class-index loss
    (the same numbers as integer labels, bit for bit); with weights PyTorch's mean divides by N for probabilities
    but by the weights of the targets for indices, and one-hot rows follow the probabilities."""
    rng = np.random.default_rng(4)
    z, labels = rng.standard_normal((6, 4)) * 2, rng.integers(0, 4, 6)
    one_hot, w = np.eye(4)[labels], np.array([0.3, 2.0, 1.0, 0.7])
    for kwargs in ({}, {"label_smoothing": 0.2}, {"reduction": "sum"}, {"weight": w}, {"weight": w,
                                                                                       "label_smoothing": 0.2}):
        a, b = B.SoftmaxCrossEntropy(**kwargs), B.SoftmaxCrossEntropy(**kwargs)
        va, vb = a.forward(z, one_hot), b.forward(z, labels)
        ref = F.cross_entropy(torch.tensor(z), torch.tensor(one_hot), **{
            k: torch.tensor(v) if k == "weight" else v for k, v in kwargs.items()})
        assert va == pytest.approx(float(ref), rel=1e-12)
        if "weight" in kwargs:
            assert vb == pytest.approx(va * len(z) / w[labels].sum(), rel=1e-12)  # N vs sum of the targets' weights
        else:
            assert va == vb
            np.testing.assert_array_equal(a.backward(), b.backward())
    int_one_hot = B.SoftmaxCrossEntropy().forward(z, one_hot.astype(np.int64))  # the book's encodings, as integers
    assert int_one_hot == B.SoftmaxCrossEntropy().forward(z, labels)


@pytest.mark.parametrize("B", [S, T], ids=["scratch", "torch"])
def test_negative_class_weights_as_pytorch(B):
    """PyTorch accepts any class weights (its OpInfo samples draw them in [-9, 9]); so do both backends."""
    rng = np.random.default_rng(9)
    z, y, w = rng.standard_normal((2, 3, 2)), rng.integers(0, 3, (2, 2)), np.array([-4.0, 7.5, 2.0])
    for probabilities, target in ((False, y), (True, rng.random((2, 3, 2)))):
        for reduction in ("mean", "sum", "none"):
            kwargs = dict(weight=w, reduction=reduction, class_axis=1, probabilities=probabilities)
            g = rng.standard_normal((2, 2) if reduction == "none" else ())
            loss = B.SoftmaxCrossEntropy(**kwargs)
            ref_loss, ref_grad = reference(z, target, kwargs, g)
            compare("loss", np.array(loss.forward(z, target)), ref_loss, check_dtype=False)
            compare("grad", loss.backward(g), ref_grad)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weight", [None, [1.0, 2.0, 0.5, 1.0]])
def test_every_target_ignored(weight, label_smoothing):
    """As PyTorch: the mean is 0 / 0 = NaN, the sum 0, the per-element losses 0, and the gradient 0."""
    z, y = np.random.default_rng(0).standard_normal((3, 4)), np.full(3, -100)
    for reduction in ("mean", "sum", "none"):
        kwargs = dict(weight=weight, label_smoothing=label_smoothing, reduction=reduction)
        g = np.ones(3) if reduction == "none" else np.float64(1.0)
        ref_loss, ref_grad = reference(z, y, kwargs, g)
        for B in (S, T):
            loss = B.SoftmaxCrossEntropy(**kwargs)
            np.testing.assert_array_equal(np.array(loss.forward(z, y)), ref_loss)  # NaN == NaN here
            np.testing.assert_array_equal(loss.backward(g), ref_grad)
            assert not ref_grad.any()
    assert np.isnan(reference(z, y, {}, np.float64(1.0))[0])


# --- the options in a network and a Trainer -----------------------------------------------------------------------
OPTIONS = {"weight": [0.5, 2.0, 1.0], "label_smoothing": 0.1}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_network_gradients_with_the_options(dtype, reduction):
    """Dense(6, tanh) -> Dense(3) against a weighted, smoothed cross-entropy with ignored labels: the loss, dL/dx
    and every parameter gradient agree; scalar reductions through ``train_batch``, ``"none"`` through ``forward``,
    ``loss.backward(g)`` and ``backward``."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 4)).astype(dtype), np.array([0, 2, -100, 1, 2])

    def build(B):
        return B.NeuralNetwork([B.Dense(6, B.Tanh()), B.Dense(3)], B.SoftmaxCrossEntropy(**OPTIONS,
                                                                                        reduction=reduction),
                               dtype=dtype)

    s_net, t_net, _ = build_pair(build, x)
    if reduction == "none":
        g = rng.standard_normal(5)
        values = [net.loss.forward(net.forward(x), y) for net in (s_net, t_net)]
        compare("loss", values[1], values[0], dtype=dtype)
        compare("input_grad", *(net.backward(net.loss.backward(g)) for net in (t_net, s_net)), dtype=dtype)
    else:
        compare("loss", np.array(t_net.train_batch(x, y)), np.array(s_net.train_batch(x, y)), dtype=dtype,
                check_dtype=False)
    gs, gt = s_net.grad_dict(), t_net.grad_dict()
    assert sorted(gs) == sorted(gt) and len(gs) == 4
    for k in gs:
        compare(f"grad:{k}", gt[k], gs[k], dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_sequence_model_with_padding_trains_alike(dtype):
    """Classes last, (batch, time, classes), as the char-LSTM: padded steps labelled -100 (skipped), weighted and
    smoothed; 4 epochs x 4 batches of Adam give the same parameters and history in both backends."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((24, 6, 3))
    y = (np.cumsum(X[..., 0], axis=1) > 0).astype(np.int64) + 2 * (X[..., 1] > 0)
    y[::3, 4:] = -100  # the last steps of every third sequence are padding
    report = check_trajectory(
        f"padded sequences {dtype}", lambda B: B.NeuralNetwork(
            [B.LSTMLayer(5), B.RNNLinear(4)], B.SoftmaxCrossEntropy(weight=[1.0, 0.5, 2.0, 1.0], label_smoothing=0.1),
            seed=3, dtype=dtype),
        lambda B: B.Adam(lr=0.02), X, y, epochs=4, batch_size=6, dtype=dtype, compare_history=True)
    assert len(report.comparisons) >= 5


@pytest.mark.parametrize("B", [S, T], ids=["scratch", "torch"])
def test_reduction_none_is_refused_for_training(B):
    """A step differentiates one number: the Trainer refuses ``reduction="none"`` when it is built (it does not sum,
    so the learning rate keeps its meaning), ``train_batch`` when it is called."""
    for loss in (B.SoftmaxCrossEntropy(reduction="none"), B.MeanSquaredError("none")):
        net = B.NeuralNetwork([B.Dense(3)], loss, dtype="float64")
        with pytest.raises(ValueError, match=r"Trainer: the network's loss \w+\(reduction='none'\): training needs "
                                             r"a scalar loss, but reduction='none' gives one per element; use "
                                             r"reduction='mean' or 'sum' to train"):
            B.Trainer(net, B.SGD(0.1))
        y = np.array([0, 2]) if isinstance(loss, B.SoftmaxCrossEntropy) else np.zeros((2, 3))
        with pytest.raises(ValueError, match=r"reduction='none'.*(training needs a scalar loss|train on a scalar)"):
            net.train_batch(np.ones((2, 4)), y)


@pytest.mark.parametrize("B", [S, T], ids=["scratch", "torch"])
def test_backward_takes_the_upstream_gradient(B):
    z, y = np.random.default_rng(1).standard_normal((3, 4)), np.array([0, 3, 1])
    mean = B.SoftmaxCrossEntropy()
    mean.forward(z, y)
    np.testing.assert_allclose(mean.backward(2.5), 2.5 * mean.backward(), rtol=1e-15)
    np.testing.assert_array_equal(mean.backward(np.float64(1.0)), mean.backward())
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy\(\).backward: the loss is a number \(reduction="
                                         r"'mean'\), so output_grad must be a number or a 0-D array, got shape \(3,\)"):
        mean.backward(np.ones(3))
    none = B.SoftmaxCrossEntropy(reduction="none")
    assert none.forward(z, y).shape == (3,)
    with pytest.raises(ValueError, match=r"SoftmaxCrossEntropy\(reduction='none'\).backward: reduction='none' gives "
                                         r"one loss per element \(shape \(3,\)\), so backward needs their upstream "
                                         r"gradient: backward\(output_grad\)"):
        none.backward()
    with pytest.raises(ValueError, match=r"expected output_grad of shape \(3,\) \(one per element of the loss, "
                                         r"reduction='none'\), got shape \(3, 1\)"):
        none.backward(np.ones((3, 1)))
    mse = B.MeanSquaredError("none")
    mse.forward(z, z + 1)
    np.testing.assert_allclose(mse.backward(np.full((3, 4), 0.5)), -np.ones((3, 4)), rtol=1e-15)  # 2 (p - y) g


def test_repr_names_the_options_that_are_not_defaults(B):
    assert repr(B.SoftmaxCrossEntropy()) == "SoftmaxCrossEntropy()" and repr(B.MeanSquaredError()) == \
        "MeanSquaredError()"
    assert repr(B.SoftmaxCrossEntropy([1, 2], 3, 0.1, "sum", class_axis=1, probabilities=False)) == \
        "SoftmaxCrossEntropy(weight=[1.0, 2.0], ignore_index=3, label_smoothing=0.1, reduction='sum', class_axis=1)"
    assert repr(B.MeanSquaredError("mean")) == "MeanSquaredError(reduction='mean')"


# --- mean squared error ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_every_reduction_against_f_mse_loss(dtype, reduction):
    """Predictions (batch,), (batch, 3), (batch, 2, 3) at batch 1 and 3, and a 0-D number (PyTorch's reductions);
    ``"batchmean"`` is ``F.mse_loss(reduction="sum") / N``."""
    shapes = [(n, *s) for n in (1, 3) for s in ((), (3,), (2, 3))] + ([] if reduction == "batchmean" else [()])
    for shape in shapes:
        rng = np.random.default_rng(len(shape))
        p, y = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
        g = rng.standard_normal(shape if reduction == "none" else ())
        pt = torch.tensor(p, requires_grad=True)
        ref = (F.mse_loss(pt, torch.tensor(y), reduction="sum") / shape[0] if reduction == "batchmean" else
               F.mse_loss(pt, torch.tensor(y), reduction=reduction))
        ref.backward(torch.tensor(g, dtype=pt.dtype))
        grads = []
        for B in (S, T):
            loss = B.MeanSquaredError(reduction)
            compare(f"{B.__name__} {shape}: loss", np.array(loss.forward(p, y)), ref.detach().numpy(), dtype=dtype,
                    check_dtype=False)
            grads.append(loss.backward(g))
            compare(f"{B.__name__} {shape}: grad", grads[-1], pt.grad.numpy(), dtype=dtype)
        compare(f"{shape}: torch vs scratch", grads[1], grads[0], dtype=dtype)
        if dtype == "float64":
            def total(p=p, y=y, g=g):
                return float(np.sum(S.MeanSquaredError(reduction).forward(p, y) * g))
            compare(f"{shape}: finite differences", grads[0], numerical_gradient(total, p), "finite_difference")


# --- bad input: both backends refuse it alike, and PyTorch? ------------------------------------------------------
Z, Y = np.random.default_rng(3).standard_normal((3, 4)), np.array([0, 1, 3])
P = np.random.default_rng(4).random((3, 4))
Z3 = np.random.default_rng(5).standard_normal((2, 4, 3))  # (N, C, d) for class_axis=1
ZT, P32 = torch.tensor(Z), torch.tensor(P)


@dataclass(frozen=True)
class Case:
    """``ours(B)`` in both backends: refused with ``error`` matching ``match`` (None: accepted, a finite loss);
    ``theirs()``: the PyTorch call with the same meaning, which raises when ``torch_raises``. ``why``: where the two
    verdicts differ, the reason (required then)."""

    name: str
    ours: Callable
    error: type[Exception] | None
    match: str
    theirs: Callable | None
    torch_raises: bool
    why: str = ""


def ce(**kw):
    return lambda B: B.SoftmaxCrossEntropy(**kw)


CASES = [
    Case("label_smoothing 1.5", lambda B: ce(label_smoothing=1.5)(B), ValueError,
         r"SoftmaxCrossEntropy label_smoothing: expected a value in \[0, 1\] .*got 1.5",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), label_smoothing=1.5), True),
    Case("label_smoothing 1.5, probabilities", lambda B: ce(label_smoothing=1.5, probabilities=True)(B), ValueError,
         r"label_smoothing: expected a value in \[0, 1\]", lambda: F.cross_entropy(ZT, P32, label_smoothing=1.5), True),
    Case("label_smoothing -0.1", lambda B: ce(label_smoothing=-0.1)(B), ValueError,
         r"SoftmaxCrossEntropy label_smoothing: expected a value in \[0, 1\] .*got -0.1",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), label_smoothing=-0.1), False,
         "PyTorch checks the range only inside `if label_smoothing > 0`, so a negative value silently means 0"),
    Case("label_smoothing NaN", lambda B: ce(label_smoothing=float("nan"))(B), ValueError,
         r"label_smoothing: expected a value in \[0, 1\] .*got nan",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), label_smoothing=float("nan")), False,
         "NaN fails PyTorch's `> 0` test too, so it is silently no smoothing"),
    Case("label_smoothing a string", lambda B: ce(label_smoothing="0.1")(B), TypeError,
         r"label_smoothing: expected a number in \[0, 1\], got str '0.1'",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), label_smoothing="0.1"), True),
    Case("ignore_index 0 with probabilities", lambda B: ce(ignore_index=0, probabilities=True)(B).forward(Z, P),
         ValueError, r"SoftmaxCrossEntropy ignore_index: ignore_index=0 needs class-index targets of shape \(3,\), "
         r"but the target is class probabilities", lambda: F.cross_entropy(ZT, P32, ignore_index=0), True),
    Case("ignore_index 1 with one-hot rows", lambda B: ce(ignore_index=1)(B).forward(Z, np.eye(4)[Y]), ValueError,
         r"ignore_index=1 needs class-index targets .* one-hot rows",
         lambda: F.cross_entropy(ZT, torch.tensor(np.eye(4)[Y]), ignore_index=1), True),
    Case("ignore_index -1 with probabilities", lambda B: ce(ignore_index=-1, probabilities=True)(B).forward(Z, P),
         ValueError, r"ignore_index=-1 needs class-index targets", lambda: F.cross_entropy(ZT, P32, ignore_index=-1),
         False, "PyTorch checks only ignore_index < 0 for probability targets, where it then has no effect: dlfs "
         "refuses any ignore_index but the default, so a padding marker never goes silently unused"),
    Case("ignore_index 1.5", lambda B: ce(ignore_index=1.5)(B), TypeError,
         r"SoftmaxCrossEntropy ignore_index: expected an int .*got float 1.5",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), ignore_index=1.5), True),
    Case("weight of length 3 for C=4", lambda B: ce(weight=[1.0, 2.0, 3.0])(B).forward(Z, Y), ValueError,
         r"SoftmaxCrossEntropy weight: expected C=4 class weights \(one per class: the size of the logits' class "
         r"axis -1, shape \(3, 4\)\), got 3",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), weight=torch.ones(3, dtype=torch.float64)), True),
    Case("weight of length 3, probabilities", lambda B: ce(weight=[1.0, 2.0, 3.0], probabilities=True)(B).forward(
        Z, P), ValueError, r"weight: expected C=4 class weights",
         lambda: F.cross_entropy(ZT, P32, weight=torch.ones(3, dtype=torch.float64)), True),
    Case("weight of shape (1, 4)", lambda B: ce(weight=np.ones((1, 4)))(B), ValueError,
         r"SoftmaxCrossEntropy weight: expected a 1-D array of class weights, one per class, got array of shape "
         r"\(1, 4\)", lambda: F.cross_entropy(ZT, torch.tensor(Y), weight=torch.ones(1, 4, dtype=torch.float64)), True),
    Case("negative weights", lambda B: ce(weight=[-1.0, 2.0, 0.5, 1.0])(B).forward(Z, Y), None, "",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), weight=torch.tensor([-1.0, 2.0, 0.5, 1.0], dtype=torch.float64)),
         False),
    Case("weight with NaN", lambda B: ce(weight=[np.nan, 1.0, 1.0, 1.0])(B), ValueError,
         r"SoftmaxCrossEntropy weight: expected finite values, got 1 NaN",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), weight=torch.tensor([np.nan, 1.0, 1.0, 1.0], dtype=ZT.dtype)),
         False,
         "PyTorch returns NaN; dlfs checks every array for NaN at its boundary"),
    Case("float32 weight, float64 logits", lambda B: ce(weight=np.ones(4, np.float32))(B).forward(Z, Y), None, "",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), weight=torch.ones(4)), True,
         "PyTorch wants the weight in the input's dtype; dlfs's NumPy interface casts it to the logits' dtype"),
    Case("reduction 'avg'", lambda B: ce(reduction="avg")(B), ValueError,
         r"SoftmaxCrossEntropy reduction: expected one of \['mean', 'sum', 'none'\], got 'avg'",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), reduction="avg"), True),
    Case("reduction 'batchmean'", lambda B: ce(reduction="batchmean")(B), ValueError,
         r"SoftmaxCrossEntropy reduction: expected one of \['mean', 'sum', 'none'\], got 'batchmean'",
         lambda: F.cross_entropy(ZT, torch.tensor(Y), reduction="batchmean"), True),
    Case("class index 4 for C=4", lambda B: ce()(B).forward(Z, np.array([0, 4, 1])), ValueError,
         r"SoftmaxCrossEntropy target: class labels must lie in \[0, 4\) for C=4 classes \(the prediction's "
         r"width\), got min 0 and max 4; a label equal to ignore_index=-100 is skipped",
         lambda: F.cross_entropy(ZT, torch.tensor([0, 4, 1])), True),
    Case("class index 4, smoothed", lambda B: ce(label_smoothing=0.1)(B).forward(Z, np.array([0, 4, 1])), ValueError,
         r"class labels must lie in \[0, 4\)", lambda: F.cross_entropy(ZT, torch.tensor([0, 4, 1]),
                                                                       label_smoothing=0.1), True),
    Case("class index -1", lambda B: ce()(B).forward(Z, np.array([0, -1, 1])), ValueError,
         r"class labels must lie in \[0, 4\) .*got min -1 and max 1", lambda: F.cross_entropy(ZT, torch.tensor(
             [0, -1, 1])), True),
    Case("class index 4 = ignore_index", lambda B: ce(ignore_index=4)(B).forward(Z, np.array([0, 4, 1])), None, "",
         lambda: F.cross_entropy(ZT, torch.tensor([0, 4, 1]), ignore_index=4), False),
    Case("class index -100 (the default ignore_index)", lambda B: ce()(B).forward(Z, np.array([0, -100, 1])), None,
         "", lambda: F.cross_entropy(ZT, torch.tensor([0, -100, 1])), False),
    Case("2 labels for 3 rows", lambda B: ce()(B).forward(Z, np.array([0, 1])), ValueError,
         r"SoftmaxCrossEntropy target: expected 3 labels \(one per prediction row\), got 2",
         lambda: F.cross_entropy(ZT, torch.tensor([0, 1])), True),
    Case("labels (2, 5) for logits (2, 4, 3), class_axis=1", lambda B: ce(class_axis=1)(B).forward(
        Z3, np.zeros((2, 5), int)), ValueError, r"expected integer class labels of shape \(2, 3\) \(one per position "
         r"of the logits \(2, 4, 3\)\) or one-hot labels of shape \(2, 4, 3\), got 2-D shape \(2, 5\)",
         lambda: F.cross_entropy(torch.tensor(Z3), torch.zeros(2, 5, dtype=torch.long)), True),
    Case("labels (2, 3) for logits (2, 4, 3) classes last", lambda B: ce()(B).forward(Z3, np.zeros((2, 3), int)),
         ValueError, r"expected integer class labels of shape \(2, 4\) \(one per position of the logits \(2, 4, 3\)\)",
         lambda: F.cross_entropy(torch.tensor(Z3).movedim(-1, 1), torch.zeros(2, 3, dtype=torch.long)), True),
    Case("probabilities (3, 5) for logits (3, 4)", lambda B: ce(probabilities=True)(B).forward(Z, np.ones((3, 5))),
         ValueError, r"SoftmaxCrossEntropy target: expected class probabilities shaped like the logits \(3, 4\) "
         r"\(probabilities=True\), got 2-D shape \(3, 5\)", lambda: F.cross_entropy(ZT, torch.ones(3, 5,
                                                                                                  dtype=torch.float64)),
         True),
    Case("one-hot rows 5 wide for C=4", lambda B: ce()(B).forward(Z, np.eye(5)[Y]), ValueError,
         r"one-hot labels must have C=4 columns", lambda: F.cross_entropy(ZT, torch.tensor(np.eye(5)[Y])), True),
    Case("integer probabilities", lambda B: ce(probabilities=True)(B).forward(Z, np.eye(4, dtype=np.int64)[Y]),
         TypeError, r"SoftmaxCrossEntropy target: class-probability targets \(probabilities=True\) must be a float "
         r"array, got array of shape \(3, 4\) and dtype int64",
         lambda: F.cross_entropy(ZT, torch.tensor(np.eye(4, dtype=np.int64)[Y])), True),
    Case("integer one-hot rows", lambda B: ce()(B).forward(Z, np.eye(4, dtype=np.int64)[Y]), None, "",
         lambda: F.cross_entropy(ZT, torch.tensor(np.eye(4, dtype=np.int64)[Y])), True,
         "dlfs validates integer one-hot rows (the book's encodings) as one-hot and takes them as probabilities; "
         "PyTorch wants float probabilities"),
    Case("whole-number float labels", lambda B: ce()(B).forward(Z, Y.astype(np.float64)), None, "",
         lambda: F.cross_entropy(ZT, torch.tensor(Y.astype(np.float64))), True,
         "dlfs accepts labels stored as whole floats (the book's data sets) and checks they are whole; PyTorch "
         "wants int64"),
    Case("labels 1.5", lambda B: ce()(B).forward(Z, np.array([0.0, 1.5, 2.0])), TypeError,
         r"SoftmaxCrossEntropy target: expected integer class labels, got .* with non-integer values",
         lambda: F.cross_entropy(ZT, torch.tensor([0.0, 1.5, 2.0], dtype=torch.float64)), True),
    Case("1-D logits (C,)", lambda B: ce()(B).forward(Z[0], np.array(1)), ValueError,
         r"SoftmaxCrossEntropy: expected 2-D \(batch, classes\) logits, got 1-D shape \(4,\)",
         lambda: F.cross_entropy(ZT[0], torch.tensor(1)), False,
         "PyTorch takes one unbatched sample; dlfs's losses reduce over a batch axis: pass z[None] and y[None]"),
    Case("class_axis 2", lambda B: ce(class_axis=2)(B), ValueError,
         r"SoftmaxCrossEntropy class_axis: expected -1 \(classes last.*or 1 \(PyTorch's layout", None, False,
         "dlfs's own argument (PyTorch's layout is fixed: class axis 1); no PyTorch call to compare"),
    Case("probabilities 'yes'", lambda B: ce(probabilities="yes")(B), TypeError,
         r"SoftmaxCrossEntropy probabilities: expected True or False, got str 'yes'", None, False,
         "dlfs's own argument (PyTorch tells probabilities by the target's shape)"),
    Case("MSE reduction 'avg'", lambda B: B.MeanSquaredError("avg"), ValueError,
         r"MeanSquaredError reduction: expected one of \['batchmean', 'mean', 'sum', 'none'\], got 'avg'",
         lambda: F.mse_loss(ZT, ZT, reduction="avg"), True),
    Case("MSE reduction 'batchmean'", lambda B: B.MeanSquaredError("batchmean").forward(Z, Z), None, "",
         lambda: F.mse_loss(ZT, ZT, reduction="batchmean"), True,
         "the book's reduction, dlfs's default (KLDivLoss's name for sum / N); F.mse_loss has no such reduction, "
         "the torch side computes it as F.mse_loss(reduction='sum') / N"),
    Case("MSE target (3, 1) for (3, 4)", lambda B: B.MeanSquaredError("mean").forward(Z, Z[:, :1]), ValueError,
         r"MeanSquaredError: target shape \(3, 1\) must equal prediction shape \(3, 4\)",
         lambda: F.mse_loss(ZT, ZT[:, :1]), False,
         "PyTorch broadcasts, with a warning that it 'will likely lead to incorrect results'; dlfs refuses"),
    Case("MSE target (2, 4) for (3, 4)", lambda B: B.MeanSquaredError("sum").forward(Z, Z[:2]), ValueError,
         r"MeanSquaredError: target shape \(2, 4\) must equal prediction shape \(3, 4\)",
         lambda: F.mse_loss(ZT, ZT[:2], reduction="sum"), True),
    Case("MSE 0-D with 'batchmean'", lambda B: B.MeanSquaredError().forward(np.array(1.0), np.array(2.0)), ValueError,
         r"MeanSquaredError prediction: expected an array of shape \(batch, ...\)", None, False,
         "no batch to average over; F.mse_loss has no 'batchmean' (its 'mean' of a 0-D number is accepted by both)"),
    Case("MSE 0-D with 'mean'", lambda B: B.MeanSquaredError("mean").forward(np.array(1.0), np.array(3.0)), None,
         "", lambda: F.mse_loss(torch.tensor(1.0), torch.tensor(3.0)), False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_by_both_backends_and_pytorch(case):
    messages = []
    for B in (S, T):
        if case.error is None:
            value = case.ours(B)
            assert np.isfinite(value), (case.name, B.__name__)
        else:
            with pytest.raises(case.error, match=case.match) as info:
                case.ours(B)
            messages.append(str(info.value))
    assert len(set(messages)) <= 1, messages  # the same words in both backends
    if case.theirs is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # mse_loss's broadcasting warning
            if case.torch_raises:
                with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
                    case.theirs()
            else:
                case.theirs()
    agree = case.theirs is not None and (case.error is not None) == case.torch_raises
    assert agree or case.why, f"{case.name}: dlfs and PyTorch differ here; the table must say why"
