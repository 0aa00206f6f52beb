"""Divergence guards: a run whose loss or weights go NaN/inf stops with ``TrainingDiverged`` naming the epoch,
the step and the first layer (state-dict key) whose weights or gradients went non-finite, with the same message
in both backends; so does a run whose finite loss grows by orders of magnitude (the growth rule); no checkpoint
ever holds the diverged weights. ``log_grad_norm`` records the global gradient norm of every epoch, before
clipping, equal in both backends."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import dlfs
from dlfs.checkpoint import load_checkpoint
from dlfs.training import TrainingDiverged

RNG = np.random.default_rng(0)
X, Y = RNG.standard_normal((32, 5)), RNG.standard_normal((32, 2)) * 10


def _net(B):
    return B.NeuralNetwork([B.Dense(6, B.ReLU()), B.Dense(4, B.ReLU()), B.Dense(2)], B.MeanSquaredError(), seed=1,
                           dtype="float64")


def _diverge(B, net, optim, **kw):
    with pytest.raises(TrainingDiverged) as info:
        B.Trainer(net, optim).fit(X, Y, **{"epochs": 40, "batch_size": 8, **kw})
    return info.value


def _poison(net, layer: int) -> None:
    """One NaN in ``layers.<layer>.W`` (load_state_dict refuses NaN, so write into the parameter itself)."""
    if hasattr(net, "module"):
        with torch.no_grad():
            net.layers[layer].linear.weight[0, 0] = float("nan")
    else:
        net.layers[layer].params()[0][0, 0] = np.nan


def test_an_exploding_run_stops_with_the_same_message_in_both_backends():
    """lr=10 with momentum: the second step's loss is 9.2e10, 4e8 times the first (215). The growth rule stops the
    run there (before this rule it trained on to epoch 27, where the squared error overflowed to inf)."""
    errors = {}
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        with np.errstate(over="ignore"):
            errors[name] = _diverge(B, _net(B), B.SGDMomentum(lr=10.0, momentum=0.9))
    s, t = errors["scratch"], errors["torch"]
    assert str(s) == str(t)
    assert isinstance(s, FloatingPointError) and (s.epoch, s.step, s.key) == (1, 2, None)
    assert re.fullmatch(r"training diverged at epoch 1, step 2: the loss 9\.24e\+10 is more than 10000 times the "
                        r"smallest step loss so far \(215\) and 10 times the first \(215\); largest \|weight\| "
                        r"1\.3e\+02 in 'layers.0.W', largest \|gradient\| 2\.4e\+09 in 'layers.0.W' \(lower the "
                        r"learning rate, or clip the gradients with .*\)", str(s))


def test_a_loss_that_overflows_in_one_step_is_named_as_such():
    """lr=1e160 on a linear model: the second step's predictions are 1e161, their squared error overflows to inf
    while every weight and gradient is still finite (the non-finite rule, which the growth rule does not
    pre-empt: the loss went from 215 to inf in one step)."""
    messages = []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        net = B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError(), seed=1, dtype="float64")
        with np.errstate(over="ignore"):
            err = _diverge(B, net, B.SGD(lr=1e160), epochs=3)
        assert (err.epoch, err.step, err.key) == (1, 2, None)
        messages.append(str(err))
    assert messages[0] == messages[1]
    assert re.fullmatch(r"training diverged at epoch 1, step 2: the loss is inf; no weight or gradient is NaN or "
                        r"inf yet: largest \|weight\| 9\.2e\+160 in 'layers.0.W', largest \|gradient\| 3\.0e\+161 "
                        r"in 'layers.0.W' \(lower the learning rate, .*\)", messages[0])


def test_a_slow_blow_up_is_stopped_by_the_growth_rule_in_the_same_step_in_both_backends():
    """SGD(lr=0.7) on a linear model is just past stable: the loss grows about 1.6x per step from 205, and
    passes 1e4 times its smallest at step 31 (epoch 8), in both backends alike."""
    messages = []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        net = B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError(), seed=1, dtype="float64")
        err = _diverge(B, net, B.SGD(lr=0.7))
        assert (err.epoch, err.step, err.key) == (8, 31, None)
        messages.append(str(err))
    assert messages[0] == messages[1]
    assert messages[0].startswith("training diverged at epoch 8, step 31: the loss 2.18e+06 is more than 10000 "
                                  "times the smallest step loss so far (205) and 10 times the first (205)")


def test_a_nan_weight_is_named_by_its_layer():
    """Tanh, not ReLU: the two libraries' ReLU backward treat a NaN input differently (NumPy's ``g * (x > 0)``
    gives 0, torch's threshold passes the NaN on), which would change the gradients' NaN count, not the layer."""
    messages = []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        net = B.NeuralNetwork([B.Dense(6, B.Tanh()), B.Dense(4, B.Tanh()), B.Dense(2)], B.MeanSquaredError(), seed=1,
                              dtype="float64")
        net.forward(X[:1])
        _poison(net, 1)
        err = _diverge(B, net, B.SGD(lr=0.01))
        assert (err.epoch, err.step, err.key) == (1, 1, "layers.1.W")
        messages.append(str(err))
    assert messages[0] == messages[1]
    assert messages[0].startswith("training diverged at epoch 1, step 1: the loss is nan; first non-finite weights: "
                                  "'layers.1.W' (1 NaN, 0 inf of 24); first non-finite gradients: 'layers.0.W' (")


def test_an_update_that_overflows_the_weights_is_caught_at_the_end_of_its_epoch():
    """The loss of the only step is finite; the update lr * g overflows. The epoch-end check finds it."""
    messages = []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        net = B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError(), seed=1, dtype="float64")
        with np.errstate(over="ignore"):
            err = _diverge(B, net, B.SGD(lr=1e308), batch_size=32, epochs=3)
        assert (err.epoch, err.step, err.key) == (1, 1, "layers.0.W")
        messages.append(str(err))
    assert messages[0] == messages[1]
    assert messages[0].startswith("training diverged at epoch 1, step 1: the update made the weights non-finite; "
                                  "first non-finite weights: 'layers.0.W' (0 NaN, ")


def test_a_diverged_epoch_is_never_checkpointed(tmp_path, B):
    net = B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError(), seed=1, dtype="float64")
    err = _diverge(B, net, B.SGD(lr=0.7), checkpoint_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.epoch == err.epoch - 1 == 7
    assert all(np.isfinite(v).all() for v in ckpt.weights.values())
    assert max(ckpt.history["step_loss"]) < 1e4 * min(ckpt.history["step_loss"])  # only the run before it


# --- gradient-norm logging --------------------------------------------------------------------------------------
def test_grad_norm_is_logged_per_epoch_and_agrees_across_backends():
    hists = []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        hists.append(B.Trainer(_net(B), B.SGDMomentum(lr=0.001, momentum=0.9)).fit(
            X, Y, epochs=4, batch_size=8, log_grad_norm=True))
    s, t = hists
    assert len(s.grad_norm) == len(s.grad_norm_max) == 4
    assert all(m >= g > 0 for g, m in zip(s.grad_norm, s.grad_norm_max))
    np.testing.assert_allclose(t.grad_norm, s.grad_norm, rtol=1e-12)
    np.testing.assert_allclose(t.grad_norm_max, s.grad_norm_max, rtol=1e-12)
    plain = dlfs.backend("scratch").Trainer(_net(dlfs.backend("scratch")), dlfs.backend("scratch").SGD(lr=0.001))
    assert plain.fit(X, Y, epochs=2, batch_size=8).grad_norm == []  # off by default


def test_grad_norm_is_the_norm_of_all_gradients_before_clipping(B):
    """One step per epoch: the logged norm is sqrt(sum of every squared gradient entry) of that step, taken
    before Adam's clip_norm scaled the gradients down to norm 1e-3."""
    net = _net(B)
    hist = B.Trainer(net, B.Adam(lr=0.01, clip_norm=1e-3)).fit(X, Y, epochs=1, batch_size=32, log_grad_norm=True)
    after = math.sqrt(sum(float((g ** 2).sum()) for g in net.grad_dict().values()))
    assert after == pytest.approx(1e-3, rel=1e-5)  # what the update saw: clipped
    assert hist.grad_norm == hist.grad_norm_max and hist.grad_norm[0] > 10  # what was logged: the raw norm
