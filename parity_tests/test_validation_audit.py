"""The input-validation audit: every public constructor, ``forward``, ``fit``, loader, metric and command-line argument
gets bad input, and must answer with the error type and the message recorded here.

``AUDIT`` is the table. ``docs/validation.md`` is generated from it (``python -m parity_tests.test_validation_audit``
rewrites the file; ``test_doc_is_current`` fails when it is stale), and ``test_bad_input`` runs every row, in both
backends where the component exists in both. The error type must match exactly (a NumPy ``UFuncTypeError`` is a
``TypeError`` too, and must not pass for ours), and the message must contain every fragment of the row, in order.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

import dlfs
from dlfs import data as D
from dlfs import metrics as M
from dlfs.data import loaders
from dlfs.exchange import load_weights
from dlfs.io import FileFormatError

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "validation.md"

X = np.random.default_rng(0).standard_normal((10, 3))
Y = np.random.default_rng(1).standard_normal((10, 1))
IMG = np.random.default_rng(2).standard_normal((2, 2, 5, 6))
SEQ = np.random.default_rng(3).standard_normal((2, 4, 3))
LOGITS = np.random.default_rng(4).standard_normal((2, 3))


@dataclass(frozen=True)
class Row:
    """One bad input: ``call(B, tmp)`` must raise exactly ``error`` with every ``message`` fragment in order.

    ``backends``: "both" runs the row with ``B`` = each backend module; "-" for a backend-independent component
    (``B`` is None). ``tmp`` is a fresh directory (``--out``, missing files). A ``SystemExit`` is a usage error (exit
    status 2, the message printed on stderr by argparse or ``dlfs``) unless ``exit_text``: then the exit carries the
    message itself (``SystemExit("error: ...")``, exit status 1).
    """

    component: str
    bad_input: str
    call: Callable[[Any, Path], Any]
    error: type[BaseException]
    message: tuple[str, ...]
    backends: str = "both"
    exit_text: bool = False


def row(component: str, bad_input: str, call: Callable[[Any, Path], Any], error: type[BaseException],
        *message: str, backends: str = "both", exit_text: bool = False) -> Row:
    return Row(component, bad_input, call, error, message, backends, exit_text)


# --- helpers the rows call --------------------------------------------------------------------------------------------

def built(layer: Any, x: np.ndarray) -> Any:
    """``layer`` after one forward on ``x`` (its parameters exist)."""
    layer.forward(x)
    return layer


def net(B: Any, **kw: Any) -> Any:
    return B.NeuralNetwork([B.Dense(4, B.Tanh()), B.Dense(1)], B.MeanSquaredError(), dtype="float64", **kw)


def fit(B: Any, X: Any = X, Y: Any = Y, **kw: Any) -> Any:
    args = dict(epochs=1, eval_every=1, batch_size=4)
    args.update(kw)
    return B.Trainer(net(B), B.SGD(0.01)).fit(X, Y, **args)


def with_nan(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flat[1] = np.nan
    return a


def cli(*argv: str) -> None:
    """``dlfs ARGV`` in-process; a non-zero exit status is raised as ``SystemExit`` (the message is on stderr)."""
    from study.cli import main

    code = main(list(argv))
    if code:
        raise SystemExit(code)


def experiment(name: str, *argv: str) -> Any:
    return importlib.import_module(f"experiments.{name}").main(list(argv))


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def non_empty(tmp: Path) -> str:
    write(tmp / "out" / "old.txt", "x")
    return str(tmp / "out")


def assert_in_order(message: str, fragments: Sequence[str]) -> None:
    """Every fragment occurs in ``message``, each after the one before: the audit's rule for an error's text."""
    at = 0
    for fragment in fragments:
        found = message.find(fragment, at)
        assert found >= 0, f"{fragment!r} not in the message (after position {at}): {message!r}"
        at = found + len(fragment)


# every experiment takes the shared flags of experiments.common.base_parser; each is given the bad ones
EXPERIMENTS = ("autoencoder", "char_lstm", "cnn", "demo", "foundations", "ladder", "regression")

# --- the table --------------------------------------------------------------------------------------------------------

AUDIT: list[tuple[str, list[Row]]] = [
    ("Layers: constructors", [
        row("Dense", "neurons=0", lambda B, t: B.Dense(0), ValueError,
            "neurons: expected a positive int (>= 1), got 0"),
        row("Dense", "neurons='4' (a string)", lambda B, t: B.Dense("4"), TypeError,
            "neurons: expected a positive int, got str '4'"),
        row("Dense", "neurons=2.5", lambda B, t: B.Dense(2.5), TypeError,
            "neurons: expected a positive int, got float"),
        row("Dense", "activation='tanhh' (unknown name)", lambda B, t: B.Dense(3, activation="tanhh"), ValueError,
            "activation: expected one of ['sigmoid', 'tanh', 'relu', 'linear'], got 'tanhh'", "did you mean 'tanh'?"),
        row("Dense", "activation=42", lambda B, t: B.Dense(3, activation=42), TypeError,
            "activation: expected an activation such as Tanh()", "got int"),
        row("Dense", "weight_init='he' (unknown name)", lambda B, t: B.Dense(3, weight_init="he"), ValueError,
            "weight_init: expected one of ['standard', 'glorot'], got 'he'"),
        row("Dense", "dropout=1.0 (the book's keep-probability)", lambda B, t: B.Dense(3, dropout=1.0), ValueError,
            "Dense(3) dropout: expected a drop probability in [0, 1), got 1.0", "the book's keep-probability 0.8 is "
            "dropout=0.2"),
        row("Dense", "dropout=NaN", lambda B, t: B.Dense(3, dropout=float("nan")), ValueError,
            "dropout: expected a drop probability in [0, 1), got nan"),
        row("Dense", "dropout='a'", lambda B, t: B.Dense(3, dropout="a"), TypeError,
            "Dense(3) dropout: expected a number, got str 'a'"),
        row("Conv2D", "out_channels=0", lambda B, t: B.Conv2D(0, 3), ValueError,
            "out_channels: expected a positive int (>= 1), got 0"),
        row("Conv2D", "kernel_size=0", lambda B, t: B.Conv2D(2, 0), ValueError,
            "kernel_size: expected a positive int (>= 1), got 0"),
        row("Conv2D", "kernel_size=(3, 3, 3)", lambda B, t: B.Conv2D(2, (3, 3, 3)), ValueError,
            "kernel_size: expected an int or a pair (height, width), got 3 values"),
        row("Conv2D", "stride=-1", lambda B, t: B.Conv2D(2, 3, stride=-1, padding=0), ValueError,
            "stride: expected a positive int (>= 1), got -1"),
        row("Conv2D", "padding='same' with stride 2", lambda B, t: B.Conv2D(2, 3, stride=2), ValueError,
            "padding='same' needs stride 1", "got stride (2, 2)"),
        row("Conv2D", "padding=-1", lambda B, t: B.Conv2D(2, 3, padding=-1), ValueError,
            "Conv2D padding: expected 'same', 'valid', an int >= 0 or a pair (height, width) of ints >= 0, got -1"),
        row("Conv2D", "padding=(1, -1)", lambda B, t: B.Conv2D(2, 3, padding=(1, -1)), ValueError,
            "Conv2D padding[1]: expected an int >= 0, got -1"),
        row("Conv2D", "padding=(1, 1, 1, 1) (per side)", lambda B, t: B.Conv2D(2, 3, padding=(1, 1, 1, 1)),
            ValueError, "Conv2D padding: expected an int or a pair (height, width), got 4 values"),
        row("Conv2D", "padding='full' (unknown name)", lambda B, t: B.Conv2D(2, 3, padding="full"), ValueError,
            "Conv2D padding: expected 'same', 'valid', an int >= 0 or a pair", "got 'full'"),
        row("Conv2D", "padding=1.5", lambda B, t: B.Conv2D(2, 3, padding=1.5), TypeError,
            "Conv2D padding: expected 'same', 'valid', an int >= 0 or a pair", "got float 1.5"),
        row("Conv2D", "dilation=0", lambda B, t: B.Conv2D(2, 3, dilation=0), ValueError,
            "Conv2D dilation: expected a positive int (>= 1), got 0"),
        row("Conv2D", "groups=0", lambda B, t: B.Conv2D(2, 3, groups=0), ValueError,
            "Conv2D groups: expected a positive int (>= 1), got 0"),
        row("Conv2D", "groups=2 for out_channels=3", lambda B, t: B.Conv2D(3, 3, groups=2), ValueError,
            "Conv2D groups: expected a divisor of out_channels=3", "got groups=2"),
        row("Conv2D", "bias='no' (a truthy string)", lambda B, t: B.Conv2D(2, 3, bias="no"), TypeError,
            "bias: expected True or False, got str 'no'"),
        row("Conv2D", "flatten=1", lambda B, t: B.Conv2D(2, 3, flatten=1), TypeError,
            "flatten: expected True or False, got int 1"),
        row("Conv2D", "activation='softmax' (unknown name)", lambda B, t: B.Conv2D(2, 3, activation="softmax"),
            ValueError, "activation: expected one of", "got 'softmax'"),
        row("Conv2D", "dropout=-0.1", lambda B, t: B.Conv2D(2, 3, dropout=-0.1), ValueError,
            "dropout: expected a drop probability in [0, 1), got -0.1"),
        row("MaxPool2D", "kernel_size=0", lambda B, t: B.MaxPool2D(0), ValueError,
            "MaxPool2D kernel_size: expected a positive int (>= 1), got 0"),
        row("MaxPool2D", "padding=2 for kernel_size=3", lambda B, t: B.MaxPool2D(3, padding=2), ValueError,
            "MaxPool2D padding: expected at most half the kernel size", "got (2, 2)"),
        row("MaxPool2D", "dilation=0", lambda B, t: B.MaxPool2D(2, dilation=0), ValueError,
            "MaxPool2D dilation: expected a positive int (>= 1), got 0"),
        row("MaxPool2D", "ceil_mode=1", lambda B, t: B.MaxPool2D(2, ceil_mode=1), TypeError,
            "MaxPool2D ceil_mode: expected True or False, got int 1"),
        row("AvgPool2D", "kernel_size=2.0", lambda B, t: B.AvgPool2D(2.0), TypeError,
            "AvgPool2D kernel_size: expected a positive int, got float 2.0"),
        row("AvgPool2D", "stride=0", lambda B, t: B.AvgPool2D(2, stride=0), ValueError,
            "AvgPool2D stride: expected a positive int (>= 1), got 0"),
        row("AvgPool2D", "padding=-1", lambda B, t: B.AvgPool2D(2, padding=-1), ValueError,
            "AvgPool2D padding: expected an int >= 0, got -1"),
        row("AvgPool2D", "divisor_override=0", lambda B, t: B.AvgPool2D(2, divisor_override=0), ValueError,
            "AvgPool2D divisor_override: expected None or a non-zero int, got 0"),
        row("AvgPool2D", "count_include_pad='no'", lambda B, t: B.AvgPool2D(2, count_include_pad="no"), TypeError,
            "AvgPool2D count_include_pad: expected True or False, got str 'no'"),
        row("Reshape", "shape=0", lambda B, t: B.Reshape(0), ValueError,
            "Reshape shape[0]: expected a positive int (>= 1), got 0"),
        row("Reshape", "shape=() (no dimension)", lambda B, t: B.Reshape(()), ValueError,
            "Reshape shape: expected at least one dimension, got ()"),
        row("Reshape", "shape=(2, -1) (no -1 inference)", lambda B, t: B.Reshape((2, -1)), ValueError,
            "Reshape shape[1]: expected a positive int (>= 1), got -1"),
        row("Dropout", "p=1.0", lambda B, t: B.Dropout(1.0), ValueError,
            "Dropout p: expected a drop probability in [0, 1), got 1.0"),
        row("Dropout", "rng=42 (a seed, not a Generator)", lambda B, t: B.Dropout(0.5, rng=42), TypeError,
            "Dropout rng: expected a numpy.random.Generator", "got int 42"),
        row("RNNLayer", "hidden_size=0", lambda B, t: B.RNNLayer(0), ValueError,
            "hidden_size: expected a positive int (>= 1), got 0"),
        row("LSTMLayer", "hidden_size='8'", lambda B, t: B.LSTMLayer("8"), TypeError,
            "hidden_size: expected a positive int, got str '8'"),
        row("GRULayer", "gru='keras' (unknown variant)", lambda B, t: B.GRULayer(3, gru="keras"), ValueError,
            "gru: expected one of ['torch', 'classic'], got 'keras'"),
        row("GRUNode", "gru='keras' (unknown variant)", lambda B, t: B.GRUNode(3, gru="keras"), ValueError,
            "gru: expected one of ['torch', 'classic'], got 'keras'"),
        row("RNNNode", "weight_init='he'", lambda B, t: B.RNNNode(3, weight_init="he"), ValueError,
            "weight_init: expected one of ['standard', 'glorot'], got 'he'"),
        row("RNNLinear", "neurons=0", lambda B, t: B.RNNLinear(0), ValueError,
            "neurons: expected a positive int (>= 1), got 0"),
    ]),
    ("Layers: forward and backward", [
        row("Sigmoid.forward", "strings", lambda B, t: B.Sigmoid().forward(np.array([["a", "b"]])), TypeError,
            "Sigmoid(): expected a float32 or float64 array, got array of shape (1, 2) and dtype <U1",
            "(numbers, not strings or objects)"),
        row("Tanh.backward", "before any forward", lambda B, t: B.Tanh().backward(np.ones((2, 2))), RuntimeError,
            "Tanh().backward: call forward first"),
        row("Tanh.backward", "gradient of the wrong shape", lambda B, t: built(B.Tanh(), X).backward(np.ones((2, 2))),
            ValueError, "expected a gradient of shape (10, 3) (the output's), got (2, 2)"),
        row("Dense.forward", "1-D input", lambda B, t: B.Dense(4).forward(np.zeros(3)), ValueError,
            "Dense(4): expected a 2-D (batch, features) input, got 1-D shape (3,)", "x.reshape(1, -1)"),
        row("Dense.forward", "width 5 after building on width 3", lambda B, t: built(B.Dense(4), X).forward(
            np.zeros((2, 5))), ValueError, "Dense(4): expected input width 3 (the width it was built for), got 5"),
        row("Dense.forward", "integer input", lambda B, t: B.Dense(2).forward(np.ones((2, 3), dtype=np.int64)),
            TypeError, "Dense(2): expected a float32 or float64 array, got array of shape (2, 3) and dtype int64",
            "x.astype(np.float32)"),
        row("Dense.forward", "strings", lambda B, t: B.Dense(2).forward(X.astype(str)), TypeError,
            "Dense(2): expected a float32 or float64 array", "dtype <U"),
        row("Dense.forward", "a ragged nested list", lambda B, t: B.Dense(2).forward([[1.0, 2.0], [3.0]]),
            ValueError, "Dense(2): expected a rectangular array, got list"),
        row("Dense.backward", "before any forward", lambda B, t: B.Dense(2).backward(np.ones((2, 2))), RuntimeError,
            "Dense(2).backward: call forward first"),
        row("Dense.state_dict", "before the first input", lambda B, t: B.Dense(2).state_dict(), RuntimeError,
            "Dense(2).state_dict: the layer has no parameters until it sees its first input"),
        row("Dense.load_state_dict", "a missing key", lambda B, t: built(B.Dense(2), X).load_state_dict(
            {"W": np.ones((3, 2))}), KeyError, "Dense(2).load_state_dict: missing keys ['B']"),
        row("Dense.load_state_dict", "W transposed (2, 3) for (3, 2)", lambda B, t: built(
            B.Dense(2), X).load_state_dict({"W": np.ones((2, 3)), "B": np.ones((1, 2))}), ValueError,
            "Dense(2).load_state_dict: key 'W' expected shape (3, 2), got (2, 3)"),
        row("Dense.load_state_dict", "NaN weights", lambda B, t: built(B.Dense(2), X).load_state_dict(
            {"W": np.full((3, 2), np.nan), "B": np.ones((1, 2))}), ValueError, "key 'W' contains NaN or inf"),
        row("Conv2D.forward", "2-D input (one image, no channel axis)", lambda B, t: B.Conv2D(2, 3).forward(
            IMG[0, 0]), ValueError, "expected a 3-D (channels, height, width) or 4-D (batch, channels, height, width) "
            "input, got 2-D shape (5, 6)", "x[None]"),
        row("Conv2D.forward", "3 channels for groups=2", lambda B, t: B.Conv2D(2, 3, groups=2).forward(
            np.zeros((1, 3, 5, 5))), ValueError, "Conv2D(2, kernel_size=3) groups=2: expected a number of input "
            "channels divisible by groups", "got 3 in shape (1, 3, 5, 5)"),
        row("Conv2D.forward", "dilated kernel larger than the input", lambda B, t: B.Conv2D(
            2, 3, padding=0, dilation=3).forward(IMG), ValueError, "the 3x3 window (dilated by (3, 3) to 7x7) does "
            "not fit in the 5x6 input"),
        row("Conv2D.forward", "kernel larger than the input", lambda B, t: B.Conv2D(2, 7, padding="valid").forward(IMG),
            ValueError, "Conv2D(2, kernel_size=7): the 7x7 window does not fit in the 5x6 input"),
        row("Conv2D.forward", "1 channel after building on 2", lambda B, t: built(B.Conv2D(2, 3), IMG).forward(
            IMG[:, :1]), ValueError, "expected 2 input channels (the number it was built for), got 1"),
        row("Conv2D.forward", "strings", lambda B, t: B.Conv2D(2, 3).forward(IMG.astype(str)), TypeError,
            "Conv2D(2, kernel_size=3): expected a float32 or float64 array"),
        row("MaxPool2D.forward", "5-D input", lambda B, t: B.MaxPool2D(2).forward(IMG[None]), ValueError,
            "MaxPool2D(2): expected a 3-D (channels, height, width) or 4-D (batch, channels, height, width) input, "
            "got 5-D shape"),
        row("MaxPool2D.forward", "window larger than the input", lambda B, t: B.MaxPool2D(6).forward(IMG), ValueError,
            "MaxPool2D(6): the 6x6 window does not fit in the 5x6 input"),
        row("Flatten.forward", "1-D input (no batch axis)", lambda B, t: B.Flatten().forward(np.ones(3)), ValueError,
            "Flatten(): expected an input with a batch axis and at least one more, got 1-D shape (3,)"),
        row("Reshape.forward", "5 values per sample into (2, 2)", lambda B, t: B.Reshape((2, 2)).forward(
            np.ones((2, 5))), ValueError, "cannot reshape samples of shape (5,) (5 values) to (2, 2) (4 values)"),
        row("LSTMLayer.forward", "2-D input (no time axis)", lambda B, t: B.LSTMLayer(3).forward(X), ValueError,
            "LSTMLayer(3): expected a 3-D (batch, time, features) input, got 2-D shape (10, 3)", "x[:, None, :]"),
        row("LSTMLayer.forward", "zero time steps", lambda B, t: B.LSTMLayer(3).forward(np.ones((2, 0, 3))),
            ValueError, "expected at least one sample and one time step, got shape (2, 0, 3)"),
        row("LSTMLayer.forward", "5 features after building on 3", lambda B, t: built(B.LSTMLayer(3), SEQ).forward(
            np.ones((2, 4, 5))), ValueError, "expected 3 features per time step (the size it was built for), got 5"),
        row("GRULayer.forward", "integer input", lambda B, t: B.GRULayer(3).forward(SEQ.astype(np.int32)), TypeError,
            "expected a float32 or float64 array", "dtype int32"),
        row("RNNLayer.backward", "before any forward", lambda B, t: B.RNNLayer(3).backward(np.ones((2, 4, 3))),
            RuntimeError, "RNNLayer(3).backward: call forward first"),
        row("GRULayer.backward", "gradient of the wrong shape", lambda B, t: built(B.GRULayer(3), SEQ).backward(
            np.ones((2, 4, 2))), ValueError, "expected a gradient of shape (2, 4, 3) (the output's), got (2, 4, 2)"),
        row("RNNLinear.forward", "2-D input", lambda B, t: B.RNNLinear(2).forward(X), ValueError,
            "RNNLinear(2): expected a 3-D (batch, time, features) input"),
        row("RNNLinear.forward", "strings", lambda B, t: B.RNNLinear(2).forward(SEQ.astype(str)), TypeError,
            "RNNLinear(2): expected a float32 or float64 array"),
        row("LSTMNode.forward", "3-D input", lambda B, t: B.LSTMNode(3).forward(SEQ), ValueError,
            "LSTMNode(3): expected a 2-D (batch, features) input for one time step, got 3-D shape (2, 4, 3)"),
        row("LSTMNode.forward", "h of shape (10, 2) for (10, 3)", lambda B, t: B.LSTMNode(3).forward(
            X, np.ones((10, 2))), ValueError, "LSTMNode(3): expected h of shape (10, 3) (batch, hidden), got (10, 2)"),
        row("LSTMNode.forward", "c of shape (9, 3) for (10, 3)", lambda B, t: B.LSTMNode(3).forward(
            X, None, np.ones((9, 3))), ValueError, "expected c of shape (10, 3) (batch, hidden), got (9, 3)"),
        row("RNNNode.forward", "4 features after building on 3", lambda B, t: built(B.RNNNode(3), X).forward(
            np.ones((2, 4))), ValueError, "RNNNode(3): expected 3 features (the size it was built for), got 4"),
        row("RNNNode.forward", "integer input", lambda B, t: B.RNNNode(3).forward(X.astype(np.int64)), TypeError,
            "RNNNode(3): expected a float32 or float64 array"),
        row("GRUNode.forward", "h given as strings", lambda B, t: B.GRUNode(3).forward(X, X.astype(str)), TypeError,
            "GRUNode(3, gru='torch') h: expected a float32 or float64 array"),
        row("RNNNode.backward", "before any forward", lambda B, t: B.RNNNode(3).backward(np.ones((2, 3))),
            RuntimeError, "RNNNode(3).backward: call forward first"),
        row("LSTMNode.backward", "before any forward", lambda B, t: B.LSTMNode(3).backward(np.ones((2, 3))),
            RuntimeError, "LSTMNode(3).backward: call forward first"),
    ]),
    ("Losses", [
        row("MeanSquaredError.forward", "target (10,) for prediction (10, 1)",
            lambda B, t: B.MeanSquaredError().forward(Y, Y[:, 0]), ValueError,
            "MeanSquaredError: target shape (10,) must equal prediction shape (10, 1)", "y.reshape(-1, 1)"),
        row("MeanSquaredError.forward", "NaN in the target", lambda B, t: B.MeanSquaredError().forward(Y, with_nan(Y)),
            ValueError, "MeanSquaredError target: expected finite values, got 1 NaN and 0 inf"),
        row("MeanSquaredError.forward", "target as strings", lambda B, t: B.MeanSquaredError().forward(
            Y, Y.astype(str)), TypeError, "MeanSquaredError target: expected a numeric array"),
        row("MeanSquaredError.forward", "prediction as strings", lambda B, t: B.MeanSquaredError().forward(
            Y.astype(str), Y), TypeError, "MeanSquaredError() prediction: expected a float32 or float64 array"),
        row("MeanSquaredError.backward", "before any forward", lambda B, t: B.MeanSquaredError().backward(),
            RuntimeError, "MeanSquaredError().backward: call forward first"),
        row("SoftmaxCrossEntropy.forward", "1-D logits", lambda B, t: B.SoftmaxCrossEntropy().forward(
            np.ones(3), np.array([0, 1, 2])), ValueError,
            "SoftmaxCrossEntropy: expected 2-D (batch, classes) logits, got 1-D shape (3,)"),
        row("SoftmaxCrossEntropy.forward", "label 3 with 3 classes", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.array([0, 3])), ValueError,
            "SoftmaxCrossEntropy target: class labels must lie in [0, 3) for C=3 classes", "got min 0 and max 3"),
        row("SoftmaxCrossEntropy.forward", "label -1", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.array([0, -1])), ValueError, "class labels must lie in [0, 3)", "got min -1 and max 0"),
        row("SoftmaxCrossEntropy.forward", "label 1.5", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.array([0, 1.5])), TypeError, "SoftmaxCrossEntropy target: expected integer class labels",
            "with non-integer values"),
        row("SoftmaxCrossEntropy.forward", "3 labels for 2 rows", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.array([0, 1, 2])), ValueError, "expected 2 labels (one per prediction row), got 3"),
        row("SoftmaxCrossEntropy.forward", "one-hot rows 4 wide for 3 classes",
            lambda B, t: B.SoftmaxCrossEntropy().forward(LOGITS, np.eye(4)[:2]), ValueError,
            "one-hot labels must have C=3 columns", "got shape (2, 4)"),
        row("SoftmaxCrossEntropy.forward", "2-D labels that are not one-hot",
            lambda B, t: B.SoftmaxCrossEntropy().forward(LOGITS, np.full((2, 3), 0.5)), ValueError,
            "2-D labels must be one-hot (a single 1 per row, zeros elsewhere); 2 of 2 rows are not"),
        row("SoftmaxCrossEntropy.forward", "labels as strings", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.array(["a", "b"])), TypeError, "SoftmaxCrossEntropy target: expected a numeric array"),
        row("SoftmaxCrossEntropy.forward", "3-D labels", lambda B, t: B.SoftmaxCrossEntropy().forward(
            LOGITS, np.zeros((2, 3, 1))), ValueError, "expected integer class labels of shape (N,) or one-hot labels",
            "got 3-D shape (2, 3, 1)"),
    ]),
    ("NeuralNetwork", [
        row("NeuralNetwork", "layers=[] (empty)", lambda B, t: B.NeuralNetwork([], B.MeanSquaredError()), ValueError,
            "layers: expected at least one layer, got an empty list"),
        row("NeuralNetwork", "layers=Dense(3) (not a list)", lambda B, t: B.NeuralNetwork(B.Dense(3),
            B.MeanSquaredError()), TypeError, "layers: expected a list of layers such as [Dense(4), Dense(1)], got "
            "Dense(3) from"),
        row("NeuralNetwork", "layers=[3]", lambda B, t: B.NeuralNetwork([3], B.MeanSquaredError()), TypeError,
            "layers[0]: expected a", "layer such as Dense(4) or Tanh(), got int 3"),
        row("NeuralNetwork", "a layer of the other backend", lambda B, t: B.NeuralNetwork(
            [dlfs.backend("torch" if B.__name__ == "scratch" else "scratch").Dense(3)], B.MeanSquaredError()),
            TypeError, "layers[0]: expected a", "got Dense(3) from"),
        row("NeuralNetwork", "loss='mse' (a name)", lambda B, t: B.NeuralNetwork([B.Dense(3)], "mse"), TypeError,
            "loss: expected a", "loss such as MeanSquaredError(), got str 'mse'"),
        row("NeuralNetwork", "seed=-1", lambda B, t: B.NeuralNetwork([B.Dense(3)], B.MeanSquaredError(), seed=-1),
            ValueError, "seed: expected a non-negative int seed, got -1"),
        row("NeuralNetwork", "seed=1.5", lambda B, t: B.NeuralNetwork([B.Dense(3)], B.MeanSquaredError(), seed=1.5),
            TypeError, "seed: expected a non-negative int seed, got float 1.5"),
        row("NeuralNetwork", "dtype='float16'", lambda B, t: B.NeuralNetwork([B.Dense(1)], B.MeanSquaredError(),
            dtype="float16"), ValueError, "dtype: expected one of ['float32', 'float64'], got 'float16'"),
        row("NeuralNetwork.forward", "strings", lambda B, t: net(B).forward(X.astype(str)), TypeError,
            "x_batch: expected a numeric array, got array of shape (10, 3) and dtype <U"),
        row("NeuralNetwork.forward", "inf", lambda B, t: net(B).forward(np.full((2, 3), np.inf)), ValueError,
            "x_batch: expected finite values, got 0 NaN and 6 inf in shape (2, 3)"),
        row("NeuralNetwork.forward", "width 5 after building on 3", lambda B, t: built(net(B), X).forward(
            np.zeros((2, 5))), ValueError, "Dense(4): expected input width 3 (the width it was built for), got 5"),
        row("NeuralNetwork.backward", "before any forward", lambda B, t: net(B).backward(np.ones((10, 1))),
            RuntimeError, "NeuralNetwork.backward: call forward first"),
        row("NeuralNetwork.backward", "gradient (10, 2) for output (10, 1)", lambda B, t: built(net(B), X).backward(
            np.ones((10, 2))), ValueError, "expected a gradient of shape (10, 1)", "got (10, 2)"),
        row("NeuralNetwork.load_state_dict", "a wrong key", lambda B, t: built(net(B), X).load_state_dict({"x": 1}),
            KeyError, "NeuralNetwork.load_state_dict: missing keys ['layers.0.W'", "unexpected keys ['x']"),
        row("NeuralNetwork.train_batch", "NaN in y", lambda B, t: net(B).train_batch(X, with_nan(Y)), ValueError,
            "MeanSquaredError target: expected finite values, got 1 NaN"),
        row("load_weights", "a missing file", lambda B, t: load_weights(built(net(B), X), t / "none.npz"),
            FileNotFoundError, "weights file", "none.npz' does not exist"),
    ]),
    ("Autoencoder", [
        row("Autoencoder", "image_size=0", lambda B, t: B.Autoencoder(0), ValueError,
            "image_size: expected a positive int (>= 1), got 0"),
        row("Autoencoder", "channels=0", lambda B, t: B.Autoencoder(4, channels=0), ValueError,
            "channels: expected a positive int (>= 1), got 0"),
        row("Autoencoder", "encoding_dim=2.5", lambda B, t: B.Autoencoder(4, encoding_dim=2.5), TypeError,
            "encoding_dim: expected a positive int, got float 2.5"),
        row("Autoencoder.forward", "3-D images (no channel axis)", lambda B, t: B.Autoencoder(4).forward(
            np.zeros((2, 4, 4))), ValueError, "x_batch expected a 4-D (batch, channels, height, width) array of shape "
            "(N, 1, 4, 4), got 3-D shape (2, 4, 4)", "x[:, None]"),
        row("Autoencoder.forward", "5x5 images for a 4x4 model", lambda B, t: B.Autoencoder(4).forward(
            np.zeros((2, 1, 5, 5))), ValueError, "expected images of shape (1, 4, 4)", "got (1, 5, 5)"),
        row("Autoencoder.encode", "NaN pixels", lambda B, t: B.Autoencoder(4).encode(with_nan(np.zeros((2, 1, 4, 4)))),
            ValueError, "x: expected finite values, got 1 NaN"),
        row("Autoencoder.decode", "encodings 3 wide for encoding_dim=2", lambda B, t: B.Autoencoder(
            4, encoding_dim=2).decode(np.zeros((2, 3))), ValueError, "z expected encodings of shape (N, 2)",
            "got shape (2, 3)"),
    ]),
    ("Optimisers", [
        row("SGD", "lr=-1", lambda B, t: B.SGD(lr=-1), ValueError,
            "lr: expected a positive finite learning rate, got -1"),
        row("SGD", "lr=0", lambda B, t: B.SGD(lr=0), ValueError, "lr: expected a positive finite learning rate, got 0"),
        row("SGD", "lr=NaN", lambda B, t: B.SGD(lr=float("nan")), ValueError,
            "lr: expected a positive finite learning rate, got nan"),
        row("SGD", "lr='0.1' (a string)", lambda B, t: B.SGD(lr="0.1"), TypeError, "lr: expected a number, got str"),
        row("SGD", "final_lr without decay_type", lambda B, t: B.SGD(0.1, final_lr=0.01), ValueError,
            "final_lr=0.01 needs a decay_type, one of ['linear', 'exponential']"),
        row("SGD", "decay_type='cosine' (unknown)", lambda B, t: B.SGD(0.1, final_lr=0.01, decay_type="cosine"),
            ValueError, "decay_type: expected one of ['linear', 'exponential'], got 'cosine'"),
        row("SGD", "decay_type without final_lr", lambda B, t: B.SGD(0.1, decay_type="linear"), ValueError,
            "decay_type='linear' needs final_lr"),
        row("SGD", "final_lr=0.2 > lr=0.1", lambda B, t: B.SGD(0.1, final_lr=0.2, decay_type="linear"), ValueError,
            "final_lr: expected 0 < final_lr <= lr=0.1", "got 0.2"),
        row("SGDMomentum", "momentum=1.0", lambda B, t: B.SGDMomentum(0.1, momentum=1.0), ValueError,
            "SGDMomentum momentum: expected a value in [0, 1), got 1.0"),
        row("SGDMomentum", "momentum=-0.1", lambda B, t: B.SGDMomentum(0.1, momentum=-0.1), ValueError,
            "SGDMomentum momentum: expected a value in [0, 1), got -0.1"),
        row("SGDMomentum", "momentum=NaN", lambda B, t: B.SGDMomentum(0.1, momentum=float("nan")), ValueError,
            "SGDMomentum momentum: expected a value in [0, 1), got nan"),
        row("SGDMomentum", "momentum='a'", lambda B, t: B.SGDMomentum(0.1, momentum="a"), TypeError,
            "SGDMomentum momentum: expected a number, got str 'a'"),
        row("Adam", "betas=(0.9, 1.0)", lambda B, t: B.Adam(betas=(0.9, 1.0)), ValueError,
            "betas[1]: expected a value in [0, 1), got 1.0"),
        row("Adam", "betas with three numbers", lambda B, t: B.Adam(betas=(0.9, 0.9, 0.9)), ValueError,
            "betas: expected two numbers (beta1, beta2), got (0.9, 0.9, 0.9)"),
        row("Adam", "eps=0", lambda B, t: B.Adam(eps=0), ValueError, "eps: expected a positive finite number, got 0"),
        row("Adam", "clip_norm=0", lambda B, t: B.Adam(clip_norm=0), ValueError,
            "clip_norm: expected a positive finite number, got 0"),
        row("Adam", "clip_value='a'", lambda B, t: B.Adam(clip_value="a"), TypeError,
            "clip_value: expected a positive number, got str 'a'"),
        row("AdaGrad", "initial_accumulator_value=-1", lambda B, t: B.AdaGrad(initial_accumulator_value=-1),
            ValueError, "initial_accumulator_value: expected a finite number >= 0, got -1"),
        row("clip_grad_value", "clip_value=-1", lambda B, t: B.clip_grad_value(built(net(B), X), -1.0), ValueError,
            "clip_value: expected a positive finite number, got -1.0"),
        row("clip_grad_value", "a string for net", lambda B, t: B.clip_grad_value("net", 1.0), TypeError,
            "net: expected a network or layer with parameters, got str"),
        row("clip_grad_norm", "a string for net", lambda B, t: B.clip_grad_norm("net", 1.0), TypeError,
            "net: expected a network or layer with parameters, got str"),
        row("clip_grad_norm", "max_norm=0", lambda B, t: B.clip_grad_norm(built(net(B), X), 0.0), ValueError,
            "max_norm: expected a positive finite number, got 0.0"),
    ]),
    ("Trainer.fit", [
        row("Trainer.fit", "X_train as strings", lambda B, t: fit(B, X=X.astype(str)), TypeError,
            "X_train: expected a numeric array"),
        row("Trainer.fit", "1-D X_train", lambda B, t: fit(B, X=X[:, 0]), ValueError,
            "X_train: expected a 2-D (samples, features) array or more, got 1-D shape (10,)", "X.reshape(-1, 1)"),
        row("Trainer.fit", "inf in X_train", lambda B, t: fit(B, X=np.where(X > 1, np.inf, X)), ValueError,
            "X_train: expected finite values, got 0 NaN and"),
        row("Trainer.fit", "NaN in y_train", lambda B, t: fit(B, Y=with_nan(Y)), ValueError,
            "y_train: expected finite values, got 1 NaN and 0 inf"),
        row("Trainer.fit", "10 samples, 9 targets", lambda B, t: fit(B, Y=Y[:9]), ValueError,
            "X_train and y_train must have the same number of samples, got 10 and 9"),
        row("Trainer.fit", "y_train (10,) for output (10, 1)", lambda B, t: fit(B, Y=Y[:, 0]), ValueError,
            "target shape (10,) must equal prediction shape (10, 1)", "reshape"),
        row("Trainer.fit", "X_test without y_test", lambda B, t: fit(B, X_test=X), ValueError,
            "X_test and y_test: pass both or neither"),
        row("Trainer.fit", "X_test 2 wide, X_train 3 wide", lambda B, t: fit(B, X_test=X[:, :2], y_test=Y),
            ValueError, "X_test: expected samples of shape (3,) like X_train, got (2,)"),
        row("Trainer.fit", "NaN in X_test", lambda B, t: fit(B, X_test=with_nan(X), y_test=Y), ValueError,
            "X_test: expected finite values, got 1 NaN"),
        row("Trainer.fit", "epochs=0", lambda B, t: fit(B, epochs=0), ValueError,
            "epochs: expected a positive int (>= 1), got 0"),
        row("Trainer.fit", "epochs=2.0", lambda B, t: fit(B, epochs=2.0), TypeError,
            "epochs: expected a positive int, got float 2.0"),
        row("Trainer.fit", "eval_every=0", lambda B, t: fit(B, eval_every=0), ValueError,
            "eval_every: expected a positive int (>= 1), got 0"),
        row("Trainer.fit", "batch_size=-3", lambda B, t: fit(B, batch_size=-3), ValueError,
            "batch_size: expected a positive int (>= 1), got -3"),
        row("Trainer.fit", "batch_size=11 for 10 samples", lambda B, t: fit(B, batch_size=11), ValueError,
            "batch_size: expected at most 10 (number of training samples), got 11"),
        row("Trainer.fit", "early_stopping without X_test", lambda B, t: fit(B, early_stopping=True), ValueError,
            "early_stopping=True needs X_test and y_test"),
        row("Trainer.fit", "checkpoint_every=0", lambda B, t: fit(B, checkpoint_dir=t, checkpoint_every=0), ValueError,
            "checkpoint_every: expected a positive int (>= 1), got 0"),
        row("Trainer.fit", "resume=True without checkpoint_dir", lambda B, t: fit(B, resume=True), ValueError,
            "resume=True needs checkpoint_dir"),
        row("Trainer.fit", "resume from a directory with no checkpoint", lambda B, t: fit(
            B, checkpoint_dir=t / "none", resume=True), FileNotFoundError, "resume=True: no checkpoint in"),
        row("Trainer.fit", "seed=-1", lambda B, t: fit(B, seed=-1), ValueError,
            "seed: expected a non-negative int seed, got -1"),
        row("Trainer.fit", "seed='a'", lambda B, t: fit(B, seed="a"), TypeError,
            "seed: expected a non-negative int seed, got str"),
        row("Trainer.fit", "early_stopping='no'", lambda B, t: fit(B, early_stopping="no"), TypeError,
            "early_stopping: expected True or False, got str 'no'"),
        row("Trainer.fit", "progress='yes'", lambda B, t: fit(B, progress="yes"), TypeError,
            "progress: expected True or False, got str 'yes'"),
        row("Trainer.fit", "0 samples", lambda B, t: fit(B, X=X[:0], Y=Y[:0]), ValueError,
            "X_train: expected at least one sample, got 0 rows"),
        row("Trainer.fit", "checkpoint_dir is an existing file", lambda B, t: fit(
            B, checkpoint_dir=write(t / "f", "")), ValueError, "checkpoint_dir:", "exists and is not a directory"),
    ]),
    ("Trainer", [
        row("Trainer", "optimiser given by name", lambda B, t: B.Trainer(net(B), "sgd"), TypeError,
            "Trainer: optim: expected an optimiser such as SGD(lr=0.01)"),
        row("Trainer", "network given as a string", lambda B, t: B.Trainer("net", B.SGD(0.01)), TypeError,
            "Trainer: net: expected a NeuralNetwork of the"),
    ]),
    ("Other public functions", [
        row("closed_form_linear_regression", "1-D X", lambda B, t: B.closed_form_linear_regression(X[:, 0], Y),
            ValueError, "X: expected a 2-D array, got 1-D shape (10,)"),
        row("closed_form_linear_regression", "10 rows, 9 targets", lambda B, t: B.closed_form_linear_regression(
            X, Y[:9]), ValueError, "X and y must have the same number of samples, got 10 and 9"),
        row("closed_form_linear_regression", "NaN in X", lambda B, t: B.closed_form_linear_regression(with_nan(X), Y),
            ValueError, "X: expected finite values, got 1 NaN"),
        row("closed_form_linear_regression", "y with 2 columns", lambda B, t: B.closed_form_linear_regression(
            X, np.ones((10, 2))), ValueError, "y: expected (n,) or (n, 1) targets, got shape (10, 2)"),
        row("TSNE", "perplexity=0", lambda B, t: B.TSNE(perplexity=0), ValueError,
            "perplexity: expected a finite number > 0.0, got 0"),
        row("TSNE", "n_components=0", lambda B, t: B.TSNE(n_components=0), ValueError,
            "n_components: expected a positive int (>= 1), got 0"),
        row("TSNE", "early_exaggeration=0", lambda B, t: B.TSNE(early_exaggeration=0), ValueError,
            "early_exaggeration: expected a finite number >= 1.0, got 0"),
        row("TSNE", "dtype='float16'", lambda B, t: B.TSNE(dtype="float16"), ValueError,
            "dtype: expected one of ['float32', 'float64'], got 'float16'"),
        row("TSNE", "seed='a'", lambda B, t: B.TSNE(seed="a"), TypeError, "seed: expected an int, got str 'a'"),
        row("TSNE.fit_transform", "perplexity 30 for 10 points", lambda B, t: B.TSNE(perplexity=30).fit_transform(X),
            ValueError, "perplexity: expected a value in (0, n - 1] = (0, 9] for n = 10 points"),
        row("TSNE.fit_transform", "NaN in X", lambda B, t: B.TSNE(perplexity=2, n_iter=10).fit_transform(
            with_nan(X)), ValueError, "X: expected finite values, got 1 NaN"),
    ]),
    ("dlfs.data", [
        row("load_dataset", "name='cifar'", lambda B, t: D.load_dataset("cifar"), ValueError,
            "dataset: expected one of ['digits', 'fashion-mnist', 'mnist'], got 'cifar'", backends="-"),
        row("load_mnist", "files missing, no download", lambda B, t: D.load_mnist(t), FileNotFoundError,
            "MNIST not found: train-images-idx3-ubyte.gz",
            "Pass download=True (--download on the command line of experiments demo, cnn, ladder and autoencoder)",
            backends="-"),
        row("load_fashion_mnist", "files missing", lambda B, t: _no_system_fashion(t), FileNotFoundError,
            "Fashion-MNIST not found", "apt-get install -y dataset-fashion-mnist", backends="-"),
        row("load_boston", "file missing", lambda B, t: D.load_boston(t), FileNotFoundError,
            "Boston housing not found at", "13 feature columns then MEDV", backends="-"),
        row("load_boston", "13 columns instead of 14", lambda B, t: D.load_boston(_boston(t, "1," * 12 + "1\n")),
            ValueError, "expected 14 columns (13 features then MEDV), got shape (1, 13)", backends="-"),
        row("load_boston", "a header line", lambda B, t: D.load_boston(_boston(t, "crim,zn\n")), ValueError,
            "expected comma-separated numbers without a header", backends="-"),
        row("load_tiny_shakespeare", "file missing, no download", lambda B, t: D.load_tiny_shakespeare(t),
            FileNotFoundError, "Tiny Shakespeare not found at", "pass download=True", backends="-"),
        row("load_tiny_shakespeare", "another text in its place", lambda B, t: D.load_tiny_shakespeare(
            write(t / "tinyshakespeare" / "input.txt", "hello").parent.parent), ValueError,
            "sha256 checksum mismatch", backends="-"),
        row("read_idx", "a text file", lambda B, t: D.read_idx(write(t / "x.idx", b"hello world")), ValueError,
            "bad magic number 0x68656c6c", "is this an IDX file", backends="-"),
        row("read_idx", "a .gz that is not gzip", lambda B, t: D.read_idx(write(t / "x.gz", b"\x00\x00\x08\x01")),
            ValueError, "expected gzip data (a .gz file starts with 1f 8b)", backends="-"),
        row("read_idx", "labels where images are expected (ndim=3)", lambda B, t: D.read_idx(_labels_idx(t), ndim=3),
            ValueError, "expected a 3-D IDX file", "got 1-D", backends="-"),
        row("read_idx", "a missing file", lambda B, t: D.read_idx(t / "none"), FileNotFoundError,
            "IDX file", "does not exist", backends="-"),
        row("write_idx", "float16 values", lambda B, t: D.write_idx(t / "f.idx", np.zeros(3, np.float16)), TypeError,
            "write_idx array: expected dtype one of uint8, int8, int16, int32, float32, float64, got float16",
            backends="-"),
        row("download_file", "algorithm='sha3' (no such hashlib name)", lambda B, t: D.download_file(
            "file:///nonexistent", t / "d", "00", "sha3"), ValueError,
            "algorithm: expected a hashlib digest name such as 'md5' or 'sha256', got 'sha3'", backends="-"),
        row("download_file", "a URL that does not exist", lambda B, t: D.download_file(
            (t / "none").as_uri(), t / "d", None), D.DownloadError, "could not download", backends="-"),
        row("download_file", "content with another checksum", lambda B, t: D.download_file(
            write(t / "src.txt", "abc").as_uri(), t / "d.txt", "0" * 32, "md5"), ValueError,
            "d.txt: md5 checksum mismatch", "expected 00000000", backends="-"),
        row("file_digest", "algorithm='nope'", lambda B, t: D.file_digest(write(t / "f", "x"), "nope"), ValueError,
            "algorithm: expected a hashlib digest name", backends="-"),
        row("one_hot", "label 3 with num_classes=3", lambda B, t: D.one_hot(np.array([0, 3]), 3), ValueError,
            "one_hot y: expected labels in [0, 3), got 1 outside it (min 0, max 3)", backends="-"),
        row("one_hot", "float labels", lambda B, t: D.one_hot(np.array([0.0, 1.0]), 3), TypeError,
            "one_hot y: expected integer class labels, got dtype float64", backends="-"),
        row("one_hot", "num_classes=0", lambda B, t: D.one_hot(np.array([0]), 0), ValueError,
            "num_classes: expected a positive int (>= 1), got 0", backends="-"),
        row("one_hot", "2-D labels (2, 2)", lambda B, t: D.one_hot(np.zeros((2, 2), int), 3), ValueError,
            "one_hot y: expected (N,) labels, got shape (2, 2)", backends="-"),
        row("standardize", "a constant X_train", lambda B, t: D.standardize(np.ones((3, 2)), np.ones((1, 2))),
            ValueError, "standardize X_train: expected values that vary, got a constant array (std 0)", backends="-"),
        row("standardize", "NaN in X_train", lambda B, t: D.standardize(with_nan(X), X), ValueError,
            "X_train: expected finite values, got 1 NaN", backends="-"),
        row("standardize", "X_test samples of another shape", lambda B, t: D.standardize(X, np.ones((1, 5))),
            ValueError, "standardize X_test: expected samples of shape (3,) like X_train, got (5,)", backends="-"),
        row("flatten", "1-D X", lambda B, t: D.flatten(np.ones(3)), ValueError,
            "flatten X: expected at least 2-D (samples first), got shape (3,)", backends="-"),
        row("book_regression_split", "10 rows, 9 targets", lambda B, t: D.book_regression_split(X, np.ones(9)),
            ValueError, "X and y must have the same number of samples, got 10 and 9", backends="-"),
        row("book_regression_split", "y with 2 columns", lambda B, t: D.book_regression_split(X, np.ones((10, 2))),
            ValueError, "y: expected (n,) or (n, 1) targets, got shape (10, 2)", backends="-"),
    ]),
    ("dlfs.metrics", [
        row("accuracy", "3 predictions, 2 labels", lambda B, t: M.accuracy(np.ones((3, 2)), np.array([0, 1])),
            ValueError, "y: expected 3 labels (one per prediction row), got 2", backends="-"),
        row("accuracy", "no samples", lambda B, t: M.accuracy(np.ones((0, 2)), np.array([], int)), ValueError,
            "accuracy: expected at least one sample, got 0", backends="-"),
        row("accuracy", "3-D scores", lambda B, t: M.accuracy(np.ones((3, 2, 1)), np.array([0, 1, 1])), ValueError,
            "pred: expected scores of shape (N, C) or labels of shape (N,), got 3-D shape (3, 2, 1)", backends="-"),
        row("accuracy", "label 2 for 2 classes", lambda B, t: M.accuracy(np.ones((2, 2)), np.array([0, 2])),
            ValueError, "y: class labels must lie in [0, 2) for C=2 classes", backends="-"),
        row("accuracy", "NaN scores", lambda B, t: M.accuracy(np.full((2, 2), np.nan), np.array([0, 1])), ValueError,
            "pred: expected finite values, got 4 NaN", backends="-"),
        row("accuracy", "labels as strings", lambda B, t: M.accuracy(np.ones((2, 2)), np.array(["a", "b"])),
            TypeError, "y: expected a numeric array", backends="-"),
        row("confusion_matrix", "num_classes=0", lambda B, t: M.confusion_matrix(np.array([0]), np.array([0]), 0),
            ValueError, "num_classes: expected a positive int (>= 1), got 0", backends="-"),
        row("confusion_matrix", "scores 3 wide for num_classes=2", lambda B, t: M.confusion_matrix(
            np.ones((2, 3)), np.array([0, 1]), 2), ValueError, "pred: expected scores with num_classes=2 columns",
            backends="-"),
        row("confusion_matrix", "predicted label 5 for 2 classes", lambda B, t: M.confusion_matrix(
            np.array([0, 5]), np.array([0, 1]), 2), ValueError, "pred: class labels must lie in [0, 2)",
            backends="-"),
        row("mae", "shapes (3, 2) and (3, 1)", lambda B, t: M.mae(np.ones((3, 2)), np.ones((3, 1))), ValueError,
            "pred and y must have the same shape, got (3, 2) and (3, 1)", backends="-"),
        row("mae", "no values", lambda B, t: M.mae(np.ones(0), np.ones(0)), ValueError,
            "pred and y: expected at least one value, got none", backends="-"),
        row("rmse", "NaN prediction", lambda B, t: M.rmse(np.array([np.nan]), np.array([1.0])), ValueError,
            "pred: expected finite values, got 1 NaN", backends="-"),
        row("rmse", "3 predictions, 4 targets", lambda B, t: M.rmse(np.ones(3), np.ones(4)), ValueError,
            "pred and y must have the same shape, got (3,) and (4,)", backends="-"),
    ]),
    ("The dlfs command", [
        row("dlfs", "no command", lambda B, t: cli(), SystemExit, "the following arguments are required: COMMAND",
            backends="-"),
        row("dlfs", "unknown command 'frobnicate'", lambda B, t: cli("frobnicate"), SystemExit,
            "argument COMMAND: invalid choice: 'frobnicate'", backends="-"),
        row("dlfs show", "unknown concept 'softmaxx'", lambda B, t: cli("show", "softmaxx"), SystemExit,
            "dlfs: error: unknown concept 'softmaxx'", "(known: derivatives,", backends="-"),
        row("dlfs show", "--width abc", lambda B, t: cli("show", "dense", "--width", "abc"), SystemExit,
            "argument --width: expected a positive number of columns, got 'abc'", backends="-"),
        row("dlfs show", "--width -5", lambda B, t: cli("show", "dense", "--width", "-5"), SystemExit,
            "argument --width: expected a positive number of columns, got -5", backends="-"),
        row("dlfs show", "--color rainbow", lambda B, t: cli("show", "dense", "--color", "rainbow"), SystemExit,
            "argument --color: invalid choice: 'rainbow'", backends="-"),
        row("dlfs parity", "unknown concept 'nope'", lambda B, t: cli("parity", "nope", "--no-save"), SystemExit,
            "dlfs: error: unknown concept 'nope'", backends="-"),
        row("dlfs parity", "--dtype float16", lambda B, t: cli("parity", "dense", "--dtype", "float16"), SystemExit,
            "argument --dtype: invalid choice: 'float16' (choose from 'float32', 'float64')", backends="-"),
        row("dlfs concepts", "--results: a file that is not JSON", lambda B, t: cli(
            "concepts", "--results", str(write(t / "r.json", "x"))), FileFormatError, "not valid JSON", backends="-"),
        row("dlfs run", "unknown experiment 'nope'", lambda B, t: cli("run", "nope"), SystemExit,
            "dlfs: error: unknown experiment 'nope' (known: ", backends="-"),
        row("dlfs run", "an experiment's bad option (--epochs 0)", lambda B, t: cli("run", "demo", "--epochs", "0"),
            SystemExit, "argument --epochs: expected a positive integer, got 0", backends="-"),
        row("dlfs compare", "--backend scratch", lambda B, t: cli("compare", "demo", "--backend", "scratch"),
            SystemExit, "compare trains both backends; got --backend scratch", backends="-"),
    ]),
    ("Experiments' command lines", [
        *[r for name in EXPERIMENTS for r in (
            row(f"experiments.{name}", "--backend jax", lambda B, t, n=name: experiment(n, "--backend", "jax"),
                SystemExit, "argument --backend: invalid choice: 'jax' (choose from 'scratch', 'torch', 'both')",
                backends="-"),
            row(f"experiments.{name}", "--epochs 0", lambda B, t, n=name: experiment(n, "--epochs", "0"), SystemExit,
                "argument --epochs: expected a positive integer, got 0", backends="-"),
            row(f"experiments.{name}", "--seed -1", lambda B, t, n=name: experiment(n, "--seed", "-1"), SystemExit,
                "argument --seed: expected a non-negative integer, got -1", backends="-"),
            row(f"experiments.{name}", "an unknown flag", lambda B, t, n=name: experiment(n, "--frob"), SystemExit,
                "unrecognized arguments: --frob", backends="-"),
            row(f"experiments.{name}", "--out: a non-empty directory", lambda B, t, n=name: experiment(
                n, "--out", non_empty(t)), SystemExit, "exists and is not empty; pass --overwrite", backends="-",
                exit_text=True),
            row(f"experiments.{name}", "--out: a file", lambda B, t, n=name: experiment(
                n, "--out", str(write(t / "f", "x"))), SystemExit, "exists and is not a directory", backends="-",
                exit_text=True),
        )],
        row("experiments.regression", "--epochs abc", lambda B, t: experiment("regression", "--epochs", "abc"),
            SystemExit, "argument --epochs: expected a positive integer, got 'abc'", backends="-"),
        row("experiments.regression", "--dataset mnist", lambda B, t: experiment("regression", "--dataset", "mnist"),
            SystemExit, "argument --dataset: invalid choice: 'mnist' (choose from 'boston', 'diabetes')",
            backends="-"),
        row("experiments.regression", "--lr -1", lambda B, t: experiment("regression", "--lr", "-1", "--dataset",
            "diabetes", "--out", str(t / "o")), ValueError, "lr: expected a positive finite learning rate, got -1.0",
            backends="-"),
        row("experiments.regression", "Boston's file missing", lambda B, t: experiment(
            "regression", "--dataset", "boston", "--data-dir", str(t), "--out", str(t / "o")), FileNotFoundError,
            "Boston housing not found", backends="-"),
        row("experiments.cnn", "--batch-size 0", lambda B, t: experiment("cnn", "--batch-size", "0"), SystemExit,
            "argument --batch-size: expected a positive integer, got 0", backends="-"),
        row("experiments.cnn", "--dataset mnist, files missing", lambda B, t: experiment(
            "cnn", "--dataset", "mnist", "--data-dir", str(t), "--out", str(t / "o")), FileNotFoundError,
            "MNIST not found", backends="-"),
        row("experiments.ladder", "--threads 0", lambda B, t: experiment("ladder", "--threads", "0"), SystemExit,
            "argument --threads: expected a positive integer, got 0", backends="-"),
        row("experiments.ladder", "--rungs nope", lambda B, t: experiment("ladder", "--rungs", "nope"), SystemExit,
            "argument --rungs: invalid choice: 'nope'", backends="-"),
        row("experiments.char_lstm", "--hidden 0", lambda B, t: experiment("char_lstm", "--hidden", "0"), ValueError,
            "--hidden: expected a positive int (>= 1), got 0", backends="-"),
        row("experiments.char_lstm", "--seq-len 0", lambda B, t: experiment("char_lstm", "--seq-len", "0"),
            ValueError, "--seq-len: expected a positive int (>= 1), got 0", backends="-"),
        row("experiments.char_lstm", "--temperature 0 (used only after training)", lambda B, t: experiment(
            "char_lstm", "--temperature", "0"), ValueError, "--temperature: expected a positive finite number, got 0.0",
            backends="-"),
        row("experiments.char_lstm", "--lr -1", lambda B, t: experiment("char_lstm", "--lr", "-1"), ValueError,
            "--lr: expected a positive finite number, got -1.0", backends="-"),
        row("experiments.char_lstm", "--clip-norm -1", lambda B, t: experiment("char_lstm", "--clip-norm", "-1"),
            ValueError, "--clip-norm: expected a positive finite number, got -1.0", backends="-"),
        row("experiments.char_lstm", "--text: a missing file", lambda B, t: experiment(
            "char_lstm", "--text", str(t / "none.txt")), FileNotFoundError, "--text: no such file", backends="-"),
        row("experiments.char_lstm", "--text: an empty file", lambda B, t: experiment(
            "char_lstm", "--text", str(write(t / "e.txt", "")), "--out", str(t / "o")), ValueError,
            "text: expected at least seq_len + 1 = 26 characters", backends="-"),
    ]),
]


def _no_system_fashion(tmp: Path) -> Any:
    """``load_fashion_mnist`` on a machine without Debian's package (whatever this machine has)."""
    with mock.patch.object(loaders, "FASHION_MNIST_SYSTEM_DIR", tmp / "no-system-copy"):
        return D.load_fashion_mnist(tmp)


def _boston(tmp: Path, content: str) -> Path:
    write(tmp / "boston_housing" / "boston_housing.csv", content)
    return tmp


def _labels_idx(tmp: Path) -> Path:
    D.write_idx(tmp / "labels.idx", np.zeros(3, np.uint8))
    return tmp / "labels.idx"


ROWS = [r for _, rows in AUDIT for r in rows]
CASES = [(r, b) for r in ROWS for b in (("scratch", "torch") if r.backends == "both" else (r.backends,))]


# --- what the audit changed and what it left to others (for the doc) -----------------------------------------------

FIXED = [
    "`Trainer(net, 'sgd')` failed with `AttributeError`, `Trainer('net', opt)` was accepted, `fit(seed='a')` gave "
    "NumPy's seed errors, `fit(early_stopping='no')` turned early stopping *on*, `fit` on 0 samples blamed "
    "`batch_size`, a `checkpoint_dir` that is a file gave a bare `FileExistsError`, and `clip_grad_*('net', 1.0)` an "
    "`AttributeError`: now checked in `dlfs/training.py` (`check_trainer_args`, `check_fit_options`, "
    "`check_fit_args`), `dlfs/checkpoint.py` and both `adaptive.py`.",
    "A layer or loss fed integers, strings or objects: a float32/float64 check in every layer's and loss's `forward` "
    "(`dlfs.errors.check_layer_input`, in `scratch/base.py`, `scratch/recurrent.py`, the scratch nodes, "
    "`torch_impl/base.py`, `torch_impl/recurrent.py`, both `losses.py`). Before: NumPy's `UFuncTypeError`, torch's "
    "`can't convert np.ndarray of type numpy.str_` or `Only Tensors of floating point ... can require gradients`, and "
    "in scratch an integer input was *silently accepted*: `Dense(2).forward(np.ones((2, 3), dtype=int))` drew its "
    "weights as integers (all truncated to 0 or +-1).",
    "`backward` before any `forward` (layers, nodes, losses, networks, both backends): `RuntimeError: ... call forward "
    "first` instead of `AttributeError: ... has no attribute 'output'` (`dlfs.errors.check_forward_called`).",
    "`NeuralNetwork(layers=..., loss=..., seed=...)`: a non-list, a non-layer (or a layer of the other backend), a "
    "loss given by name, a negative or non-int seed were an `AttributeError`, silently accepted until training, or "
    "NumPy's `SeedSequence` error; now `TypeError`/`ValueError` naming the argument (both `network.py`).",
    "`Dropout(p, rng=42)`: accepted, then `AttributeError: 'int' object has no attribute 'random'` at the first "
    "training forward; now a `TypeError` at construction (both `dropout.py`).",
    "`Conv2D(bias='no')` / `flatten=1`: silently `bool()`-ed (`'no'` meant a bias); now `True`/`False` only "
    "(both `conv.py`).",
    "`closed_form_linear_regression(X, y)` with a 2-column y silently returned a 2-output state dict the docstring "
    "does not promise (a `Dense(1)`'s); now a `ValueError` (both `linear_regression.py`).",
    "`standardize(X_train, X_test)` with samples of different shapes was silently accepted (`dlfs/data/loaders.py`).",
    "`download_file`/`file_digest` with an unknown `algorithm`: hashlib's `unsupported hash type` (not naming the "
    "argument), now checked first (`dlfs/data/download.py`).",
    "Experiments: `--seed -1` failed inside NumPy after the output directory was made (`experiments/common.py`: "
    "argparse now refuses it); `ladder --threads 0` was torch's `set_num_threads expects a positive integer` "
    "(`experiments/ladder.py`); `char_lstm --temperature 0` was refused only *after* training (7 minutes with the "
    "defaults), and `--lr`/`--clip-norm` after loading the text: now checked before anything runs, with `--text` "
    "(`experiments/char_lstm.py`).",
    "`dlfs show --width -5` was silently clamped to the minimum width; now a usage error (`study/cli.py`).",
]

# Inputs still not validated clearly: (input, what happens, owner). Every gap found so far is fixed and has a row.
GAPS: list[tuple[str, str, str]] = []

DECISIONS = [
    "NaN/inf are checked where data enters (`NeuralNetwork.forward`'s `x_batch`, `Trainer.fit`'s arrays, the losses' "
    "targets, `load_state_dict`, the metrics, the loaders), not at every layer: a pass over every activation of every "
    "layer costs time, and a non-finite *prediction* must reach the loss so that the trainers' divergence guard can "
    "name the epoch and step (docs/robust_training.md).",
    "A nested list is accepted wherever an array is (`np.asarray` semantics), in both backends alike; a ragged one is "
    "a `ValueError`.",
    "Usage errors on a command line exit with status 2 and print argparse's `error:` line (`SystemExit`); argument "
    "values that only a component can judge (an optimiser's `--lr`) raise that component's `ValueError`.",
]


# --- the doc ----------------------------------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def error_name(r: Row) -> str:
    if r.error is SystemExit:
        return "SystemExit (exit 1, message)" if r.exit_text else "SystemExit (exit 2, usage)"
    return r.error.__name__


def render_doc() -> str:
    n_cases = len(CASES)
    lines = [
        "# Input validation",
        "",
        "<!-- generated by `python -m parity_tests.test_validation_audit` from its AUDIT table; do not edit by hand "
        "-->",
        "",
        "Every public constructor, `forward`, `fit`, data loader, metric and command-line argument of dlfs answers bad "
        "input with an error that names the argument or layer, what was expected and what came (the helpers are in "
        "`dlfs/errors.py`). This page is the audit: each row below is a bad input that "
        "`parity_tests/test_validation_audit.py` feeds to the component (in both backends where the column says so) "
        "and whose exact error type and message fragments it checks.",
        "",
        f"{len(ROWS)} bad inputs, {n_cases} test cases "
        f"({sum(r.backends == 'both' for r in ROWS)} rows run in both backends).",
        "",
    ]
    for section, rows in AUDIT:
        lines += [f"## {section}", "", "| component | bad input | backends | error type | message (abridged) |",
                  "|---|---|---|---|---|"]
        for r in rows:
            msg = " … ".join(f"`{_cell(m)}`" for m in r.message)
            lines.append(f"| {_cell(r.component)} | {_cell(r.bad_input)} | {r.backends} | {error_name(r)} | {msg} |")
        lines.append("")
    lines += ["## What the audit fixed", "",
              "Inputs that were not validated clearly (a bare NumPy/torch traceback, or silently accepted):", ""]
    lines += [f"- {f}" for f in FIXED]
    if GAPS:
        lines += ["", "## Known gaps", "", "| input | what happens | owner |", "|---|---|---|"]
        lines += [f"| {_cell(a)} | {_cell(b)} | {_cell(c)} |" for a, b, c in GAPS]
    lines += ["", "## Decisions", ""]
    lines += [f"- {d}" for d in DECISIONS]
    return "\n".join(lines) + "\n"


# --- the tests --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("r,backend", CASES, ids=[f"{r.component}:{r.bad_input}[{b}]" for r, b in CASES])
def test_bad_input(r: Row, backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    B = dlfs.backend(backend) if backend in ("scratch", "torch") else None
    with pytest.raises(BaseException) as info:
        r.call(B, tmp_path)
    err = info.value
    assert type(err) is r.error, f"expected {r.error.__name__}, got {type(err).__name__}: {err}"
    if isinstance(err, SystemExit):
        if r.exit_text:
            assert isinstance(err.code, str), f"expected the message as the exit's text, got exit code {err.code!r}"
            message = err.code
        else:
            assert err.code == 2, f"a usage error exits with status 2, got {err.code!r}"
            message = capsys.readouterr().err
    else:
        message = str(err)
    assert_in_order(message, r.message)


def test_doc_is_current() -> None:
    assert DOC.read_text() == render_doc(), "stale: run python -m parity_tests.test_validation_audit to rewrite it"


def test_every_public_name_of_both_backends_is_audited() -> None:
    """Each name of ``__all__`` that takes arguments appears in the table (Sigmoid etc. through their forward)."""
    audited = {r.component.split(".")[0] for r in ROWS}
    for name in ("scratch", "torch"):
        B = dlfs.backend(name)
        missing = [n for n in B.__all__ if n not in audited and n not in ("Sigmoid", "ReLU", "Linear", "Flatten")]
        assert not missing, f"{name}: no bad-input row for {missing}"


def test_the_audit_is_large_and_uses_both_backends() -> None:
    assert len(ROWS) >= 200 and len(ROWS) == len({(r.component, r.bad_input) for r in ROWS})
    assert sum(r.backends == "both" for r in ROWS) >= 150


if __name__ == "__main__":
    DOC.write_text(render_doc())
    print(f"wrote {DOC} ({len(ROWS)} rows, {len(CASES)} cases)", file=sys.stderr)
