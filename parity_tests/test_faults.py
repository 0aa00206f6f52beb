"""Faults beyond the validation audit: checkpoints that must not be lost, damaged or foreign files,
input that was accepted but trained wrongly, and crashes. Two tables, run in both backends where the component
exists in both:

- ``FAULTS``: each row must raise exactly its error type with every message fragment in order (the audit's
  ``Row``, run by the same rule), and no message may advise ``allow_pickle``;
- ``RESULTS``: each row must now give the right result, and asserts it (the good behaviours that must stay
  among them: a pickle payload never runs, a refused run leaves the old checkpoint byte for byte).

Kill -9 during a save followed by a resume, bit-identical to an uninterrupted run, is in ``test_checkpoint.py``.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import dlfs
from dlfs.checkpoint import CHECKPOINT_FILE, load_checkpoint
from dlfs.errors import LayerMemoryError
from dlfs.exchange import load_weights, save_weights
from dlfs.io import FileFormatError, WeightsFileError, read_npz, save_npz
from dlfs.training import TrainingDiverged, lr_at, lr_schedule
from parity_tests.test_validation_audit import Row, assert_in_order, row, write
from study import results

X = np.random.default_rng(0).standard_normal((10, 3))
Y = np.random.default_rng(1).standard_normal((10, 1))
LABELS = np.array([0, 1, 2, 1, 0, 2, 1, 0, 2, 1])
LOGITS = np.random.default_rng(4).standard_normal((2, 3))
EPOCHS = 2


# --- helpers the rows call --------------------------------------------------------------------------------------

def net(B: Any, seed: int = 1) -> Any:
    return B.NeuralNetwork([B.Dense(4, B.Tanh()), B.Dense(1)], B.MeanSquaredError(), seed=seed, dtype="float64")


def classifier(B: Any, classes: int = 3) -> Any:
    return B.NeuralNetwork([B.Dense(4, B.Tanh()), B.Dense(classes)], B.SoftmaxCrossEntropy(), dtype="float64")


def fit(B: Any, X: Any = X, Y: Any = Y, network: Any = None, optim: Any = None, **kw: Any) -> Any:
    args = dict(epochs=EPOCHS, eval_every=1, batch_size=4)
    args.update(kw)
    return B.Trainer(network or net(B), optim or B.SGD(0.01)).fit(X, Y, **args)


def built(B: Any) -> Any:
    n = net(B)
    n.forward(X[:1], training=False)
    return n


def trained_dir(B: Any, tmp: Path, **kw: Any) -> Path:
    """A directory holding the checkpoint of a finished run on (X, Y)."""
    fit(B, checkpoint_dir=tmp / "ckpt", **kw)
    return tmp / "ckpt"


def weights_file(B: Any, tmp: Path, suffix: str = ".npz") -> Path:
    return save_weights(built(B), tmp / f"w{suffix}")


def flipped(data: bytes, at: int) -> bytes:
    """``data`` with one bit of byte ``at`` flipped."""
    b = bytearray(data)
    b[at] ^= 0x10
    return bytes(b)


class Payload:
    """A pickle that, if ever unpickled, creates the file ``marker`` (standing in for any code a pickle runs)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def torch_save_bytes(legacy: bool = False) -> bytes:
    buf = io.BytesIO()
    torch.save({"layers.0.W": torch.zeros(3, 4)}, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 4)))
    return buf.getvalue()


def object_npz_bytes(payload: Any = None) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{"layers.0.W": np.array([payload if payload is not None else {"a": 1}], dtype=object)})
    return buf.getvalue()


def zip_with(names: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in names.items():
            z.writestr(name, content)
    return buf.getvalue()


def random_bytes(n: int = 300) -> bytes:
    return np.random.default_rng(7).bytes(n)


def good_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{"layers.0.W": np.zeros((3, 4)), "layers.0.B": np.zeros((1, 4)), "layers.1.W": np.zeros((4, 1)),
                     "layers.1.B": np.zeros((1, 1))})
    return buf.getvalue()


def damaged_weights(kind: str) -> bytes:
    data = good_npz()
    return {"empty": b"", "truncated": data[: len(data) // 2], "bit flip in the data": flipped(data, 120),
            "random bytes": random_bytes(), "a .npy": npy_bytes(), "a torch.save archive": torch_save_bytes(),
            "a legacy torch.save pickle": torch_save_bytes(legacy=True), "an object array": object_npz_bytes(),
            "a zip of text": zip_with({"notes.txt": b"hello"})}[kind]


def load_into(B: Any, tmp: Path, content: bytes, suffix: str = ".npz") -> None:
    load_weights(built(B), write(tmp / f"bad{suffix}", content))


def resume_from(B: Any, tmp: Path, content: bytes) -> Any:
    write(tmp / "ckpt" / CHECKPOINT_FILE, content)
    return fit(B, checkpoint_dir=tmp / "ckpt", resume=True)


def checkpoint_bytes(B: Any, tmp: Path) -> bytes:
    return (trained_dir(B, tmp / "made") / CHECKPOINT_FILE).read_bytes()


def without_meta(B: Any, tmp: Path) -> bytes:
    """A checkpoint's arrays without its ``meta`` entry."""
    arrays = read_npz(trained_dir(B, tmp / "made") / CHECKPOINT_FILE)
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in arrays.items() if k != "meta"})
    return buf.getvalue()


def with_meta(B: Any, tmp: Path, meta: bytes) -> bytes:
    arrays = read_npz(trained_dir(B, tmp / "made") / CHECKPOINT_FILE)
    arrays["meta"] = np.frombuffer(meta, dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def results_file(tmp: Path, content: bytes) -> dict[str, Any]:
    return results.load(write(tmp / "parity.json", content))


def other_data(X: np.ndarray) -> np.ndarray:
    """Data of the same shape and dtype as ``X``, one value changed."""
    Z = X.copy()
    Z.flat[3] += 1e-9
    return Z


def complex_weights(B: Any) -> dict[str, np.ndarray]:
    state = built(B).state_dict()
    state["layers.0.W"] = state["layers.0.W"] + 1j
    return state


def huge_conv(B: Any) -> Any:
    """A network whose second layer's output for one 3200x3200 image is 1e7 x 1.02e7 values (410 TB): more than a
    64-bit process can even address (128 TiB), so the allocation fails at once whatever the operating system's
    overcommit policy, and nothing is ever touched (the image and the weights are 41 MB each)."""
    return B.NeuralNetwork([B.ReLU(), B.Conv2D(10**7, 1, flatten=True), B.Dense(2)], B.SoftmaxCrossEntropy())


IMAGE = np.zeros((1, 1, 3200, 3200), np.float32)


def oom_in_a_training_step(B: Any) -> Any:
    """A training step whose batch does not fit: layer 1 fails to allocate for batches of more than one sample
    (the check on one sample passes). The torch Trainer calls the modules directly, so its fit loop names the layer
    from the traceback; scratch's network does."""
    n = B.NeuralNetwork([B.Dense(4, B.Tanh()), B.Dense(3), B.Dense(1)], B.MeanSquaredError(), dtype="float64")
    n.forward(X[:1], training=False)
    if hasattr(n, "module"):
        module = n.layers[1].module
        real = module.forward

        def forward(x: Any) -> Any:
            if x.shape[0] > 1:
                raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                                   "4000000000000 bytes")
            return real(x)

        module.forward = forward
    else:
        op = n.layers[1].operations[0]
        real_output = op._output

        def output() -> Any:
            if op.input_.shape[0] > 1:
                raise MemoryError("Unable to allocate 3.64 TiB for an array with shape (1000000, 1000000)")
            return real_output()

        op._output = output
    return fit(B, network=n)


# the files dlfs reads, each given every kind of damage and foreign content
WEIGHT_KINDS = ("empty", "truncated", "bit flip in the data", "random bytes", "a .npy", "a torch.save archive",
                "a legacy torch.save pickle", "an object array", "a zip of text")
WEIGHT_REASONS = {"empty": "it is empty (0 bytes)", "truncated": "it is damaged or truncated (BadZipFile",
                  "bit flip in the data": "it is damaged or truncated (BadZipFile: Bad CRC-32",
                  "random bytes": "it is not a zip archive, as every .npz is",
                  "a .npy": "it is a single NumPy array (.npy), not an .npz archive",
                  "a torch.save archive": "it is a torch.save archive (it holds the pickle 'archive/data.pkl'), "
                                          "which dlfs never unpickles",
                  "a legacy torch.save pickle": "it is a Python pickle (torch.save's legacy format",
                  "an object array": "entry 'layers.0.W' is an array of Python objects, stored as a pickle, which "
                                     "dlfs never unpickles",
                  "a zip of text": "it holds 'notes.txt', which is not a NumPy array entry (.npy)"}


def _weights_rows() -> list[Row]:
    rows = [row("load_weights (.npz)", kind, lambda B, t, k=kind: load_into(B, t, damaged_weights(k)),
                FileFormatError, "bad.npz' is not a dlfs weights file (.npz): ", WEIGHT_REASONS[kind])
            for kind in WEIGHT_KINDS]
    rows.append(row("load_weights (.npz)", "a directory named w.npz", lambda B, t: load_weights(
        built(B), (t / "w.npz").mkdir() or t / "w.npz"), FileFormatError, "w.npz' is not a dlfs weights file (.npz)",
        "it is a directory"))
    rows.append(row("load_weights (.npz)", "a checkpoint", lambda B, t: load_weights(
        built(B), trained_dir(B, t) / CHECKPOINT_FILE), FileFormatError, "is not a dlfs weights file (.npz): it is a "
        "dlfs checkpoint", "load_checkpoint(path).weights"))
    st = {"empty": (b"", "it is empty (0 bytes)"),
          "truncated": (None, "it is damaged or truncated (SafetensorError"),
          "random bytes": (random_bytes(), "it is damaged or truncated (SafetensorError"),
          "an .npz": (good_npz(), "it is a zip archive (an .npz, or a torch.save file), not safetensors"),
          "a legacy torch.save pickle": (torch_save_bytes(legacy=True), "it is a Python pickle")}
    for kind, (content, reason) in st.items():
        def call(B: Any, t: Path, content: bytes | None = content) -> None:
            if content is None:
                data = weights_file(B, t, ".safetensors").read_bytes()
                content = data[: len(data) // 2]
            load_into(B, t, content, ".safetensors")
        rows.append(row("load_weights (.safetensors)", kind, call, FileFormatError,
                        "bad.safetensors' is not a dlfs weights file (.safetensors): ", reason))
    return rows


def _checkpoint_rows() -> list[Row]:
    what = "checkpoint.npz' is not a dlfs checkpoint (.npz): "
    rows = [row("Trainer.fit(resume=True)", f"checkpoint.npz is {kind}",
                lambda B, t, k=kind: resume_from(B, t, damaged_weights(k)), FileFormatError, what, WEIGHT_REASONS[kind])
            for kind in ("empty", "truncated", "random bytes", "a .npy", "a torch.save archive",
                         "a legacy torch.save pickle", "an object array")]
    rows += [
        row("Trainer.fit(resume=True)", "checkpoint.npz with a flipped bit",
            lambda B, t: resume_from(B, t, flipped(checkpoint_bytes(B, t), 300)), FileFormatError, what,
            "it is damaged or truncated (BadZipFile: Bad CRC-32 for file 'meta.npy')"),
        row("Trainer.fit(resume=True)", "checkpoint.npz cut at 2000 bytes",
            lambda B, t: resume_from(B, t, checkpoint_bytes(B, t)[:2000]), FileFormatError, what,
            "it is damaged or truncated"),
        row("Trainer.fit(resume=True)", "a weights file named checkpoint.npz",
            lambda B, t: resume_from(B, t, weights_file(B, t).read_bytes()), FileFormatError, what,
            "it has no 'meta' entry, which every checkpoint has (it looks like a weights file: load it with "
            "dlfs.load_weights)"),
        row("Trainer.fit(resume=True)", "a checkpoint whose meta is not JSON",
            lambda B, t: resume_from(B, t, with_meta(B, t, b"\xff not json")), FileFormatError, what,
            "its 'meta' entry is not UTF-8 JSON"),
        row("Trainer.fit(resume=True)", "a checkpoint whose meta is a JSON list",
            lambda B, t: resume_from(B, t, with_meta(B, t, b"[1, 2]")), FileFormatError, what,
            "its 'meta' entry is JSON list, not the object a checkpoint has"),
        row("Trainer.fit(resume=True)", "a checkpoint whose meta lacks keys",
            lambda B, t: resume_from(B, t, with_meta(B, t, b'{"format": 1, "epoch": 1}')), FileFormatError, what,
            "its metadata lacks ['backend', 'step', 'fit'"),
        row("Trainer.fit", "a directory named checkpoint.npz in checkpoint_dir",
            lambda B, t: fit(B, checkpoint_dir=(t / "c" / CHECKPOINT_FILE).mkdir(parents=True) or t / "c"),
            FileFormatError, what, "it is a directory, where fit writes its checkpoint as one file"),
        row("load_checkpoint", "a directory named checkpoint.npz",
            lambda B, t: load_checkpoint((t / CHECKPOINT_FILE).mkdir() or t / CHECKPOINT_FILE), FileFormatError,
            what, "it is a directory", backends="-"),
        row("load_checkpoint", "random bytes", lambda B, t: load_checkpoint(write(t / "c.npz", random_bytes())),
            FileFormatError, "c.npz' is not a dlfs checkpoint (.npz): it is not a zip archive", backends="-"),
    ]
    return rows


def _results_rows() -> list[Row]:
    what = "parity.json' is not a dlfs parity results file (JSON): "
    cases = {"not JSON": (b"{concepts", "it is not valid JSON"), "empty": (b"", "it is empty (0 bytes)"),
             "binary (an .npz)": (good_npz(), "it is binary (a NumPy, zip or pickle file), not JSON text"),
             "not UTF-8": (b"\"\xff\xfe\"", "it is not UTF-8 text (byte 1 is b'\\xff')"),
             "a JSON list": (b"[1, 2]", "it holds JSON list, not the object {concept: {dtype: summary}}"),
             "JSON of another shape": (b'{"dense": [1, 2]}', "its entry 'dense' is not {dtype: summary} (got list)")}
    rows = [row("study.results.load", kind, lambda B, t, c=content: results_file(t, c), FileFormatError, what,
                reason, "delete it and run `dlfs parity` again", backends="-")
            for kind, (content, reason) in cases.items()]
    rows.append(row("study.results.load", "a directory", lambda B, t: results.load((t / "parity.json").mkdir() or
                                                                                  t / "parity.json"),
                    FileFormatError, what, "it is a directory", backends="-"))
    return rows


FAULTS: list[tuple[str, list[Row]]] = [
    ("Checkpoints: nothing lost, nothing resumed on other data", [
        row("Trainer.fit", "a fresh run into a directory holding another run's checkpoint",
            lambda B, t: fit(B, checkpoint_dir=trained_dir(B, t, seed=2)), FileExistsError,
            "checkpoint_dir: ", "already holds the checkpoint of a run at epoch 2, step 6 (written by the",
            "a fresh run (resume=False) would replace it. Pass resume=True to continue that run, "
            "overwrite_checkpoint=True to replace it, or another checkpoint_dir"),
        row("Trainer.fit", "a fresh run into a directory holding a damaged checkpoint",
            lambda B, t: fit(B, checkpoint_dir=write(t / "c" / CHECKPOINT_FILE, b"junk").parent), FileExistsError,
            "already holds a checkpoint.npz that does not load (", "it is not a zip archive",
            "overwrite_checkpoint=True to replace it"),
        row("Trainer.fit", "overwrite_checkpoint='yes'", lambda B, t: fit(
            B, checkpoint_dir=t, overwrite_checkpoint="yes"), TypeError,
            "overwrite_checkpoint: expected True or False, got str 'yes'"),
        row("Trainer.fit", "checkpoint_dir below a file (cannot be created)", lambda B, t: fit(
            B, checkpoint_dir=write(t / "f", "x") / "sub"), NotADirectoryError,
            "checkpoint_dir: cannot write checkpoints to", "f/sub' (NotADirectoryError", "choose a directory you "
            "can write to"),
        row("Trainer.fit", "checkpoint_dir not writable (the probe file is refused)", lambda B, t: _unwritable(B, t),
            PermissionError, "checkpoint_dir: cannot write checkpoints to", "(PermissionError: Permission denied)"),
        row("Trainer.fit(resume=True)", "other X_train of the same shape", lambda B, t: fit(
            B, other_data(X), checkpoint_dir=trained_dir(B, t), resume=True), ValueError,
            "resume: the checkpoint", "was trained on other data: the checkpoint has X_train <f8 (10, 3) blake2b ",
            "; this fit has X_train <f8 (10, 3) blake2b ", "(resume with the training data of the interrupted run"),
        row("Trainer.fit(resume=True)", "other y_train of the same shape", lambda B, t: fit(
            B, X, other_data(Y), checkpoint_dir=trained_dir(B, t), resume=True), ValueError,
            "was trained on other data", "y_train <f8 (10, 1) blake2b "),
        row("Trainer.fit(resume=True)", "X_train as float32 instead of float64", lambda B, t: fit(
            B, X.astype(np.float32), checkpoint_dir=trained_dir(B, t), resume=True), ValueError,
            "was trained on other data", "this fit has X_train <f4 (10, 3)"),
    ]),
    ("One loader: weights files", _weights_rows()),
    ("One loader: checkpoints", _checkpoint_rows()),
    ("One loader: parity results", _results_rows()),
    ("Accepted but wrong: complex numbers", [
        row("Trainer.fit", "complex X_train", lambda B, t: fit(B, X + 0j), TypeError,
            "X_train: expected real numbers, got complex values (array of shape (10, 3) and dtype complex128)",
            "pass x.real, or np.abs(x), explicitly"),
        row("Trainer.fit", "complex y_train", lambda B, t: fit(B, X, Y + 1j), TypeError,
            "y_train: expected real numbers, got complex values"),
        row("Trainer.fit", "complex X_test", lambda B, t: fit(B, X, Y, X_test=X + 1j, y_test=Y), TypeError,
            "X_test: expected real numbers"),
        row("NeuralNetwork.forward", "complex x_batch", lambda B, t: net(B).forward(X + 1j), TypeError,
            "x_batch: expected real numbers, got complex values"),
        row("Dense.forward", "complex input", lambda B, t: B.Dense(2).forward(X + 1j), TypeError,
            "Dense(2): expected real numbers, got complex values"),
        row("MeanSquaredError.forward", "complex target", lambda B, t: B.MeanSquaredError().forward(Y, Y + 1j),
            TypeError, "MeanSquaredError target: expected real numbers"),
        row("SoftmaxCrossEntropy.forward", "complex logits", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS + 1j, np.array([0, 1])), TypeError, "SoftmaxCrossEntropy() prediction: expected real numbers"),
        row("NeuralNetwork.load_state_dict", "complex weights", lambda B, t: built(B).load_state_dict(
            complex_weights(B)), TypeError, "NeuralNetwork.load_state_dict: key 'layers.0.W': expected real numbers"),
        row("load_weights", "a file of complex weights", lambda B, t: load_weights(built(B), save_npz(
            t / "c.npz", complex_weights(B))), TypeError, "load_state_dict: key 'layers.0.W': expected real numbers"),
    ]),
    ("Accepted but wrong: empty evaluation sets, one-class softmax, runaway losses", [
        row("Trainer.fit", "X_test with 0 rows", lambda B, t: fit(B, X, Y, X_test=X[:0], y_test=Y[:0]), ValueError,
            "X_test: expected at least one sample to evaluate on, got 0 rows (shape (0, 3)); the mean loss of no "
            "samples is undefined (NaN) (pass X_test=None and y_test=None to train without evaluating)"),
        row("Trainer.fit", "X_test with 0 rows and early stopping", lambda B, t: fit(
            B, X, Y, X_test=X[:0], y_test=Y[:0], early_stopping=True), ValueError,
            "X_test: expected at least one sample"),
        row("Trainer.evaluate", "0 rows", lambda B, t: B.Trainer(built(B), B.SGD(0.1)).evaluate(X[:0], Y[:0]),
            ValueError, "evaluate: expected at least one sample to evaluate on, got 0 rows (shape (0, 3))"),
        row("SoftmaxCrossEntropy.forward", "logits over 1 class", lambda B, t: B.SoftmaxCrossEntropy().forward(
            np.zeros((4, 1)), np.zeros(4, dtype=int)), ValueError,
            "SoftmaxCrossEntropy: expected logits over at least 2 classes, got C=1 (class axis -1 of shape (4, 1)); "
            "a softmax over one class is 1 for every input, so the loss is 0"),
        row("SoftmaxCrossEntropy.forward", "class_axis=1 logits over 1 class",
            lambda B, t: B.SoftmaxCrossEntropy(class_axis=1).forward(np.zeros((2, 1, 5)), np.zeros((2, 5), int)),
            ValueError, "expected logits over at least 2 classes, got C=1 (class axis 1 of shape (2, 1, 5))"),
        row("Trainer.fit", "a network ending in Dense(1) under SoftmaxCrossEntropy", lambda B, t: fit(
            B, X, np.zeros(10, int), network=classifier(B, 1)), ValueError,
            "expected logits over at least 2 classes, got C=1"),
        row("Trainer.fit", "lr=1e30 (a loss growing by orders of magnitude)", lambda B, t: fit(
            B, optim=B.SGD(1e30), epochs=5), TrainingDiverged, "training diverged at epoch 1, step 2: the loss ",
            "is more than 10000 times the smallest step loss so far (", "and 10 times the first (",
            "(lower the learning rate, or clip the gradients"),
    ]),
    ("Misleading messages: labels", [
        row("SoftmaxCrossEntropy.forward", "bool labels", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.array([True, False])), TypeError,
            "SoftmaxCrossEntropy target: expected integer class labels, got a bool array of shape (2,) (True/False); "
            "convert it with y.astype(np.int64) for the classes 0 and 1"),
        row("Trainer.fit", "bool y_train", lambda B, t: fit(B, X, LABELS > 0, network=classifier(B, 2)), TypeError,
            "got a bool array of shape (10,) (True/False)"),
        row("SoftmaxCrossEntropy.forward", "(N, 1) integer labels", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.array([[0], [2]])), ValueError,
            "SoftmaxCrossEntropy target: got labels of shape (2, 1), one column; class labels are 1-D, one per "
            "sample (flatten them to (2,) with y.reshape(-1)), and 2-D labels are one-hot rows of C=3 columns"),
        row("Trainer.fit", "(N, 1) integer y_train", lambda B, t: fit(B, X, LABELS[:, None], network=classifier(B)),
            ValueError, "got labels of shape (10, 1), one column", "flatten them to (10,) with y.reshape(-1)"),
    ]),
    ("Crashes: out of memory names the layer", [
        row("NeuralNetwork.forward", "a Conv2D whose output needs 410 TB", lambda B, t: huge_conv(B).forward(IMAGE),
            LayerMemoryError, "out of memory in the forward pass of layer 1 of 3 in the network, Conv2D(10000000, "
            "kernel_size=1): ", "allocate", "use a smaller batch_size, or a smaller layer"),
        row("Trainer.fit", "a Conv2D whose output needs 410 TB", lambda B, t: fit(
            B, IMAGE, np.array([0]), network=huge_conv(B), batch_size=1), LayerMemoryError,
            "out of memory in the forward pass of layer 1 of 3 in the network, Conv2D(10000000, kernel_size=1)"),
        row("Conv2D.forward", "alone, an output of 410 TB", lambda B, t: B.Conv2D(10**7, 1).forward(IMAGE),
            LayerMemoryError, "out of memory in the forward pass of Conv2D(10000000, kernel_size=1): "),
        row("Trainer.fit", "a training step whose batch does not fit", lambda B, t: oom_in_a_training_step(B),
            LayerMemoryError, "out of memory in ", "of layer 1 of 3 in the network, Dense(3)", "allocate"),
    ]),
]


def _unwritable(B: Any, tmp: Path, network: Any = None) -> Any:
    """A directory whose probe file cannot be created (root ignores permission bits, so the refusal is the
    operating system's answer to an unwritable directory, given by the probe's ``mkstemp``)."""
    import dlfs.checkpoint_dir as C

    real = C.tempfile.mkstemp

    def refuse(*a: Any, **k: Any) -> Any:
        if ".dlfs-write-probe." in str(k.get("prefix", "")):
            raise PermissionError(13, "Permission denied")
        return real(*a, **k)

    C.tempfile.mkstemp = refuse
    try:
        return fit(B, network=network, checkpoint_dir=tmp / "ro")
    finally:
        C.tempfile.mkstemp = real


ROWS = [r for _, rows in FAULTS for r in rows]
CASES = [(r, b) for r in ROWS for b in (("scratch", "torch") if r.backends == "both" else (r.backends,))]


@pytest.mark.parametrize("r,backend", CASES, ids=[f"{r.component}:{r.bad_input}[{b}]" for r, b in CASES])
def test_fault(r: Row, backend: str, tmp_path: Path) -> None:
    B = dlfs.backend(backend) if backend in ("scratch", "torch") else None
    with pytest.raises(BaseException) as info:
        r.call(B, tmp_path)
    err = info.value
    assert type(err) is r.error, f"expected {r.error.__name__}, got {type(err).__name__}: {err}"
    message = str(err)
    assert_in_order(message, r.message)
    assert "allow_pickle" not in message  # never advise unpickling a file one did not make


# --- the right results ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    """A case that must give the right result: ``check(B, tmp)`` asserts it (``B`` None for ``backends="-"``)."""

    component: str
    case: str
    check: Callable[[Any, Path], None]
    backends: str = "both"


def _refused_run_leaves_the_checkpoint(B: Any, tmp: Path) -> None:
    d = trained_dir(B, tmp, seed=2)
    before = (d / CHECKPOINT_FILE).read_bytes()
    with pytest.raises(FileExistsError):
        fit(B, checkpoint_dir=d)
    assert (d / CHECKPOINT_FILE).read_bytes() == before
    assert sorted(p.name for p in d.iterdir()) == [CHECKPOINT_FILE]  # no probe or temporary file left


def _overwrite_replaces(B: Any, tmp: Path) -> None:
    d = trained_dir(B, tmp, seed=2)
    old = load_checkpoint(d)
    n = net(B)
    fit(B, network=n, checkpoint_dir=d, overwrite_checkpoint=True, epochs=3)
    new = load_checkpoint(d)
    assert (old.epoch, new.epoch) == (2, 3)
    for k, v in n.state_dict().items():
        np.testing.assert_array_equal(new.weights[k], v)
    assert sorted(p.name for p in d.iterdir()) == [CHECKPOINT_FILE]


def _fingerprint_recorded(B: Any, tmp: Path) -> None:
    fp = load_checkpoint(trained_dir(B, tmp)).fit["data"]
    assert fp["X_train"] == {"dtype": "<f8", "shape": [10, 3],
                             "blake2b": hashlib.blake2b(X.tobytes(), digest_size=16).hexdigest()}
    assert fp["y_train"]["blake2b"] == hashlib.blake2b(Y.tobytes(), digest_size=16).hexdigest()
    # a view in another memory order has the same values, so the same fingerprint
    F = np.asfortranarray(X)
    n = net(B)
    fit(B, F, Y, network=n, checkpoint_dir=tmp / "ckpt", resume=True, epochs=3)
    assert load_checkpoint(tmp / "ckpt").fit["data"] == fp


def _resume_on_a_copy_of_the_data(B: Any, tmp: Path) -> None:
    """2 epochs into a checkpoint, then resumed to 4 on copies of the data (other arrays, the same bytes): the
    weights of an uninterrupted 4-epoch run, bit for bit."""
    whole = net(B)
    fit(B, network=whole, epochs=4)
    fit(B, checkpoint_dir=tmp / "c", epochs=2)
    resumed = net(B)
    fit(B, X.copy(), Y.copy(), network=resumed, checkpoint_dir=tmp / "c", resume=True, epochs=4)
    for k, v in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[k], v)


def _creates_the_directory(B: Any, tmp: Path) -> None:
    d = tmp / "a" / "b" / "c"
    fit(B, checkpoint_dir=d)
    assert load_checkpoint(d).epoch == EPOCHS


def _unwritable_fails_before_training(B: Any, tmp: Path) -> None:
    n = built(B)
    before = n.state_dict()
    with pytest.raises(PermissionError):
        _unwritable(B, tmp, n)
    for k, v in before.items():  # not one step was taken
        np.testing.assert_array_equal(n.state_dict()[k], v)
    assert list((tmp / "ro").iterdir()) == []  # created, and nothing left in it


def _pickle_never_runs(B: Any, tmp: Path) -> None:
    marker = tmp / "pwned"
    payload = pickle.dumps(Payload(marker))
    files = {"legacy.npz": payload, "legacy.safetensors": payload,
             "archive.npz": zip_with({"archive/data.pkl": payload}), "objects.npz": object_npz_bytes(Payload(marker))}
    assert not marker.exists()
    for name, content in files.items():
        with pytest.raises(FileFormatError):
            load_weights(built(B), write(tmp / name, content))
        assert not marker.exists(), f"{name}: the pickle ran"
        with pytest.raises(FileFormatError):
            resume_from(B, tmp, content)
        assert not marker.exists(), f"{name} as a checkpoint: the pickle ran"
    pickle.loads(payload).close()  # the payload is real: unpickled, it does create the file
    assert marker.exists()


def _harmless_flip_loads_the_same(B: Any, tmp: Path) -> None:
    """A flipped bit in a zip entry's modification time changes no weight: the file loads, identically."""
    path = weights_file(B, tmp)
    data = path.read_bytes()
    (tmp / "flip.npz").write_bytes(flipped(data, 10))
    a, b = built(B), built(B)
    load_weights(a, path)
    load_weights(b, tmp / "flip.npz")
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)


def _reader_matches_numpy(B: Any, tmp: Path) -> None:
    state = {"a": np.arange(12.0).reshape(3, 4), "b": np.asfortranarray(np.ones((2, 3), np.float32)),
             "c": np.int64(7), "d": np.zeros((0, 5)), "weights/layers.0.W": np.eye(2)}
    path = save_npz(tmp / "s.npz", state)
    got = read_npz(path)
    with np.load(path) as z:
        assert list(got) == list(z.files)
        for k in z.files:
            np.testing.assert_array_equal(got[k], z[k])
            assert got[k].dtype == z[k].dtype and got[k].shape == z[k].shape
            assert got[k].flags.writeable


def _results_missing_is_empty(B: Any, tmp: Path) -> None:
    assert results.load(tmp / "none.json") == {}
    good = {"dense": {"float64": {"passed": True}}}
    (tmp / "r.json").write_text('{"dense": {"float64": {"passed": true}}}')
    assert results.load(tmp / "r.json") == good


def _weights_file_error_is_the_one_type(B: Any, tmp: Path) -> None:
    assert WeightsFileError is FileFormatError and issubclass(FileFormatError, ValueError)


def _epochs_1e10(B: Any, tmp: Path) -> None:
    """10**10 epochs with a decaying learning rate: nothing proportional to epochs is allocated (the schedule
    was a 74 GiB array); a step budget ends the run, with the schedule's first rate."""
    trainer = B.Trainer(net(B), B.SGD(0.1, final_lr=0.01, decay_type="exponential"))
    tracemalloc.start()
    try:
        h = trainer.fit(X, Y, epochs=10**10, batch_size=4, max_steps=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak} bytes"
    assert h.lr == [0.1] and len(h.step_loss) == 3 and h.stopped_step == 3


def _lazy_schedule_is_bit_identical(B: Any, tmp: Path) -> None:
    for epochs in (1, 2, 3, 7, 11, 100, 997):
        for args in ((0.15, 0.05, "linear"), (0.2, 0.05, "exponential"), (0.1, None, None),
                     (3e-3, 1e-4, "exponential")):
            whole = lr_schedule(*args, epochs)
            alone = np.array([lr_at(*args, epochs, e) for e in range(epochs)])
            assert (whole.view(np.int64) == alone.view(np.int64)).all(), (epochs, args)
    # and the scratch optimiser, stepped by the fit loop, reads that schedule epoch by epoch (torch's scheduler
    # multiplies, and agrees within 4e-15: test_lr_decay.py)
    h = fit(B, optim=B.SGD(0.2, final_lr=0.05, decay_type="exponential"), epochs=6)
    assert h.lr == lr_schedule(0.2, 0.05, "exponential", 6).tolist()


def _growth_rule_survives_a_resume(B: Any, tmp: Path) -> None:
    """The slow blow-up of test_divergence (lr=0.7, step 31): interrupted after epoch 3 and resumed, it stops at
    the same step, its reference losses restored from the checkpoint's history."""
    def run(**kw: Any) -> TrainingDiverged:
        with pytest.raises(TrainingDiverged) as info:
            n = B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError(), seed=1, dtype="float64")
            B.Trainer(n, B.SGD(0.7)).fit(XS, YS, epochs=40, batch_size=8, **kw)
        return info.value

    fit(B, XS, YS, network=B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError(), seed=1, dtype="float64"),
        optim=B.SGD(0.7), epochs=3, batch_size=8, checkpoint_dir=tmp / "c")
    whole = run()
    assert (whole.epoch, whole.step) == (8, 31)
    # epochs differ (3 then 40): SGD without decay does not depend on it, so the resume is allowed
    resumed = run(checkpoint_dir=tmp / "c", resume=True)
    assert (resumed.epoch, resumed.step) == (8, 31) and str(resumed) == str(whole)


_RNG = np.random.default_rng(0)  # test_divergence.py's data
XS, YS = _RNG.standard_normal((32, 5)), _RNG.standard_normal((32, 2)) * 10


def _two_classes_and_bool_one_hot(B: Any, tmp: Path) -> None:
    """Still accepted: 2 classes, and one-hot rows of bool (the same loss as their integer labels)."""
    loss = B.SoftmaxCrossEntropy()
    y = np.array([0, 2])
    assert loss.forward(LOGITS, np.eye(3, dtype=bool)[y]) == loss.forward(LOGITS, y)
    assert np.isfinite(B.SoftmaxCrossEntropy().forward(LOGITS[:, :2], np.array([1, 0])))


def _negative_weights_keep_training(B: Any, tmp: Path) -> None:
    """Negative class weights make the loss negative, where ratios mean nothing: the growth rule stands aside."""
    n = B.NeuralNetwork([B.Dense(3)], B.SoftmaxCrossEntropy(weight=np.array([-1.0, -2.0, -1.0]), reduction="sum"),
                        dtype="float64")
    h = fit(B, X, LABELS, network=n, optim=B.SGD(0.01), epochs=3)
    assert len(h.step_loss) == 9 and all(v < 0 for v in h.step_loss)


RESULTS: list[Result] = [
    Result("Trainer.fit", "a refused fresh run leaves the other run's checkpoint byte for byte",
           _refused_run_leaves_the_checkpoint),
    Result("Trainer.fit", "overwrite_checkpoint=True replaces it with this run's", _overwrite_replaces),
    Result("Trainer.fit", "the checkpoint records the data's fingerprint (BLAKE2b of the bytes)",
           _fingerprint_recorded),
    Result("Trainer.fit", "a resume on a copy of the same data is accepted and ends as an uninterrupted run",
           _resume_on_a_copy_of_the_data),
    Result("Trainer.fit", "checkpoint_dir is created, parents too", _creates_the_directory),
    Result("Trainer.fit", "an unwritable checkpoint_dir fails before any step", _unwritable_fails_before_training),
    Result("load_weights, resume", "a pickle payload in a weights file or checkpoint never runs", _pickle_never_runs),
    Result("load_weights", "a flipped bit that changes no weight loads the same weights",
           _harmless_flip_loads_the_same),
    Result("dlfs.io.read_npz", "reads what np.load reads, writable", _reader_matches_numpy, backends="-"),
    Result("study.results.load", "a missing file is no results; a good one loads", _results_missing_is_empty,
           backends="-"),
    Result("dlfs.io", "WeightsFileError is FileFormatError, a ValueError", _weights_file_error_is_the_one_type,
           backends="-"),
    Result("Trainer.fit", "epochs=10**10 allocates nothing proportional to it", _epochs_1e10),
    Result("Trainer.fit", "the per-epoch schedule is bit for bit the precomputed one", _lazy_schedule_is_bit_identical,
           backends="scratch"),
    Result("Trainer.fit", "the growth rule decides alike after a resume", _growth_rule_survives_a_resume),
    Result("SoftmaxCrossEntropy", "2 classes and bool one-hot rows are still accepted", _two_classes_and_bool_one_hot),
    Result("Trainer.fit", "negative class weights (negative losses) train on", _negative_weights_keep_training),
]
RESULT_CASES = [(r, b) for r in RESULTS for b in (("scratch", "torch") if r.backends == "both" else (r.backends,))]


@pytest.mark.parametrize("r,backend", RESULT_CASES, ids=[f"{r.component}:{r.case}[{b}]" for r, b in RESULT_CASES])
def test_result(r: Result, backend: str, tmp_path: Path) -> None:
    r.check(dlfs.backend(backend) if backend in ("scratch", "torch") else None, tmp_path)


def test_the_tables_cover_both_backends() -> None:
    assert len(ROWS) == len({(r.component, r.bad_input) for r in ROWS})
    assert sum(r.backends == "both" for r in ROWS) >= 50 and len(CASES) >= 120
    assert len(RESULT_CASES) >= 25


if __name__ == "__main__":
    print(f"{len(ROWS)} fault rows, {len(CASES)} fault cases; {len(RESULTS)} result rows, {len(RESULT_CASES)} "
          f"result cases; {len(CASES) + len(RESULT_CASES)} cases in all")
