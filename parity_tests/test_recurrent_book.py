"""The book forms of chapter 6's recurrent layers (``scratch/rnn.py``, ``gru.py``, ``lstm.py``) held
to the fast forms (``scratch/fast/``) and to PyTorch: book = fast = torch.

Layers: output, input gradient and every parameter gradient over 1 and 25 time steps, batch 1 and 4,
input width 5 != hidden 7, random non-zero weights and biases, a random upstream gradient, float64
(rtol 1e-9, and < 1e-12 asserted) and float32 (the table's default). Nodes: one step from a random
non-zero h (and c), state gradients included. The book forms also against finite differences; the
same seed gives bit-identical initial weights in both scratch forms; a book-form network trains with
Adam through the Trainer along the fast form's trajectory, and resumes from the fast form's
checkpoint; bad input is refused with the fast form's very errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import dlfs.checkpoint
import scratch.fast.gru
import scratch.fast.lstm
import scratch.fast.rnn
import scratch.gru
import scratch.lstm
import scratch.rnn
from parity_tests.test_recurrent import LAYERS as _LAYERS
from parity_tests.test_recurrent import NODES, PARAMS, H, V, check_node_finite_differences
from study.parity import (
    build_pair,
    check_finite_differences,
    check_layer_parity,
    check_trajectory,
    compare,
    namespace,
)

DTYPES = ["float64", "float32"]
BOOK, FAST = namespace("book"), namespace("scratch")
LAYERS = {k: v for k, v in _LAYERS.items() if k != "rnn_linear"}  # the layers that have a book form
# the two sides of each comparison, the expected one first: the book form against each other form
OTHERS = [("book", "scratch"), ("book", "torch")]


def test_the_book_namespace_serves_the_book_forms():
    """Every comparison below is vacuous unless "book" and "scratch" name different classes."""
    for book, fast in [(scratch.rnn, scratch.fast.rnn), (scratch.gru, scratch.fast.gru),
                       (scratch.lstm, scratch.fast.lstm)]:
        for name in book.__all__:
            assert getattr(BOOK, name) is getattr(book, name), f"scratch.book.{name}"
            assert getattr(FAST, name) is getattr(fast, name), f"scratch.{name}"
            assert getattr(book, name) is not getattr(fast, name), name


# --- layers: book = fast = torch ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch,steps", [(1, 1), (4, 1), (1, 25), (4, 25)])
@pytest.mark.parametrize("forms", OTHERS, ids="-".join)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_parity(name, forms, batch, steps, dtype):
    report = check_layer_parity(f"{name} ({forms[0]} vs {forms[1]})", LAYERS[name],
                                (batch, steps, V), dtype, forms=forms)
    names = [c.name for c in report.comparisons]
    assert names == ["output", "input_grad"] + [f"grad:{k}" for k in PARAMS[name]]
    if dtype == "float64":
        assert report.worst()[1] < 1e-12  # measured ~1e-15: the tolerance is not what passes it


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("forms", OTHERS, ids="-".join)
def test_stacked_layers_in_a_network(forms, dtype):
    def build(B: ModuleType) -> Any:
        return B.NeuralNetwork([B.LSTMLayer(6), B.GRULayer(5, gru="classic"), B.GRULayer(4),
                                B.RNNLayer(4), B.RNNLinear(3)], B.MeanSquaredError(), dtype=dtype)

    report = check_layer_parity("stacked book recurrent layers", build, (3, 9, V), dtype,
                                forms=forms)
    assert len([c for c in report.comparisons if c.name.startswith("grad:")]) == 8 + 9 + 10 + 2 + 2


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_finite_differences(name):
    check_finite_differences(name, LAYERS[name], (2, 6, 3), form="book")


def test_lstm_finite_differences_over_25_steps():
    check_finite_differences("lstm", lambda B: B.LSTMLayer(3), (1, 25, 2), form="book")


# --- nodes: one step from a non-zero state --------------------------------------------------------
def _states(name: str, batch: int, dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Random non-zero incoming states: [h] or, for the LSTM, [h, c]."""
    n = 2 if name == "lstm" else 1
    return [rng.standard_normal((batch, H)).astype(dtype) for _ in range(n)]


def _step(node: Any, x: np.ndarray, states: list[np.ndarray], grads: list[np.ndarray]) -> tuple:
    """One forward and backward of ``node``: (outputs, input and state gradients, grad_dict)."""
    out = node.forward(x, *states)
    back = node.backward(*grads)
    return (out if isinstance(out, tuple) else (out,)), back, node.grad_dict()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("forms", OTHERS, ids="-".join)
@pytest.mark.parametrize("name", sorted(NODES))
def test_node_parity_from_a_nonzero_state(name, forms, batch, dtype):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, V)).astype(dtype)
    book, other, _ = build_pair(NODES[name], x, forms=forms)
    states, grads = _states(name, batch, dtype, rng), _states(name, batch, dtype, rng)
    out_b, back_b, grads_b = _step(book, x, states, grads)
    out_o, back_o, grads_o = _step(other, x, states, grads)
    assert len(out_b) == len(out_o) == len(states) and len(back_b) == len(back_o) == 1 + len(states)
    for label, a, b in zip(("h_new", "c_new"), out_o, out_b):
        compare(label, a, b, dtype=dtype)
    for label, a, b in zip(("dx", "dh", "dc"), back_o, back_b):
        assert np.abs(b).max() > 0, label
        compare(label, a, b, dtype=dtype)
    assert sorted(grads_b) == sorted(grads_o) == PARAMS[name]
    for k in grads_b:
        assert np.abs(grads_b[k]).max() > 0, k  # a non-zero state exercises the h-side weights
        compare(f"grad:{k}", grads_o[k], grads_b[k], dtype=dtype)


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_finite_differences(name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, V))
    node, _, _ = build_pair(NODES[name], x, seed=3, forms=("book", "scratch"))
    states, grads = _states(name, 2, "float64", rng), _states(name, 2, "float64", rng)

    check_node_finite_differences(node, x, states, grads)


# --- parameters, initial weights, training --------------------------------------------------------
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_params_are_the_canonical_arrays_shared_by_every_step(name):
    layer = LAYERS[name](BOOK)
    layer.forward(np.zeros((2, 3, V)))
    state = layer.state_dict()
    assert list(state) == list(layer.node.param_names)
    assert [p.shape for p in layer.params()] == [v.shape for v in state.values()]
    assert [g.shape for g in layer.param_grads()] == [v.shape for v in state.values()]
    assert len(layer.nodes) == 3
    for node in layer.nodes:  # the unrolled nodes hold the layer's arrays, not copies of them
        assert all(getattr(node, k) is p for k, p in zip(state, layer.params()))
    for p in layer.params():  # what an optimiser does: update in place
        p += 1.0
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, state[k] + 1.0)
    grads = layer.param_grads()
    layer.backward(np.random.default_rng(0).standard_normal((2, 3, H)))
    assert all(g is h for g, h in zip(grads, layer.param_grads()))  # gradients land in place too
    for k, g in zip(state, grads):
        np.testing.assert_array_equal(layer.grad_dict()[k], g)


@pytest.mark.parametrize("weight_init", ["glorot", "standard"])
def test_same_seed_gives_the_same_initial_weights(weight_init):
    def build(B: ModuleType) -> Any:
        return B.NeuralNetwork([B.LSTMLayer(H, weight_init), B.GRULayer(4, weight_init, "classic"),
                                B.GRULayer(4, weight_init, "torch"), B.RNNLayer(3, weight_init),
                                B.RNNLinear(2)], B.MeanSquaredError(), seed=7)

    nets = [build(B) for B in (BOOK, FAST)]
    for net in nets:
        net.forward(np.zeros((1, 2, V)))
    book, fast = nets[0].state_dict(), nets[1].state_dict()
    assert list(book) == list(fast) and len(book) == 8 + 9 + 10 + 2 + 2
    for k in book:
        assert book[k].dtype == fast[k].dtype == np.float32
        np.testing.assert_array_equal(book[k], fast[k], err_msg=k)  # bit for bit
    expected = np.sqrt(2 / (V + H + H)) if weight_init == "glorot" else 1.0
    assert np.std(book["layers.0.W_f"]) == pytest.approx(expected, rel=0.2)
    for name in NODES:  # a node on its own draws from its default stream, in both forms alike
        nodes = [NODES[name](B) for B in (BOOK, FAST)]
        for node in nodes:
            node.forward(np.zeros((1, V)))
        for k, v in nodes[0].state_dict().items():
            np.testing.assert_array_equal(v, nodes[1].state_dict()[k], err_msg=f"{name} {k}")


def _sequences(n: int = 24, steps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, steps, V))
    return X, np.cumsum(X[..., :2], axis=1) * 0.3  # a running sum: the recurrence has work to do


def _net(name: str, dtype: str) -> Callable[[ModuleType], Any]:
    return lambda B: B.NeuralNetwork([LAYERS[name](B), B.RNNLinear(2)], B.MeanSquaredError(),
                                     dtype=dtype)


def _adam(B: ModuleType) -> Any:
    return B.Adam(lr=0.01, clip_norm=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_adam_trajectory_book_vs_fast(name, dtype):
    X, y = _sequences()
    report = check_trajectory(f"{name} + Adam", _net(name, dtype), _adam, X, y, epochs=8,
                              batch_size=6, dtype=dtype, compare_history=True,
                              forms=("book", "scratch"))  # 32 steps
    params = [c.name for c in report.comparisons if c.name.startswith("param:")]
    assert len(params) == 2 + len(PARAMS[name])  # RNNLinear's W and B, then the layer's
    if dtype == "float64":
        assert report.worst()[1] < 1e-10


def _fit(B: ModuleType, name: str, **kw: Any) -> tuple[Any, Any]:
    X, y = _sequences()
    net = _net(name, "float64")(B)
    net.forward(X[:1])
    net.load_state_dict({k: np.random.default_rng(4).standard_normal(v.shape) * 0.5
                         for k, v in net.state_dict().items()})
    opt = _adam(B)
    B.Trainer(net, opt).fit(X, y, X, y, epochs=4, batch_size=6, eval_every=4, seed=0, **kw)
    return net, opt


@pytest.mark.parametrize("name", ["gru_torch", "lstm"])
def test_a_fast_checkpoint_resumes_in_the_book_form(name, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    real = dlfs.checkpoint.save_checkpoint

    class Interrupt(Exception):
        pass

    def save_then_crash(directory: Any, ckpt: Any) -> Any:
        path = real(directory, ckpt)
        if ckpt.epoch == 2:
            raise Interrupt
        return path

    with monkeypatch.context() as m:
        m.setattr(dlfs.checkpoint, "save_checkpoint", save_then_crash)
        with pytest.raises(Interrupt):
            _fit(FAST, name, checkpoint_dir=tmp_path)
    book_net, book_opt = _fit(BOOK, name, checkpoint_dir=tmp_path, resume=True)
    fast_net, fast_opt = _fit(FAST, name)  # the same run, never interrupted
    book, fast = book_net.state_dict(), fast_net.state_dict()
    for k in fast:
        compare(f"param:{k}", book[k], fast[k], "trajectory")
    bs, fs = book_opt.state_dict(), fast_opt.state_dict()
    assert bs["step"] == fs["step"] == 16
    for buffer, arrays in fs["buffers"].items():
        for k, v in arrays.items():
            compare(f"{buffer}:{k}", bs["buffers"][buffer][k], v, "trajectory")


def test_hidden_state_starts_at_zero_for_every_batch():
    layer = BOOK.LSTMLayer(H)
    x = np.random.default_rng(0).standard_normal((3, 4, V))
    first = layer.forward(x)
    layer.forward(np.random.default_rng(1).standard_normal((3, 4, V)))  # nothing carries over
    np.testing.assert_array_equal(layer.forward(x), first)
    np.testing.assert_allclose(layer.forward(x[1:2]), first[1:2], rtol=1e-12)  # nor across samples


# --- bad input: the book form refuses it with the fast form's errors ------------------------------
def _built(layer: Any) -> Any:
    layer.forward(np.zeros((2, 3, V)))
    return layer


def _built_node(node: Any) -> Any:
    node.forward(np.zeros((2, V)))
    return node


BAD = {
    "layer, 2-D input": lambda B: B.LSTMLayer(4).forward(np.zeros((2, 5))),
    "layer, 4-D input": lambda B: B.GRULayer(4).forward(np.zeros((1, 2, 3, 4))),
    "layer, no time steps": lambda B: B.RNNLayer(4).forward(np.zeros((2, 0, 5))),
    "layer, integer input": lambda B: B.RNNLayer(4).forward(np.zeros((2, 3, 5), dtype=int)),
    "layer, wrong width": lambda B: _built(B.GRULayer(4, gru="classic")).forward(
        np.zeros((2, 3, 6))),
    "layer, backward first": lambda B: B.LSTMLayer(4).backward(np.zeros((2, 3, 4))),
    "layer, gradient shape": lambda B: _built(B.RNNLayer(4)).backward(np.zeros((2, 3, 5))),
    "layer, state_dict first": lambda B: B.LSTMLayer(4).state_dict(),
    "layer, params first": lambda B: B.GRULayer(4).params(),
    "layer, missing key": lambda B: _built(B.RNNLayer(4)).load_state_dict(
        {"W_f": np.zeros((9, 4))}),
    "layer, wrong shape": lambda B: _built(B.RNNLayer(4)).load_state_dict(
        {"W_f": np.zeros((4, 4)), "B_f": np.zeros((1, 4))}),
    "layer, hidden_size 0": lambda B: B.LSTMLayer(0),
    "layer, hidden_size 2.5": lambda B: B.RNNLayer(2.5),
    "layer, unknown variant": lambda B: B.GRULayer(3, gru="clasic"),
    "layer, unknown init": lambda B: B.LSTMLayer(3, weight_init="glorut"),
    "node, 3-D input": lambda B: B.LSTMNode(4).forward(np.zeros((2, 3, 5))),
    "node, wrong width": lambda B: _built_node(B.GRUNode(4)).forward(np.zeros((2, 6))),
    "node, h shape": lambda B: B.RNNNode(4).forward(np.zeros((2, 5)), np.zeros((3, 4))),
    "node, c shape": lambda B: B.LSTMNode(4).forward(np.zeros((2, 5)), np.zeros((2, 4)),
                                                     np.zeros((2, 3))),
    "node, integer h": lambda B: B.GRUNode(4).forward(np.zeros((2, 5)), np.zeros((2, 4), int)),
    "node, backward first": lambda B: B.GRUNode(4, gru="classic").backward(np.zeros((2, 4))),
    "node, grad_dict first": lambda B: B.LSTMNode(4).grad_dict(),
    "node, unknown variant": lambda B: B.GRUNode(3, gru="troch"),
    "node, hidden_size -3": lambda B: B.GRUNode(-3),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_as_the_fast_form_refuses_it(case):
    errors = []
    for B in (BOOK, FAST):
        with pytest.raises((ValueError, TypeError, RuntimeError, KeyError)) as info:
            BAD[case](B)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
