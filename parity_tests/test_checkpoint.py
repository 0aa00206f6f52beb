"""Checkpoints and resume (``dlfs/checkpoint.py``): a run interrupted after epoch k and resumed ends where an
uninterrupted run ends — bit-identical in the scratch backend, within rtol 1e-12 in torch — for every training
configuration of ``test_determinism.py`` (momentum, decay, dropout, early stopping, Conv2D, LSTM + Adam,
GRU + AdaGrad). A checkpoint written by one backend resumes in the other (weights and optimiser state through
the canonical exchange). A process killed (SIGKILL) in the middle of a save leaves the previous checkpoint whole,
and its temporary file is never taken for a checkpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dlfs
import dlfs.checkpoint
from dlfs.checkpoint import CHECKPOINT_FILE, SLOW_SAVE_ENV, find_checkpoint, load_checkpoint
from dlfs.tolerances import Tol
from parity_tests.test_determinism import BATCH, CONFIGS, EPOCHS, fit
from study.parity import compare

K = 3  # the interrupted run stops right after the checkpoint of epoch K (of EPOCHS = 6)
TORCH_RESUME = Tol(1e-12, 0.0, "torch resume: the same operations on the same state (0 seen)")
REPO = Path(__file__).resolve().parents[1]


class Interrupt(Exception):
    """Stands in for a crash right after the checkpoint of epoch K was written."""


def interrupted(B, name: str | Callable[..., Any], directory: Path, monkeypatch: pytest.MonkeyPatch,
                k: int = K) -> None:
    """Train configuration ``name`` (or call ``name(checkpoint_dir=...)``) with checkpoints into ``directory``,
    and stop it right after the checkpoint of epoch ``k`` was written."""
    real = dlfs.checkpoint.save_checkpoint

    def save_then_crash(d, ckpt):
        path = real(d, ckpt)
        if ckpt.epoch == k:
            raise Interrupt
        return path

    with monkeypatch.context() as m:
        m.setattr(dlfs.checkpoint, "save_checkpoint", save_then_crash)
        with pytest.raises(Interrupt):
            name(checkpoint_dir=directory) if callable(name) else fit(B, name, checkpoint_dir=directory)
    assert load_checkpoint(directory).epoch == k


def max_abs_diff(a: dict, b: dict) -> float:
    assert list(a) == list(b)
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


# --- resume in the same backend ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CONFIGS))
def test_resume_is_bit_identical_in_scratch(name, tmp_path, monkeypatch):
    S = dlfs.backend("scratch")
    ref, h_ref = fit(S, name)
    interrupted(S, name, tmp_path, monkeypatch)
    net, h = fit(S, name, checkpoint_dir=tmp_path, resume=True)
    assert max_abs_diff(net.state_dict(), ref.state_dict()) == 0.0
    assert h.to_dict() == h_ref.to_dict()  # losses, learning rates, evaluations, the early stop: all equal
    assert load_checkpoint(tmp_path).epoch == (h_ref.stopped_epoch or EPOCHS)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_resume_matches_an_uninterrupted_run_in_torch(name, tmp_path, monkeypatch):
    T = dlfs.backend("torch")
    ref, h_ref = fit(T, name)
    interrupted(T, name, tmp_path, monkeypatch)
    net, h = fit(T, name, checkpoint_dir=tmp_path, resume=True)
    a, b = net.state_dict(), ref.state_dict()
    for k in b:
        compare(k, a[k], b[k], tol=TORCH_RESUME)
    for key in ("eval_epochs", "stopped_epoch", "restored_epoch", "best_epoch"):
        assert getattr(h, key) == getattr(h_ref, key)
    np.testing.assert_allclose(h.train_loss, h_ref.train_loss, rtol=1e-12)
    np.testing.assert_allclose(h.lr, h_ref.lr, rtol=1e-15)


def test_resume_in_float32_is_exact(tmp_path, monkeypatch, B):
    """float32 weights and buffers are stored as float32: nothing is rounded on the way through the file."""
    X, y, Xv, yv = CONFIGS["dropout"].data()

    def run(**kw):
        net = B.NeuralNetwork([B.Dense(8, B.Tanh(), dropout=0.3), B.Dense(3)], B.SoftmaxCrossEntropy(), seed=6)
        B.Trainer(net, B.Adam(lr=0.01)).fit(X, y, Xv, yv, epochs=EPOCHS, batch_size=1, seed=2, **kw)
        return net.state_dict()

    ref = run()
    interrupted(B, run, tmp_path, monkeypatch)
    assert {v.dtype for v in load_checkpoint(tmp_path).weights.values()} == {np.dtype("float32")}
    resumed = run(checkpoint_dir=tmp_path, resume=True)
    assert resumed["layers.0.W"].dtype == np.float32
    assert max_abs_diff(resumed, ref) == 0.0


def test_early_stopping_state_survives_the_resume(tmp_path, monkeypatch):
    """The run is interrupted at epoch 3, after its best evaluation (epoch 2): the resumed run stops at epoch 4
    and restores the epoch-2 weights, which only the checkpoint holds."""
    S = dlfs.backend("scratch")
    interrupted(S, "early stopping", tmp_path, monkeypatch)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.early_stopping["best_epoch"] == 2 and ckpt.best_weights is not None
    assert max_abs_diff(ckpt.best_weights, ckpt.weights) > 1e-3  # epoch 2's weights, not epoch 3's
    net, h = fit(S, "early stopping", checkpoint_dir=tmp_path, resume=True)
    assert (h.stopped_epoch, h.restored_epoch) == (4, 2)
    assert max_abs_diff(net.state_dict(), ckpt.best_weights) == 0.0


def test_resuming_a_finished_run_trains_nothing(tmp_path, B):
    net, h = fit(B, "momentum + decay", checkpoint_dir=tmp_path)
    again, h2 = fit(B, "momentum + decay", checkpoint_dir=tmp_path, resume=True)
    assert max_abs_diff(again.state_dict(), net.state_dict()) == 0.0
    assert h2.to_dict() == h.to_dict()


# --- across backends --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["momentum + decay", "dropout", "Conv2D", "LSTM", "GRU + AdaGrad"])
@pytest.mark.parametrize("saver,resumer", [("scratch", "torch"), ("torch", "scratch")])
def test_a_checkpoint_resumes_in_the_other_backend(saver, resumer, name, tmp_path, monkeypatch):
    """Weights, optimiser buffers (through each layer's layout conversion), the schedule's position and the
    dropout streams cross over; training continues to the uninterrupted run's result in float64 tolerance."""
    ref, h_ref = fit(dlfs.backend(saver), name)
    interrupted(dlfs.backend(saver), name, tmp_path, monkeypatch)
    assert load_checkpoint(tmp_path).backend == saver
    net, h = fit(dlfs.backend(resumer), name, checkpoint_dir=tmp_path, resume=True)
    a, b = net.state_dict(), ref.state_dict()
    for k in b:
        compare(f"param:{k}", a[k], b[k], "trajectory", "float64")
    assert max_abs_diff(a, b) < 1e-12
    compare("train_loss", np.array(h.train_loss), np.array(h_ref.train_loss), "trajectory", "float64")
    assert load_checkpoint(tmp_path).backend == resumer  # the resumed run wrote its own checkpoints


# --- the optimiser's canonical state ----------------------------------------------------------------------------
def _recurrent_net(B):
    return B.NeuralNetwork([B.LSTMLayer(4), B.GRULayer(3), B.RNNLinear(2)], B.MeanSquaredError(), seed=4,
                           dtype="float64")


OPTIMISERS = {
    "SGDMomentum": lambda B: B.SGDMomentum(lr=0.05, momentum=0.9, final_lr=0.01, decay_type="linear"),
    "Adam": lambda B: B.Adam(lr=0.01, final_lr=0.002, decay_type="exponential"),
    "AdaGrad": lambda B: B.AdaGrad(lr=0.05),
}


def _trained_optimiser(B, make):
    X = np.random.default_rng(0).standard_normal((12, 4, 3))
    net, opt = _recurrent_net(B), make(B)
    B.Trainer(net, opt).fit(X, X[..., :2] * 0.5, epochs=3, batch_size=4, seed=0)
    return net, opt


@pytest.mark.parametrize("optimiser", list(OPTIMISERS))
def test_optimiser_state_dicts_agree_across_backends(optimiser):
    """After the same 9 steps the two backends' optimiser states are the same canonical arrays: momentum buffers,
    Adam's moments, AdaGrad's sums, keyed and shaped like the weights (LSTM gates, GRU's separate B_hh)."""
    (s_net, s_opt), (_, t_opt) = (_trained_optimiser(dlfs.backend(b), OPTIMISERS[optimiser]) for b in dlfs.BACKENDS)
    s, t = s_opt.state_dict(), t_opt.state_dict()
    assert (s["name"], s["epoch"], s["step"]) == (t["name"], t["epoch"], t["step"]) == (optimiser, 3, 9 * (
        optimiser != "SGDMomentum"))
    assert s["lr"] == pytest.approx(t["lr"], rel=1e-14)
    assert sorted(s["buffers"]) == sorted(t["buffers"]) and s["buffers"]
    for name, buf in s["buffers"].items():
        assert list(buf) == list(s_net.state_dict())  # keyed like the network
        for k in buf:
            compare(f"{name}:{k}", t["buffers"][name][k], buf[k], "trajectory", "float64")
        assert max(np.abs(v).max() for v in buf.values()) > 1e-6  # real state, not zeros


@pytest.mark.parametrize("optimiser", list(OPTIMISERS))
def test_optimiser_state_round_trips_exactly(optimiser):
    """scratch state -> a fresh torch optimiser -> its state dict, and back: the identity (copies and
    transposes only)."""
    make = OPTIMISERS[optimiser]
    S, T = dlfs.backend("scratch"), dlfs.backend("torch")
    (s_net, s_opt), (t_net, t_opt) = _trained_optimiser(S, make), _trained_optimiser(T, make)
    for src, dst_net, dst_opt in ((s_opt, t_net, t_opt), (t_opt, s_net, s_opt)):
        state = src.state_dict()
        fresh = make(dlfs.backend("torch" if dst_opt is t_opt else "scratch"))
        fresh.bind(dst_net)
        fresh.setup_decay(3)
        fresh.load_state_dict(state)
        back = fresh.state_dict()
        assert (back["epoch"], back["step"], back["lr"]) == (state["epoch"], state["step"], state["lr"])
        for name, buf in state["buffers"].items():
            for k, v in buf.items():
                np.testing.assert_array_equal(back["buffers"][name][k], v, err_msg=f"{name}:{k}")


def test_optimiser_state_of_another_kind_is_refused(B):
    net, opt = _trained_optimiser(B, OPTIMISERS["Adam"])
    other = B.SGDMomentum(lr=0.1)
    other.bind(net)
    with pytest.raises(ValueError, match=r"SGDMomentum.load_state_dict: the state is that of Adam, not SGDMomentum"):
        other.load_state_dict(opt.state_dict())
    state = opt.state_dict()
    state["buffers"]["exp_avg"]["layers.2.W"] = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"Adam buffer 'exp_avg'.load_state_dict: key 'layers.2.W' expected shape "
                                         r"\(3, 2\), got \(5, 2\)"):
        opt.load_state_dict(state)


# --- the file ---------------------------------------------------------------------------------------------------
def test_the_checkpoint_holds_the_whole_training_state(tmp_path, monkeypatch):
    S = dlfs.backend("scratch")
    interrupted(S, "dropout", tmp_path, monkeypatch)
    with np.load(tmp_path / CHECKPOINT_FILE, allow_pickle=False) as z:  # a plain .npz, no pickle
        files = set(z.files)
    ckpt = load_checkpoint(tmp_path)
    net = CONFIGS["dropout"].net(S)
    net.forward(CONFIGS["dropout"].data()[0][:1])
    keys = list(net.state_dict())
    assert {f"weights/{k}" for k in keys} | {f"optim/momentum_buffer/{k}" for k in keys} | {"meta"} <= files
    assert (ckpt.backend, ckpt.epoch, ckpt.step) == ("scratch", K, K * 32 // BATCH)
    assert ckpt.optimizer["epoch"] == K and ckpt.optimizer["lr"] == pytest.approx(0.1 - 0.08 * K / (EPOCHS - 1))
    assert ckpt.rng["batch_order"]["bit_generator"] == "PCG64"
    assert len(ckpt.rng["dropout"]) == 2  # one mask stream per dropout layer
    assert len(ckpt.history["train_loss"]) == len(ckpt.history["lr"]) == K
    assert ckpt.fit["batch_size"] == BATCH and ckpt.optimizer_config["momentum"] == 0.8


# --- the crash: SIGKILL in the middle of a save -----------------------------------------------------------------
def crash_child(directory: str) -> None:
    """Run in a subprocess: train "dropout" with a checkpoint every epoch (the save of epoch 2 sleeps)."""
    fit(dlfs.backend("scratch"), "dropout", checkpoint_dir=directory)


def test_a_kill_during_a_save_leaves_the_previous_checkpoint(tmp_path):
    env = {**os.environ, SLOW_SAVE_ENV: "2:30", "PYTHONPATH": str(REPO)}
    code = f"from parity_tests.test_checkpoint import crash_child; crash_child({str(tmp_path)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    temp = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            temps = list(tmp_path.glob(f".{CHECKPOINT_FILE}.*.tmp"))
            # both at once: epoch 1 is saved and the save of epoch 2 has written its temporary file
            if temps and (tmp_path / CHECKPOINT_FILE).exists() and temps[0].stat().st_size > 0:
                temp = temps[0]
                break
            time.sleep(0.05)
        assert temp is not None, f"the child never reached the save of epoch 2: {proc.stderr.read().decode()}"
        time.sleep(0.2)  # well inside the 30 s sleep between writing the temporary file and renaming it
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stderr.close()
    assert temp.exists() and temp.stat().st_size > 1000  # the killed save's file, complete but never renamed
    assert find_checkpoint(tmp_path) == tmp_path / CHECKPOINT_FILE
    assert load_checkpoint(tmp_path).epoch == 1  # the previous checkpoint, whole
    # and the run resumes from it to the uninterrupted result, bit for bit
    S = dlfs.backend("scratch")
    ref, _ = fit(S, "dropout")
    net, _ = fit(S, "dropout", checkpoint_dir=tmp_path, resume=True)
    assert max_abs_diff(net.state_dict(), ref.state_dict()) == 0.0


def test_a_temporary_file_alone_is_no_checkpoint(tmp_path, B):
    (tmp_path / f".{CHECKPOINT_FILE}.abc123.tmp").write_bytes(b"PK\x03\x04 half a zip")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint in .* \(there is no checkpoint.npz; 1 temporary "
                                                r"file\(s\) left by an interrupted save .* were ignored\)"):
        fit(B, "dense SGD", checkpoint_dir=tmp_path, resume=True)


# --- bad input --------------------------------------------------------------------------------------------------
def test_resume_without_a_checkpoint(tmp_path, B):
    with pytest.raises(FileNotFoundError, match=r"resume=True: no checkpoint in .*missing.* \(the directory does not "
                                                r"exist\)"):
        fit(B, "dense SGD", checkpoint_dir=tmp_path / "missing", resume=True)
    with pytest.raises(ValueError, match=r"resume=True needs checkpoint_dir"):
        fit(B, "dense SGD", resume=True)


def test_resume_into_a_different_network_names_the_key(tmp_path, B):
    fit(B, "dense SGD", checkpoint_dir=tmp_path)
    X, y, _, _ = CONFIGS["dense SGD"].data()
    net = B.NeuralNetwork([B.Dense(7, B.Tanh()), B.Dense(2)], B.MeanSquaredError(), seed=5, dtype="float64")
    with pytest.raises(ValueError, match=r"was made for a different network: key 'layers.0.W' has shape \(5, 6\) "
                                         r"in the checkpoint, \(5, 7\) in this network"):
        B.Trainer(net, B.SGD(lr=0.05)).fit(X, y, epochs=EPOCHS, batch_size=BATCH, checkpoint_dir=tmp_path,
                                           resume=True, seed=11)
    deeper = B.NeuralNetwork([B.Dense(6, B.Tanh()), B.Dense(4), B.Dense(2)], B.MeanSquaredError(), dtype="float64")
    with pytest.raises(ValueError, match=r"this network has keys \['layers.2.W', 'layers.2.B'\] that the checkpoint "
                                         r"lacks"):
        B.Trainer(deeper, B.SGD(lr=0.05)).fit(X, y, epochs=EPOCHS, batch_size=BATCH, checkpoint_dir=tmp_path,
                                              resume=True, seed=11)


def test_resume_with_another_optimiser_or_batches_is_refused(tmp_path, B):
    fit(B, "momentum + decay", checkpoint_dir=tmp_path)
    c = CONFIGS["momentum + decay"]
    X, y, _, _ = c.data()

    def resume(optim, **kw):
        args = {"epochs": EPOCHS, "batch_size": BATCH, "seed": 11, **kw}
        B.Trainer(c.net(B), optim).fit(X, y, checkpoint_dir=tmp_path, resume=True, **args)

    with pytest.raises(ValueError, match=r"holds the state of optimiser SGDMomentum, this Trainer's optimiser is Adam"):
        resume(B.Adam())
    with pytest.raises(ValueError, match=r"made with optimiser SGDMomentum momentum=0.9, this Trainer's SGDMomentum "
                                         r"has momentum=0.5"):
        resume(B.SGDMomentum(lr=0.1, momentum=0.5, final_lr=0.01, decay_type="exponential"))
    good = {"lr": 0.1, "momentum": 0.9, "final_lr": 0.01, "decay_type": "exponential"}
    with pytest.raises(ValueError, match=r"made with batch_size=8, this fit has batch_size=4 \(the batches would"):
        resume(B.SGDMomentum(**good), batch_size=4)
    with pytest.raises(ValueError, match=r"made with epochs=6, this fit has epochs=9 \(the learning-rate schedule"):
        resume(B.SGDMomentum(**good), epochs=9)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"checkpoint_every": 0}, ValueError, r"checkpoint_every: expected a positive int \(>= 1\), got 0"),
    ({"checkpoint_every": 1.5}, TypeError, r"checkpoint_every: expected a positive int, got float 1.5"),
    ({"checkpoint_dir": 3}, TypeError, r"checkpoint_dir: expected a directory path \(str or os.PathLike\) or None, "
                                       r"got int 3"),
    ({"resume": "yes"}, TypeError, r"resume: expected True or False, got str 'yes'"),
])
def test_bad_checkpoint_arguments(B, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit(B, "dense SGD", **kwargs)
