"""The user's side of the faults beyond the validation audit: the experiments' checkpoint flags, the command line and
the README's promises (``--threads``, ``--download``, ``dlfs run``, ``dlfs parity --results``), ``load_weights`` into
a fresh network and ``predict``, the plots and the run report, and that a failing command changes no tracked file.
Two tables, run in both backends where the component exists in both:

- ``FAULTS``: each row must raise exactly its error type with every message fragment in order (the audit's ``Row``,
  run by the audit's own rule, ``test_validation_audit.test_bad_input``);
- ``RESULTS``: each row must now give the right result, and asserts it.

``python -m parity_tests.test_faults_cli`` prints the number of rows and cases.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

import dlfs
from dlfs.checkpoint import CHECKPOINT_FILE, Checkpointer, load_checkpoint
from dlfs.exchange import load_weights, save_weights
from parity_tests import test_validation_audit as audit
from parity_tests.test_faults import Result
from parity_tests.test_validation_audit import Row, cli, experiment, row, write

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = audit.EXPERIMENTS  # the seven experiments
TRAINING = tuple(e for e in EXPERIMENTS if e != "foundations")  # foundations trains nothing
X = np.random.default_rng(0).standard_normal((10, 3))
IMG = np.random.default_rng(2).standard_normal((2, 1, 6, 6))


# --- helpers the rows call --------------------------------------------------------------------------------------

def dense(B: Any, dropout: float = 0.0, outputs: int = 3) -> Any:
    return B.NeuralNetwork([B.Dense(5, B.Tanh(), dropout=dropout), B.Dense(outputs)], B.SoftmaxCrossEntropy(),
                           seed=3, dtype="float64")


def conv(B: Any) -> Any:
    return B.NeuralNetwork([B.Conv2D(2, 3, activation="tanh", flatten=True), B.Dense(3)], B.SoftmaxCrossEntropy(),
                           seed=3, dtype="float64")


def built(net: Any, x: np.ndarray) -> Any:
    net.forward(x, training=False)
    return net


def checkpointed(tmp: Path) -> Path:
    """A --checkpoint-dir holding an earlier run's checkpoint (a file where the demo would put one)."""
    write(tmp / "ckpt" / "scratch" / CHECKPOINT_FILE, b"an earlier run's checkpoint")
    return tmp / "ckpt"


def out(tmp: Path) -> str:
    return str(tmp / "out")


def quick(name: str) -> list[str]:
    """Arguments that keep an experiment to seconds (the flags each one has)."""
    return {"demo": ["--epochs", "2"], "regression": ["--epochs", "3"], "foundations": [],
            "ladder": ["--epochs", "2", "--rungs", "sce_tanh"],
            "cnn": ["--train-size", "120", "--test-size", "60"],
            "char_lstm": ["--hidden", "8", "--steps", "4", "--eval-every", "2", "--seq-len", "8", "--max-chars",
                          "2000", "--val-windows", "4", "--sample-len", "5"],
            "autoencoder": ["--epochs", "1", "--train-size", "120", "--test-size", "40", "--tsne-points", "35",
                            "--tsne-iter", "250", "--perplexity", "5"]}[name]


def _fault_rows() -> list[tuple[str, list[Row]]]:
    resume_alone = [row(f"experiments.{e}", "--resume without --checkpoint-dir",
                        lambda B, t, e=e: experiment(e, "--resume", "--out", out(t)), SystemExit,
                        "--resume needs --checkpoint-dir DIR (the directory the interrupted run saved to)",
                        backends="-") for e in TRAINING]
    threads = [row(f"experiments.{e}", "--threads 0", lambda B, t, e=e: experiment(e, "--threads", "0"), SystemExit,
                   "argument --threads: expected a positive integer, got 0", backends="-") for e in EXPERIMENTS]
    threads += [row(f"experiments.{e}", "--threads two", lambda B, t, e=e: experiment(e, "--threads", "two"),
                    SystemExit, "argument --threads: expected a positive integer, got 'two'", backends="-")
                for e in ("demo", "regression", "foundations", "char_lstm")]
    return [
        ("Experiments: --checkpoint-dir and --resume", [
            *resume_alone,
            row("experiments.demo", "--resume, the directory holds no checkpoint",
                lambda B, t: experiment("demo", "--resume", "--checkpoint-dir", str((t / "empty").mkdir() or
                                                                                       t / "empty"), "--out", out(t)),
                SystemExit, "--resume: no checkpoint (checkpoint.npz) under --checkpoint-dir", "run without --resume "
                "to start afresh", backends="-"),
            row("experiments.demo", "--checkpoint-dir a file", lambda B, t: experiment(
                "demo", "--checkpoint-dir", str(write(t / "f", "x")), "--out", out(t)), SystemExit,
                "--checkpoint-dir", "exists and is not a directory", backends="-"),
            row("experiments.regression", "--checkpoint-dir under a file", lambda B, t: experiment(
                "regression", "--checkpoint-dir", str(write(t / "f", "x") / "ckpt"), "--out", out(t)), SystemExit,
                "cannot be created:", "is a file, not a directory", backends="-"),
            row("experiments.demo", "a fresh run into an earlier run's checkpoints", lambda B, t: experiment(
                "demo", "--checkpoint-dir", str(checkpointed(t)), "--out", out(t)), SystemExit,
                "holds the checkpoints of an earlier run (1, e.g.", "pass --resume to continue that run, --overwrite "
                "to replace its checkpoints, or choose another directory", backends="-"),
            row("experiments.cnn", "a fresh run into an earlier run's checkpoints", lambda B, t: experiment(
                "cnn", "--checkpoint-dir", str(checkpointed(t)), "--out", out(t)), SystemExit,
                "holds the checkpoints of an earlier run", "pass --resume", backends="-"),
            row("experiments.foundations", "--checkpoint-dir (it trains nothing)", lambda B, t: experiment(
                "foundations", "--checkpoint-dir", str(t)), SystemExit, "unrecognized arguments: --checkpoint-dir",
                backends="-"),
        ]),
        ("Experiments: --threads on every one", threads),
        ("Messages that advise a flag: it exists", [
            row("experiments.demo", "--dataset mnist, no MNIST files", lambda B, t: experiment(
                "demo", "--dataset", "mnist", "--data-dir", str(t), "--out", out(t)), FileNotFoundError,
                "MNIST not found", "Pass download=True (--download on the command line of experiments demo, cnn, "
                "ladder and autoencoder)", backends="-"),
            row("experiments.char_lstm", "no Tiny Shakespeare file", lambda B, t: experiment(
                "char_lstm", "--data-dir", str(t), "--out", out(t)), FileNotFoundError,
                "Tiny Shakespeare not found", "pass download=True (--download on experiments.char_lstm's command "
                "line)", backends="-"),
        ]),
        ("dlfs run and dlfs parity --results", [
            row("dlfs parity", "--results a directory", lambda B, t: cli("parity", "dense", "--results", str(t)),
                SystemExit, "dlfs: error: --results", "is a directory; expected a file path", backends="-"),
            row("dlfs parity", "--results under a file", lambda B, t: cli(
                "parity", "dense", "--results", str(write(t / "f", "x") / "r.json")), SystemExit,
                "--results", "cannot be written:", "is a file, not a directory", backends="-"),
            row("dlfs parity", "--results a file that is not results", lambda B, t: cli(
                "parity", "dense", "--results", str(write(t / "notes.txt", "my notes"))), SystemExit,
                "dlfs: error: --results:", "is not a dlfs parity results file", backends="-"),
            row("dlfs run", "an unknown experiment", lambda B, t: cli("run", "demos"), SystemExit,
                "unknown experiment 'demos'; did you mean 'demo'?", backends="-"),
        ]),
        ("load_weights into a fresh network; predict", [
            row("load_weights", "into a fresh network whose first layer is a Conv2D", lambda B, t: load_weights(
                conv(B), save_weights(built(conv(B), IMG), t / "w.npz")), RuntimeError,
                "NeuralNetwork.load_state_dict (dlfs.load_weights): this network has not seen an input yet",
                "(the first layer is Conv2D(", "net.forward(X[:1], training=False), then call "
                "dlfs.load_weights(net, path) again"),
            row("NeuralNetwork.predict", "batch_size=0", lambda B, t: built(dense(B), X).predict(X, batch_size=0),
                ValueError, "NeuralNetwork.predict batch_size: expected a positive int (>= 1), got 0"),
            row("NeuralNetwork.predict", "batch_size='8'", lambda B, t: built(dense(B), X).predict(X, batch_size="8"),
                TypeError, "NeuralNetwork.predict batch_size: expected a positive int, got str '8'"),
            row("NeuralNetwork.predict", "no samples", lambda B, t: built(dense(B), X).predict(X[:0]), ValueError,
                "NeuralNetwork.predict X: expected at least one sample (n, ...), got shape (0, 3)"),
            row("NeuralNetwork.predict", "X with a NaN", lambda B, t: dense(B).predict(audit.with_nan(X)),
                ValueError, "NeuralNetwork.predict X: expected finite values, got 1 NaN"),
            row("NeuralNetwork.predict", "X of strings", lambda B, t: dense(B).predict(np.array([["a"]])),
                TypeError, "NeuralNetwork.predict X: expected a numeric array"),
            row("NeuralNetwork.predict_classes", "a network of one output", lambda B, t: dense(
                B, outputs=1).predict_classes(X), ValueError, "the network gives 1 output per sample, and the "
                "argmax of one value is always class 0; threshold predict(X) instead"),
        ]),
    ]


FAULTS = _fault_rows()
ROWS = [r for _, rows in FAULTS for r in rows]
CASES = [(r, b) for r in ROWS for b in (("scratch", "torch") if r.backends == "both" else (r.backends,))]


# --- the right results ------------------------------------------------------------------------------------------

class Interrupted(Exception):
    """Stands for a kill or Ctrl-C right after a checkpoint was written."""


def interrupted_after(epoch: int) -> Any:
    """Patch ``Checkpointer.save`` to stop the run once the checkpoint of ``epoch`` is on disk."""
    save = Checkpointer.save

    def save_then_stop(self: Checkpointer, e: int, *args: Any, **kw: Any) -> Path:
        path = save(self, e, *args, **kw)
        if e == epoch:
            raise Interrupted(f"stopped after the checkpoint of epoch {e}")
        return path

    return mock.patch.object(Checkpointer, "save", save_then_stop)


def _same_histories(a: dict[str, Any], b: dict[str, Any], path: str = "") -> None:
    """Every per-epoch history in metrics ``a`` equals ``b``'s exactly (timings aside)."""
    for k, v in a.items():
        if k in ("seconds", "train_s", "predict_s", "samples_per_s", "wall_s", "ms_per_step"):
            continue
        if isinstance(v, dict):
            _same_histories(v, b[k], f"{path}/{k}")
        elif k in ("train_loss", "val_loss", "step_loss", "accuracy", "mae", "rmse", "lr"):
            assert v == b[k], f"{path}/{k}: {v} != {b[k]}"


def _resume_equals_uninterrupted(name: str, args: list[str], stop_epoch: int) -> Callable[[Any, Path], None]:
    def check(B: Any, tmp: Path) -> None:
        backend = ["--backend", B.Trainer.backend] if B is not None else []
        full = experiment(name, *args, *backend, "--no-progress", "--out", str(tmp / "full"))
        ckpt = ["--checkpoint-dir", str(tmp / "ckpt")]
        with interrupted_after(stop_epoch), pytest.raises(Interrupted):
            experiment(name, *args, *backend, "--no-progress", "--out", str(tmp / "a"), *ckpt)
        saved: list[int] = []
        save = Checkpointer.save

        def spy(self: Checkpointer, e: int, *a: Any, **kw: Any) -> Path:
            saved.append(e)
            return save(self, e, *a, **kw)

        with mock.patch.object(Checkpointer, "save", spy):
            resumed = experiment(name, *args, *backend, "--no-progress", "--out", str(tmp / "b"), *ckpt, "--resume")
        assert saved[0] == stop_epoch + 1, saved  # it went on from the checkpoint, it did not start again
        _same_histories(full, resumed)
        assert json.dumps(full, default=str).count("train_loss") == json.dumps(resumed, default=str).count(
            "train_loss") > 0
    return check


def _demo_resume_matches(B: Any, tmp: Path) -> None:
    _resume_equals_uninterrupted("demo", ["--epochs", "4"], 2)(B, tmp)


def _regression_resume_matches(B: Any, tmp: Path) -> None:
    """Three models one after another: the interruption falls in the first; the others start afresh."""
    _resume_equals_uninterrupted("regression", ["--epochs", "6"], 3)(B, tmp)


def _both_backends_get_their_own_directories(B: Any, tmp: Path) -> None:
    experiment("demo", "--epochs", "2", "--no-progress", "--out", out(tmp), "--checkpoint-dir", str(tmp / "c"))
    found = sorted(p.relative_to(tmp / "c").as_posix() for p in (tmp / "c").rglob(CHECKPOINT_FILE))
    assert found == [f"scratch/{CHECKPOINT_FILE}", f"torch/{CHECKPOINT_FILE}"]
    assert [load_checkpoint(tmp / "c" / f).backend for f in found] == ["scratch", "torch"]


def _models_get_their_own_directories(B: Any, tmp: Path) -> None:
    experiment("regression", "--epochs", "2", "--backend", B.Trainer.backend, "--no-progress", "--out", out(tmp),
               "--checkpoint-dir", str(tmp / "c"))
    found = sorted(p.parent.name for p in (tmp / "c" / B.Trainer.backend).rglob(CHECKPOINT_FILE))
    assert found == ["linear", "one_hidden", "two_hidden"]


def _overwrite_replaces_the_checkpoints(B: Any, tmp: Path) -> None:
    args = ["--backend", B.Trainer.backend, "--no-progress", "--checkpoint-dir", str(tmp / "c")]
    experiment("demo", "--epochs", "2", "--out", str(tmp / "o1"), *args)
    experiment("demo", "--epochs", "3", "--out", str(tmp / "o2"), "--overwrite", *args)
    assert load_checkpoint(tmp / "c" / B.Trainer.backend / CHECKPOINT_FILE).epoch == 3  # this run's, not the old


def _resume_of_a_finished_run(B: Any, tmp: Path) -> None:
    args = ["--epochs", "2", "--backend", B.Trainer.backend, "--no-progress", "--checkpoint-dir", str(tmp / "c")]
    first = experiment("demo", *args, "--out", str(tmp / "o1"))
    again = experiment("demo", *args, "--resume", "--out", str(tmp / "o2"))
    _same_histories(first, again)


def _threads_default_is_one_everywhere(B: Any, tmp: Path) -> None:
    from parity_tests.test_readme_commands import parse_only

    for name in EXPERIMENTS:
        ns = parse_only(importlib.import_module(f"experiments.{name}").main, [])
        assert ns.threads == 1, name


def _threads_apply_and_are_restored(B: Any, tmp: Path) -> None:
    import torch
    from threadpoolctl import threadpool_info

    from experiments.common import limit_threads

    before = torch.get_num_threads()
    with limit_threads(3):
        assert torch.get_num_threads() == 3
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {3}
    assert torch.get_num_threads() == before


def _dlfs_run_lists_the_experiments(B: Any, tmp: Path) -> None:
    from study.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["run"]) == 0
    listed = re.findall(r"^  (\w+)  ", buf.getvalue(), re.M)
    assert listed == sorted(EXPERIMENTS), buf.getvalue()
    assert "trained in NumPy and in PyTorch" in buf.getvalue()


def _parity_results_refused_before_the_checks(B: Any, tmp: Path) -> None:
    from study import runner
    from study.cli import main

    with mock.patch.object(runner, "run", side_effect=AssertionError("a check ran")), \
            contextlib.redirect_stdout(io.StringIO()) as printed, contextlib.redirect_stderr(io.StringIO()):
        assert main(["parity", "dense", "--results", str(tmp)]) == 2
    assert printed.getvalue() == ""


def _parity_prints_the_results_when_the_save_fails(B: Any, tmp: Path) -> None:
    from study import results
    from study.cli import main

    failing = mock.patch.object(results, "merge", side_effect=OSError(28, "No space left on device"))
    with failing, contextlib.redirect_stdout(io.StringIO()) as printed, \
            contextlib.redirect_stderr(io.StringIO()) as err:
        assert main(["parity", "dense", "--dtype", "float64", "--results", str(tmp / "r.json")]) == 1
    assert "1 of 1 checks passed" in printed.getvalue() and "forward" in printed.getvalue()
    assert "the results were not saved to" in err.getvalue() and "No space left on device" in err.getvalue()


def _every_advised_flag_exists(B: Any, tmp: Path) -> None:
    """Every ``--flag`` in a message of dlfs/data/ or experiments/ is an option of an experiment or of dlfs."""
    from parity_tests.test_readme_commands import parse_only
    from study.cli import build_parser

    known = {"--nproc-per-node"}  # torchrun's, in the launch line experiments print
    for name in EXPERIMENTS:
        ns = parse_only(importlib.import_module(f"experiments.{name}").main, [])
        known |= {"--" + k.replace("_", "-") for k in vars(ns)}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    known |= {opt for p in sub.choices.values() for a in p._actions for opt in a.option_strings}
    sources = [*(ROOT / "dlfs" / "data").glob("*.py"), *(ROOT / "experiments").glob("*.py")]
    advised = {m for f in sources for m in re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", f.read_text())}
    assert "--download" in advised and not advised - known, sorted(advised - known)


def _fresh_dense_network_loads_and_predicts(B: Any, tmp: Path) -> None:
    trained = built(dense(B), X)
    path = save_weights(trained, tmp / "w.npz")
    fresh = B.NeuralNetwork([B.Dense(5, B.Tanh()), B.Dense(3)], B.SoftmaxCrossEntropy(), seed=99, dtype="float64")
    load_weights(fresh, path)
    for k, v in trained.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)
    np.testing.assert_array_equal(fresh.predict(X), trained.forward(X, training=False))


def _predict_agrees_between_backends(B: Any, tmp: Path) -> None:
    s, t = dlfs.backend("scratch"), dlfs.backend("torch")
    a = built(dense(s, dropout=0.3), X)
    b = dense(t, dropout=0.3)
    load_weights(b, save_weights(a, tmp / "w.npz"))  # the fresh torch network is built from the file
    pa, pb = a.predict(X), b.predict(X, batch_size=3)
    assert pa.shape == pb.shape == (10, 3) and isinstance(pb, np.ndarray)
    assert float(np.abs(pa - pb).max()) < 1e-12
    np.testing.assert_array_equal(a.predict_classes(X), b.predict_classes(X))
    np.testing.assert_array_equal(a.predict_classes(X), np.argmax(pa, axis=1))


def _predict_is_inference(B: Any, tmp: Path) -> None:
    """No dropout, the same answer in any batch size, and the training masks untouched (the next training forward
    is the one it would have been)."""
    n1, n2 = built(dense(B, dropout=0.5), X), built(dense(B, dropout=0.5), X)
    p = n1.predict(X)
    np.testing.assert_array_equal(p, n1.predict(X))
    np.testing.assert_allclose(n1.predict(X, batch_size=4), p, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(p, n1.forward(X, training=False))
    np.testing.assert_array_equal(n1.forward(X, training=True), n2.forward(X, training=True))


def keep(figs: list[Any]) -> Callable[[Any, Path], Path]:
    """A ``save_figure`` that also keeps the figure, for the test to look at its lines and axes."""
    from dlfs.io import save_figure

    return lambda fig, path: figs.append(fig) or save_figure(fig, path)


def _one_epoch_curves_are_visible(B: Any, tmp: Path) -> None:
    """A one-epoch loss plot shows its points: markers on every line, a linear axis."""
    from experiments import autoencoder

    figs: list[Any] = []
    history = {"train_loss": [41.0], "eval_epochs": [1], "val_loss": [39.5]}
    with mock.patch.object(autoencoder, "save_figure", keep(figs)):
        autoencoder.plot_loss({"scratch": {"history": history}, "torch": {"history": history}},
                              ["scratch", "torch"], tmp)
    (ax,) = figs[0].axes
    assert len(ax.lines) == 4 and all(line.get_marker() == "o" for line in ax.lines)
    assert ax.get_yscale() == "linear"


def _long_curves_keep_log_and_no_markers(B: Any, tmp: Path) -> None:
    from experiments import autoencoder

    figs: list[Any] = []
    history = {"train_loss": list(np.geomspace(100, 1, 40)), "eval_epochs": list(range(1, 41)),
               "val_loss": list(np.geomspace(90, 2, 40))}
    with mock.patch.object(autoencoder, "save_figure", keep(figs)):
        autoencoder.plot_loss({"scratch": {"history": history}}, ["scratch"], tmp)
    (ax,) = figs[0].axes
    assert ax.get_yscale() == "log" and all(line.get_marker() in ("None", None, "") for line in ax.lines)


def _short_lstm_run_curve_has_markers(B: Any, tmp: Path) -> None:
    from experiments import char_lstm

    text = write(tmp / "t.txt", "to be or not to be, that is the question " * 20)
    figs: list[Any] = []
    with mock.patch.object(char_lstm, "save_figure", keep(figs)):
        experiment("char_lstm", "--text", str(text), *quick("char_lstm"), "--prompt", "to be", "--backend",
                   "scratch", "--no-progress", "--out", out(tmp))
    (ax,) = figs[0].axes
    train = next(line for line in ax.lines if "train" in str(line.get_label()))
    assert len(train.get_xdata()) <= 4 and train.get_marker() == "o"


def _weight_images_have_colour_bars(B: Any, tmp: Path) -> None:
    """The learned filters and the autoencoder's image grids carry a colour bar with its label."""
    from experiments import autoencoder, cnn

    figs: list[Any] = []
    nets = {n: built(conv(dlfs.backend(n)), IMG) for n in ("scratch", "torch")}
    with mock.patch.object(cnn, "save_figure", keep(figs)):
        cnn.plot_filters(nets, tmp, "filters")
    images = {n: ("scratch", np.clip(IMG[:, :, :4, :4], -1, 1)) for n in ("original", "scratch")}
    with mock.patch.object(autoencoder, "save_figure", keep(figs)):
        autoencoder._image_rows(images, tmp, "r.png", "reconstructions")
    for fig, label in zip(figs, ("weight", "pixel")):
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bars) == 1 and bars[0].get_ylabel() == label, [ax.get_label() for ax in fig.axes]


def _demo_report_shows_accuracy_network_and_captions(B: Any, tmp: Path) -> None:
    m = experiment("demo", "--epochs", "1", "--no-progress", "--out", out(tmp))
    page = (tmp / "out" / "report.html").read_text()
    highlights = re.search(r'<dl id="highlights">(.*?)</dl>', page, re.S).group(1)
    for n in ("scratch", "torch"):
        assert f"{n} {m[n]['accuracy']:.2%} (450 images)" in highlights
    assert "0: Dense(32), Tanh (W (64, 32), B (1, 32))" in highlights
    assert "1: Dense(10), Linear (W (32, 10), B (1, 10))" in highlights and "SoftmaxCrossEntropy()" in highlights
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert captions == ["Training and validation loss (softmax cross-entropy) per epoch on digits, scratch and "
                        "torch from identical weights"]


def _every_report_caption_says_what_it_shows(B: Any, tmp: Path) -> None:
    """No caption is a file name, in the reports of three more experiments."""
    for name in ("regression", "foundations", "ladder"):
        experiment(name, *quick(name), "--no-progress", "--out", str(tmp / name))
        captions = re.findall(r"<figcaption>(.*?)</figcaption>", (tmp / name / "report.html").read_text())
        assert captions and all(".png" not in c and len(c.split()) >= 8 for c in captions), (name, captions)


def _tracked_files() -> dict[str, tuple[int, int]]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    stats = {}
    for name in names.decode().split("\0"):
        if name and (ROOT / name).is_file():
            st = (ROOT / name).stat()
            stats[name] = (st.st_mtime_ns, st.st_size)
    return stats


def _status() -> set[str]:
    return set(subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.splitlines())


FAILING_COMMANDS = [
    ["run", "demo", "--epochs", "0"], ["run", "demo", "--no-such-flag"], ["run", "demos"],
    ["run", "demo", "--out", "README.md", "--no-progress"], ["run", "demo", "--checkpoint-dir", "README.md"],
    ["run", "demo", "--resume", "--checkpoint-dir", "docs"], ["run", "demo", "--checkpoint-dir", "docs/x", "--out",
                                                               "docs", "--no-progress"],
    ["run", "demo", "--dataset", "mnist", "--data-dir", "/nonexistent", "--out", "{tmp}/o", "--no-progress"],
    ["run", "char_lstm", "--text", "no-such.txt"], ["run", "char_lstm", "--data-dir", "{tmp}", "--out", "{tmp}/c"],
    ["parity", "dense", "--results", "docs"], ["parity", "dense", "--results", "README.md"],
    ["parity", "dense", "--results", "docs/parity_results.json/x"], ["parity", "no-such-concept"],
    ["show", "no-such-concept"], ["compare", "demo", "--backend", "torch"], ["site", "--no-such-flag"],
]


def _failing_commands_change_no_tracked_file(B: Any, tmp: Path) -> None:
    """Each command fails (exit status 1 or 2), run from the repository root as a user would, and afterwards every
    tracked file has the same mtime and size and git's status lists nothing new."""
    from study.cli import main

    before, status = _tracked_files(), _status()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for argv in FAILING_COMMANDS:
            argv = [a.replace("{tmp}", str(tmp)) for a in argv]
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = main(argv)
            assert code in (1, 2), (argv, code)
    finally:
        os.chdir(cwd)
    after = _tracked_files()
    assert {k for k in before if before[k] != after.get(k)} == set()
    assert _status() - status == set()


RESULTS: list[Result] = [
    Result("experiments.demo", "interrupted after epoch 2 of 4, then --resume: the metrics of an uninterrupted run",
           _demo_resume_matches),
    Result("experiments.regression", "interrupted in its first model, then --resume: the uninterrupted metrics",
           _regression_resume_matches),
    Result("experiments.demo", "--backend both: DIR/scratch and DIR/torch, each its backend's checkpoint",
           _both_backends_get_their_own_directories, backends="-"),
    Result("experiments.regression", "each model its own DIR/<backend>/<model>", _models_get_their_own_directories),
    Result("experiments.demo", "--overwrite lets a fresh run replace the checkpoints",
           _overwrite_replaces_the_checkpoints),
    Result("experiments.demo", "--resume of a finished run trains nothing and reports the same",
           _resume_of_a_finished_run),
    Result("experiments", "--threads defaults to 1 in every experiment", _threads_default_is_one_everywhere,
           backends="-"),
    Result("experiments.common.limit_threads", "torch and BLAS at N threads inside, restored after",
           _threads_apply_and_are_restored, backends="-"),
    Result("dlfs run", "no experiment: the list of experiments, exit 0", _dlfs_run_lists_the_experiments,
           backends="-"),
    Result("dlfs parity", "--results a directory: refused before any check runs, nothing printed",
           _parity_results_refused_before_the_checks, backends="-"),
    Result("dlfs parity", "a save that fails after the checks: the results printed, then the error, exit 1",
           _parity_prints_the_results_when_the_save_fails, backends="-"),
    Result("dlfs/data, experiments", "every --flag a message advises exists", _every_advised_flag_exists,
           backends="-"),
    Result("load_weights", "into a fresh Dense network: built from the file's shapes, exact weights",
           _fresh_dense_network_loads_and_predicts),
    Result("NeuralNetwork.predict", "scratch and torch agree (float64, 1e-12), predict_classes is the argmax",
           _predict_agrees_between_backends, backends="-"),
    Result("NeuralNetwork.predict", "inference: no dropout, any batch size, training masks untouched",
           _predict_is_inference),
    Result("experiments.autoencoder", "a one-epoch loss plot: markers, linear axis", _one_epoch_curves_are_visible,
           backends="-"),
    Result("experiments.autoencoder", "a 40-epoch loss plot over two decades: log axis, no markers",
           _long_curves_keep_log_and_no_markers, backends="-"),
    Result("experiments.char_lstm", "a 4-step run's training curve has markers", _short_lstm_run_curve_has_markers,
           backends="-"),
    Result("experiments.cnn, experiments.autoencoder", "weight and image grids carry a labelled colour bar",
           _weight_images_have_colour_bars, backends="-"),
    Result("experiments.demo", "the report shows the test accuracy, the layers, a caption of what the plot shows",
           _demo_report_shows_accuracy_network_and_captions, backends="-"),
    Result("experiments.regression, foundations, ladder", "report captions say what the plots show",
           _every_report_caption_says_what_it_shows, backends="-"),
    Result("dlfs", f"{len(FAILING_COMMANDS)} failing commands from the repository root change no tracked file",
           _failing_commands_change_no_tracked_file, backends="-"),
]
RESULT_CASES = [(r, b) for r in RESULTS for b in (("scratch", "torch") if r.backends == "both" else (r.backends,))]


# --- the tests --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("r,backend", CASES, ids=[f"{r.component}:{r.bad_input}[{b}]" for r, b in CASES])
def test_fault(r: Row, backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit.test_bad_input(r, backend, tmp_path, capsys)  # the audit's rule: exact type, fragments in order


@pytest.mark.parametrize("r,backend", RESULT_CASES, ids=[f"{r.component}:{r.case}[{b}]" for r, b in RESULT_CASES])
def test_result(r: Result, backend: str, tmp_path: Path) -> None:
    r.check(dlfs.backend(backend) if backend in ("scratch", "torch") else None, tmp_path)


def test_the_tables_are_what_the_report_counts() -> None:
    assert len(ROWS) == len({(r.component, r.bad_input) for r in ROWS})
    assert len(CASES) >= 40 and len(RESULT_CASES) >= 25
    assert {r.component.split(".")[-1] for r in ROWS} >= set(EXPERIMENTS)  # every experiment is in the table


if __name__ == "__main__":
    print(f"{len(ROWS)} fault rows, {len(CASES)} fault cases; {len(RESULTS)} result rows, {len(RESULT_CASES)} "
          f"result cases; {len(CASES) + len(RESULT_CASES)} cases in all")
