"""The one fit loop (``dlfs/fit.py``) both Trainers run, and its step-level options: a per-batch ``transform``, a
budget in optimiser steps (``max_steps``), evaluation every N steps (``eval_every_steps``), chunked evaluation
(``eval_batch_size``) and the per-step losses (``History.step_loss``); a run the budget ends is finished for
checkpoints. Also: a decaying optimiser stepped outside the Trainer, and MeanSquaredError on 0-D arrays."""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import numpy as np
import pytest

import dlfs
import dlfs.checkpoint
from dlfs.checkpoint import CHECKPOINT_FILE, load_checkpoint
from dlfs.fit import FitLoop
from study.parity import compare

RNG = np.random.default_rng(7)
IDS = RNG.integers(0, 6, (30, 4))  # 30 "windows" of 4 symbol ids from a vocabulary of 6
LABELS = (IDS + 1) % 6  # predict the next symbol: one label per position
IDS_VAL, LABELS_VAL = IDS[:10] % 5, (IDS[:10] % 5 + 1) % 6
to_input = partial(lambda ids, v: np.eye(v)[ids], v=6)  # (batch, time) ids -> (batch, time, 6) one-hot


def _net(B, dtype="float64"):
    return B.NeuralNetwork([B.RNNLayer(5), B.RNNLinear(6)], B.SoftmaxCrossEntropy(), seed=4, dtype=dtype)


def _dense(B):
    return B.NeuralNetwork([B.Dense(6, B.Tanh(), dropout=0.2), B.Dense(3)], B.SoftmaxCrossEntropy(), seed=2,
                           dtype="float64")


X_TAB = RNG.standard_normal((26, 5))
Y_TAB = RNG.integers(0, 3, 26)


def _fit_tab(B, net=None, optim=None, **kw):
    net = net or _dense(B)
    optim = optim or B.SGDMomentum(lr=0.1, momentum=0.9, final_lr=0.02, decay_type="linear")
    args = {"epochs": 4, "batch_size": 4, "seed": 3, **kw}
    return net, B.Trainer(net, optim).fit(X_TAB, Y_TAB, X_TAB[:9], Y_TAB[:9], **args)


def _same_state(a, b):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --- one loop ---------------------------------------------------------------------------------------------------
def test_the_loop_lives_once_in_dlfs_and_imports_no_backend():
    code = ("import sys, dlfs.fit; print(sorted(m for m in ('scratch', 'torch_impl', 'torch', 'experiments', "
            "'study') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in dlfs.BACKENDS:
        Trainer = dlfs.backend(name).Trainer
        assert issubclass(Trainer, FitLoop)
        assert "fit" not in vars(Trainer) and "evaluate" not in vars(Trainer)  # the step only


# --- transform --------------------------------------------------------------------------------------------------
def test_a_transform_trains_exactly_like_the_transformed_data(B):
    """One-hot ids per batch give the weights, losses and evaluations of the one-hot arrays given up front."""
    runs = []
    for X, Xv, transform in ((IDS, IDS_VAL, to_input), (to_input(IDS), to_input(IDS_VAL), None)):
        net = _net(B)
        hist = B.Trainer(net, B.Adam(lr=0.02)).fit(X, LABELS, Xv, LABELS_VAL, epochs=3, batch_size=7, eval_every=1,
                                                    transform=transform)
        runs.append((net.state_dict(), hist.to_dict()))
    _same_state(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_evaluate_with_a_transform_and_batches_is_the_mean_over_every_sample(B):
    net = _net(B)
    trainer = B.Trainer(net, B.SGD(lr=0.1))
    whole = trainer.evaluate(to_input(IDS), LABELS)
    for batch_size in (1, 7, 30, 100):
        assert trainer.evaluate(IDS, LABELS, to_input, batch_size) == pytest.approx(whole, rel=1e-13)
    assert trainer.evaluate(to_input(IDS), LABELS, batch_size=4) == pytest.approx(whole, rel=1e-13)


def test_transform_and_step_options_agree_across_backends():
    hists, states = [], []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        net = _net(B)
        hists.append(B.Trainer(net, B.Adam(lr=0.02, clip_norm=1.0)).fit(
            IDS, LABELS, IDS_VAL, LABELS_VAL, epochs=5, batch_size=4, transform=to_input, max_steps=17,
            eval_every_steps=5, eval_batch_size=3))
        states.append(net.state_dict())
    s, t = hists
    for k in states[0]:
        compare(f"param:{k}", states[1][k], states[0][k], "trajectory", "float64")
    for key in ("step_loss", "val_loss", "train_loss"):
        compare(key, np.array(getattr(t, key)), np.array(getattr(s, key)), "trajectory", "float64")
    assert s.eval_steps == t.eval_steps == [5, 10, 15, 17]
    assert s.eval_epochs == t.eval_epochs == [1, 2, 2, 3]  # 8 batches an epoch: step 17 is in epoch 3
    assert s.stopped_step == t.stopped_step == 17


# --- the step budget --------------------------------------------------------------------------------------------
def test_max_steps_stops_mid_epoch_where_an_unbudgeted_run_was(B):
    """7 batches an epoch: 10 steps end in epoch 2. The budgeted run's steps are the first 10 of a full run."""
    net, h = _fit_tab(B, max_steps=10)
    full_net, full = _fit_tab(B)
    assert len(h.step_loss) == 10 and h.step_loss == full.step_loss[:10]
    assert h.stopped_step == 10 and h.stopped_epoch is None
    assert len(h.train_loss) == len(h.lr) == 2 and h.lr == full.lr[:2]  # the schedule still covers 4 epochs
    assert h.train_loss[0] == full.train_loss[0] and h.train_loss[1] == float(np.mean(h.step_loss[7:]))
    assert h.eval_epochs == [2] and h.eval_steps == [10]  # the run's end is evaluated
    ten, _ = _fit_tab(B, epochs=4, max_steps=10)
    _same_state(ten.state_dict(), net.state_dict())
    assert full.stopped_step is None and full.eval_steps == [28]  # eval_every=10 epochs: only the last


def test_a_budget_larger_than_the_epochs_changes_nothing(B):
    net, h = _fit_tab(B, max_steps=1000)
    ref, h_ref = _fit_tab(B)
    _same_state(net.state_dict(), ref.state_dict())
    assert h.to_dict() == h_ref.to_dict() and h.stopped_step is None


def test_step_losses_make_the_epoch_means(B):
    _, h = _fit_tab(B)
    per_epoch = [h.step_loss[i:i + 7] for i in range(0, 28, 7)]
    assert h.train_loss == [float(np.mean(s)) for s in per_epoch]


def test_eval_every_steps_replaces_the_epoch_cadence(B):
    _, h = _fit_tab(B, eval_every=1, eval_every_steps=6)
    assert h.eval_steps == [6, 12, 18, 24, 28] and h.eval_epochs == [1, 2, 3, 4, 4]
    assert h.best_step == h.eval_steps[int(np.argmin(h.val_loss))]


def test_early_stopping_at_step_evaluations_restores_the_best_step(B, capsys):
    """Evaluated every 2 steps, the first evaluation that does not improve ends the run mid-epoch; the network
    holds the weights of the best evaluated step, those a run of exactly that many steps ends with."""
    net, h = _fit_tab(B, optim=B.SGDMomentum(lr=0.3, momentum=0.9), epochs=20, eval_every_steps=2,
                      early_stopping=True)
    assert h.stopped_step is not None and h.stopped_step == h.eval_steps[-1]
    assert h.stopped_step % 7 != 0  # mid-epoch: 26 samples in batches of 4 make 7 steps an epoch
    assert h.restored_step == h.best_step < h.stopped_step and h.restored_epoch == h.best_epoch
    assert f"at step {h.stopped_step} (epoch {h.stopped_epoch})" in capsys.readouterr().out
    best, _ = _fit_tab(B, optim=B.SGDMomentum(lr=0.3, momentum=0.9), epochs=20, max_steps=h.best_step)
    a, b = net.state_dict(), best.state_dict()
    for k in a:
        compare(k, a[k], b[k], "trajectory", "float64")


# --- checkpoints and the budget ---------------------------------------------------------------------------------
def test_a_run_the_budget_ended_is_finished(tmp_path, B):
    net, h = _fit_tab(B, max_steps=10, checkpoint_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert (ckpt.epoch, ckpt.step, ckpt.history["stopped_step"]) == (2, 10, 10)
    assert ckpt.history["step_loss"] == h.step_loss
    with np.load(tmp_path / CHECKPOINT_FILE) as z:
        assert z["history/step_loss"].dtype == np.float64  # an array, not JSON
    again, h2 = _fit_tab(B, max_steps=10, checkpoint_dir=tmp_path, resume=True)
    _same_state(again.state_dict(), net.state_dict())
    assert h2.to_dict() == h.to_dict()
    with pytest.raises(ValueError, match=r"is of a finished run: max_steps=10 ended it at step 10 \(epoch 2\); "
                                         r"this fit would go on to step 20, and a run the step budget ended is not "
                                         r"continued \(resume it with max_steps=10"):
        _fit_tab(B, max_steps=20, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"would go on to step 28"):
        _fit_tab(B, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"the checkpoint .* is at step 10, beyond max_steps=9"):
        _fit_tab(B, max_steps=9, checkpoint_dir=tmp_path, resume=True)


def test_a_budgeted_run_interrupted_at_an_epoch_resumes_to_the_same_end(tmp_path, B, monkeypatch):
    real = dlfs.checkpoint.save_checkpoint

    class Interrupt(Exception):
        pass

    def save_then_crash(d, ckpt):
        path = real(d, ckpt)
        if ckpt.epoch == 2:
            raise Interrupt
        return path

    kw = {"transform": None, "max_steps": 25, "eval_every_steps": 4, "epochs": 5}
    ref, h_ref = _fit_tab(B, **kw)
    with monkeypatch.context() as m:
        m.setattr(dlfs.checkpoint, "save_checkpoint", save_then_crash)
        with pytest.raises(Interrupt):
            _fit_tab(B, checkpoint_dir=tmp_path, **kw)
    assert (load_checkpoint(tmp_path).step, load_checkpoint(tmp_path).history["stopped_step"]) == (14, None)
    net, h = _fit_tab(B, checkpoint_dir=tmp_path, resume=True, **kw)
    a, b = net.state_dict(), ref.state_dict()
    for k in a:
        compare(k, a[k], b[k], tol=dlfs.tolerances.Tol(1e-12, 0.0, "resume: the same operations (0 seen)"))
    assert h.eval_steps == h_ref.eval_steps == [4, 8, 12, 16, 20, 24, 25]
    np.testing.assert_allclose(h.step_loss, h_ref.step_loss, rtol=1e-12)
    assert (h.stopped_step, load_checkpoint(tmp_path).step) == (25, 25)
    if B.__name__ == "scratch":
        assert h.to_dict() == h_ref.to_dict()


def test_a_budget_that_ends_an_epoch_still_ends_the_run(B):
    _, h = _fit_tab(B, max_steps=14)
    assert (len(h.train_loss), h.stopped_step, h.eval_steps) == (2, 14, [14])


def test_the_progress_bar_counts_the_budget(B, capsys):
    _, h = _fit_tab(B, max_steps=9, progress=True)
    assert len(h.step_loss) == 9
    assert "9/9" in capsys.readouterr().err


# --- bad options ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,error,match", [
    ({"transform": "one_hot"}, TypeError, r"transform: expected a callable \(a function of an array\), got str"),
    ({"max_steps": 0}, ValueError, r"max_steps: expected a positive int \(>= 1\), got 0"),
    ({"max_steps": 2.5}, TypeError, r"max_steps: expected a positive int, got float 2.5"),
    ({"eval_every_steps": 0}, ValueError, r"eval_every_steps: expected a positive int \(>= 1\), got 0"),
    ({"eval_batch_size": -1}, ValueError, r"eval_batch_size: expected a positive int \(>= 1\), got -1"),
    ({"transform": lambda x: x[:, 0]}, ValueError, r"expected an array of 1 row\(s\) \(one per sample of the "
     r"batch\), 2-D or more, got shape \(1,\)"),
    ({"transform": lambda x: np.eye(6)[x][0]}, ValueError, r"transform\(X_train\[:1\]\): expected an array of 1 "
     r"row\(s\) .* got shape \(4, 6\)"),
    ({"transform": lambda x: np.full(x.shape + (6,), "a")}, TypeError, r"transform\(X_train\[:1\]\): expected a "
     r"numeric array"),
])
def test_bad_step_options(B, kwargs, error, match):
    kwargs = dict(kwargs)
    transform = kwargs.pop("transform", to_input)
    with pytest.raises(error, match=match):
        B.Trainer(_net(B), B.SGD(0.1)).fit(IDS, LABELS, epochs=1, batch_size=5, transform=transform, **kwargs)


def test_without_a_transform_ids_must_still_be_2d(B):
    with pytest.raises(ValueError, match=r"X_train: expected a 2-D \(samples, features\) array or more, got 1-D"):
        B.Trainer(_dense(B), B.SGD(0.1)).fit(X_TAB[:, 0], Y_TAB, epochs=1)


# --- a decaying optimiser outside the Trainer -------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda B: B.SGD(lr=0.1, final_lr=0.01, decay_type="linear"),
    lambda B: B.SGDMomentum(lr=0.1, final_lr=0.01, decay_type="exponential"),
    lambda B: B.Adam(lr=0.1, final_lr=0.01, decay_type="linear"),
    lambda B: B.AdaGrad(lr=0.1, final_lr=0.01, decay_type="exponential"),
], ids=["SGD", "SGDMomentum", "Adam", "AdaGrad"])
def test_end_epoch_without_the_schedule_is_an_error_not_a_constant_lr(make):
    messages = []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        opt = make(B)
        net = _dense(B)
        net.forward(X_TAB[:1])
        opt.bind(net)
        with pytest.raises(RuntimeError) as info:
            opt.end_epoch()
        messages.append(str(info.value))
        opt.setup_decay(5)
        for _ in range(4):  # an epoch of one step, by hand
            net.train_batch(X_TAB[:4], Y_TAB[:4])
            opt.step()
            opt.end_epoch()
        assert opt.lr == 0.01  # the schedule, once it knows its epochs, ends at final_lr
    assert messages[0] == messages[1]
    assert " moves the learning rate from lr=0.1 to final_lr=0.01 over the epochs of a run and needs their number: " \
           "call setup_decay(epochs) before the first epoch (Trainer.fit does)" in messages[0]
    assert messages[0].startswith(f"{type(make(dlfs.backend('scratch'))).__name__}.end_epoch: decay_type=")


def test_a_constant_learning_rate_needs_no_schedule(B):
    opt = B.SGD(lr=0.1)
    opt.end_epoch()
    assert opt.lr == 0.1


# --- MeanSquaredError on 0-D arrays -----------------------------------------------------------------------------
def test_mse_of_a_single_number_names_the_argument():
    messages = []
    for name in dlfs.BACKENDS:
        B = dlfs.backend(name)
        for prediction, target in ((np.float64(1.0), np.float64(2.0)), (np.array(1.0), np.array(2.0)),
                                   (np.array(1.0), np.array([2.0]))):
            with pytest.raises(ValueError) as info:
                B.MeanSquaredError().forward(prediction, target)
            messages.append(str(info.value))
    assert len(set(messages)) == 1
    assert messages[0] == ("MeanSquaredError prediction: expected an array of shape (batch, ...) with one row per "
                           "sample, got a 0-D array (a single number; reshape one prediction with "
                           "np.reshape(p, (1, 1)))")


def test_the_torch_trainers_batches_are_the_orders():
    """``RingBatches`` (the torch Trainer's batches on the CPU) hands out, epoch after epoch, exactly the rows
    ``BatchOrder`` names, the ragged last batch included; each batch keeps its values while the next one is
    drawn. ``BatchOrder.permutation`` is the order that iterating it cuts into batches."""
    import torch

    from dlfs.training import BatchOrder
    from torch_impl.trainer import RingBatches

    X = np.random.default_rng(0).standard_normal((23, 3, 2)).astype(np.float32)
    y = np.arange(23) * 10
    reference = BatchOrder(23, 5, seed=4)
    ring = RingBatches(torch.from_numpy(X), torch.from_numpy(y), BatchOrder(23, 5, seed=4))
    for _ in range(3):  # epochs: a fresh permutation each
        held = None
        expected = list(reference)
        assert [len(b) for b in expected] == [5, 5, 5, 5, 3]
        for idx, (xb, yb) in zip(expected, ring, strict=True):
            if held is not None:  # the previous batch, after the next was drawn
                np.testing.assert_array_equal(held[0].numpy(), X[held[2]])
                np.testing.assert_array_equal(held[1].numpy(), y[held[2]])
            np.testing.assert_array_equal(xb.numpy(), X[idx])
            np.testing.assert_array_equal(yb.numpy(), y[idx])
            held = (xb, yb, idx)
    a, b = BatchOrder(23, 5, seed=9), BatchOrder(23, 5, seed=9)
    perm = a.permutation()
    assert sorted(perm.tolist()) == list(range(23))
    assert [perm[s:s + 5].tolist() for s in range(0, 23, 5)] == list(b)
