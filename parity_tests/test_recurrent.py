"""Parity of chapter 6's recurrent layers: RNN, GRU (both variants), LSTM and the time-distributed dense layer.

Layers: output, input gradient and every parameter gradient against ``nn.RNN``/``nn.GRU``/``nn.LSTM`` over 1 and
25 time steps, batch 1 and 4, input width 5 != hidden 7, random non-zero weights and biases, a random upstream
gradient, float64 (rtol 1e-9) and float32. Nodes: one step from a random non-zero state against the PyTorch
cells. The scratch side is also checked by finite differences and against the autograd engine.
"""

from __future__ import annotations

import numpy as np
import pytest

import dlfs
from study.parity import (
    build_pair,
    check_finite_differences,
    check_layer_parity,
    check_trajectory,
    compare,
    numerical_gradient,
)

S, T = dlfs.backend("scratch"), dlfs.backend("torch")
V, H = 5, 7  # input width != hidden size, so a transposed block cannot pass unnoticed

LAYERS = {
    "rnn": lambda B: B.RNNLayer(H),
    "gru_torch": lambda B: B.GRULayer(H, gru="torch"),
    "gru_classic": lambda B: B.GRULayer(H, gru="classic"),
    "lstm": lambda B: B.LSTMLayer(H),
    "rnn_linear": lambda B: B.RNNLinear(H),
}
NODES = {
    "rnn": lambda B: B.RNNNode(H),
    "gru_torch": lambda B: B.GRUNode(H, gru="torch"),
    "gru_classic": lambda B: B.GRUNode(H, gru="classic"),
    "lstm": lambda B: B.LSTMNode(H),
}
PARAMS = {
    "rnn": ["B_f", "W_f"],
    "gru_torch": ["B_h", "B_hh", "B_r", "B_u", "W_hh", "W_hr", "W_hu", "W_xh", "W_xr", "W_xu"],
    "gru_classic": ["B_h", "B_r", "B_u", "W_hh", "W_hr", "W_hu", "W_xh", "W_xr", "W_xu"],
    "lstm": ["B_c", "B_f", "B_i", "B_o", "W_c", "W_f", "W_i", "W_o"],
    "rnn_linear": ["B", "W"],
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch,steps", [(1, 1), (4, 1), (1, 25), (4, 25)])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_parity(name, batch, steps, dtype):
    report = check_layer_parity(name, LAYERS[name], (batch, steps, V), dtype)
    names = [c.name for c in report.comparisons]
    assert names == ["output", "input_grad"] + [f"grad:{k}" for k in PARAMS[name]]
    if dtype == "float64":
        assert report.worst()[1] < 1e-12  # measured ~1e-15: the tolerance is not what passes it


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_finite_differences(name):
    check_finite_differences(name, LAYERS[name], (2, 6, 3))


def test_lstm_finite_differences_over_25_steps():
    check_finite_differences("lstm", lambda B: B.LSTMLayer(3), (1, 25, 2))


def _node_pair(name, dtype, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, V)).astype(dtype)
    s_node, t_node, _ = build_pair(NODES[name], x, seed)
    states = [rng.standard_normal((batch, H)).astype(dtype) for _ in range(2 if name == "lstm" else 1)]
    grads = [rng.standard_normal((batch, H)).astype(dtype) for _ in states]
    return x, s_node, t_node, states, grads


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", sorted(NODES))
def test_node_parity_from_a_nonzero_state(name, batch, dtype):
    x, s_node, t_node, states, grads = _node_pair(name, dtype, batch)
    out_s, out_t = s_node.forward(x, *states), t_node.forward(x, *states)
    back_s, back_t = s_node.backward(*grads), t_node.backward(*grads)
    if name != "lstm":
        out_s, out_t = (out_s,), (out_t,)
    for k, (a, b) in enumerate(zip(out_t, out_s)):
        compare(f"output[{k}]", a, b, dtype=dtype)
    for label, a, b in zip(("dx", "dh", "dc"), back_t, back_s):
        assert np.abs(b).max() > 0
        compare(label, a, b, dtype=dtype)
    gs, gt = s_node.grad_dict(), t_node.grad_dict()
    assert sorted(gs) == sorted(gt) == PARAMS[name]
    for k in gs:
        assert np.abs(gs[k]).max() > 0, k  # a non-zero state exercises W_h
        compare(f"grad:{k}", gt[k], gs[k], dtype=dtype)


def check_node_finite_differences(node, x, states, grads) -> None:
    """A node's analytic backward (dL/dx, dL/dh[, dL/dc] and every parameter's gradient) against centred
    finite differences of L = sum(output * G) over its outputs (h_new[, c_new]), from non-zero states."""
    def loss() -> float:
        out = node.forward(x, *states)
        out = out if isinstance(out, tuple) else (out,)
        return float(sum(np.sum(o * g) for o, g in zip(out, grads)))

    loss()
    analytic = node.backward(*grads)
    for label, arr, a in zip(("dx", "dh", "dc"), [x, *states], analytic):
        compare(label, a, numerical_gradient(loss, arr), "finite_difference", "float64")
    state, grads_p = node.state_dict(), node.grad_dict()
    for k, p in state.items():

        def loss_p(k: str = k, p: np.ndarray = p) -> float:
            node.load_state_dict({**state, k: p})
            return loss()

        compare(f"grad:{k}", grads_p[k], numerical_gradient(loss_p, p), "finite_difference", "float64")


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_finite_differences(name):
    x, node, _, states, grads = _node_pair(name, "float64", 2, seed=3)
    check_node_finite_differences(node, x, states, grads)


@pytest.mark.parametrize("name", ["rnn", "gru_torch", "gru_classic", "lstm"])
def test_params_are_the_fused_storage_of_the_canonical_parameters(name):
    layer = LAYERS[name](S)
    layer.forward(np.zeros((1, 2, V)))
    state = layer.state_dict()
    assert sum(p.size for p in layer.params()) == sum(v.size for v in state.values())
    for p in layer.params():  # what an optimiser does: update in place
        p += 1.0
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, state[k] + 1.0)  # every canonical entry moved, once
    assert [g.shape for g in layer.param_grads()] == [p.shape for p in layer.params()]


def test_gru_variants_differ():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, V))
    s_torch, t_torch, state = build_pair(lambda B: B.GRULayer(H, gru="torch"), x)
    classic = S.GRULayer(H, gru="classic")
    classic.forward(x)
    classic.load_state_dict({k: v for k, v in state.items() if k != "B_hh"})
    s_torch.load_state_dict({**state, "B_hh": np.zeros((1, H))})  # the classic GRU has no bias inside r * (...)
    diff = np.abs(classic.forward(x) - s_torch.forward(x)).max()
    assert diff > 1e-2  # the same weights, a different function: where the reset gate acts matters
    np.testing.assert_allclose(s_torch.forward(x[:, :1]), classic.forward(x[:, :1]), rtol=1e-12)  # h_0 = 0: equal


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cells", [("LSTMLayer", "LSTMLayer"), ("GRULayer", "RNNLayer")])
def test_stacked_layers_in_a_network(cells, dtype):
    def build(B):
        return B.NeuralNetwork([getattr(B, cells[0])(6), getattr(B, cells[1])(4), B.RNNLinear(3)],
                               B.MeanSquaredError(), dtype=dtype)

    report = check_layer_parity("stacked " + "->".join(cells), build, (3, 9, V), dtype)
    assert len([c for c in report.comparisons if c.name.startswith("grad:layers.1.")]) >= 2


def test_stacked_lstm_trajectory_with_adam():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((24, 8, V)), rng.standard_normal((24, 8, 2))

    def build(B):
        return B.NeuralNetwork([B.LSTMLayer(6), B.LSTMLayer(5), B.RNNLinear(2)], B.MeanSquaredError(),
                               dtype="float64")

    report = check_trajectory("stacked LSTM + Adam", build, lambda B: B.Adam(lr=0.01, clip_norm=1.0), X, y,
                              epochs=25, batch_size=6)  # 100 steps
    assert report.worst()[1] < 1e-10


def test_same_seed_gives_the_same_initial_weights():
    nets = [B.NeuralNetwork([B.LSTMLayer(H), B.GRULayer(4, gru="classic"), B.RNNLayer(3), B.RNNLinear(2)],
                            B.MeanSquaredError(), seed=7) for B in (S, T)]
    for net in nets:
        net.forward(np.zeros((1, 2, V)))
    a, b = nets[0].state_dict(), nets[1].state_dict()
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert np.std(a["layers.0.W_f"]) == pytest.approx(np.sqrt(2 / (V + H + H)), rel=0.2)  # glorot on (V+H, H)


def _torch_lstm():
    layer = T.LSTMLayer(H)
    layer.forward(np.zeros((1, 1, V)))
    return layer


def test_lstm_torch_layout():
    layer = _torch_lstm()
    state = {k: v for k, v in zip(PARAMS["lstm"], np.random.default_rng(0).standard_normal((8, V + H, H)))}
    state.update({k: state[k][:1] for k in ("B_c", "B_f", "B_i", "B_o")})
    layer.load_state_dict(state)
    rnn = layer.module.rnn
    w_ih, w_hh = rnn.weight_ih_l0.detach().numpy(), rnn.weight_hh_l0.detach().numpy()
    assert w_ih.shape == (4 * H, V) and w_hh.shape == (4 * H, H)
    for k, gate in enumerate("ifco"):  # PyTorch's row blocks: i, f, g (our c), o
        np.testing.assert_array_equal(w_ih[k * H:(k + 1) * H], state[f"W_{gate}"][:V].T)
        np.testing.assert_array_equal(w_hh[k * H:(k + 1) * H], state[f"W_{gate}"][V:].T)
        np.testing.assert_array_equal(rnn.bias_ih_l0.detach().numpy()[k * H:(k + 1) * H], state[f"B_{gate}"][0])
    assert not rnn.bias_hh_l0.detach().numpy().any() and not rnn.bias_hh_l0.requires_grad  # zeros, frozen


def test_reading_back_sums_the_two_torch_biases():
    import torch

    layer = _torch_lstm()
    rnn = layer.module.rnn
    with torch.no_grad():
        rnn.bias_ih_l0.copy_(torch.arange(4 * H, dtype=torch.float64))
        rnn.bias_hh_l0.fill_(0.5)  # a plain PyTorch LSTM has both biases non-zero
    x = np.random.default_rng(0).standard_normal((2, 3, V))
    expected = layer.forward(x)
    state = layer.state_dict()
    np.testing.assert_array_equal(state["B_i"][0], np.arange(H) + 0.5)
    scratch = S.LSTMLayer(H)
    scratch.forward(x)
    scratch.load_state_dict(state)
    np.testing.assert_allclose(scratch.forward(x), expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "gru_torch", "gru_classic", "rnn"])
def test_round_trip_scratch_torch_scratch_is_identity(name):
    x = np.random.default_rng(0).standard_normal((2, 3, V))
    s_obj, t_obj, state = build_pair(LAYERS[name], x)
    back = LAYERS[name](S)
    back.forward(x)
    back.load_state_dict(t_obj.state_dict())
    for k, v in state.items():
        np.testing.assert_array_equal(back.state_dict()[k], v)


def test_hidden_state_starts_at_zero_for_every_batch(B):
    layer = B.LSTMLayer(H)
    x = np.random.default_rng(0).standard_normal((3, 4, V))
    first = layer.forward(x)
    layer.forward(np.random.default_rng(1).standard_normal((3, 4, V)))  # nothing carries over
    np.testing.assert_array_equal(layer.forward(x), first)
    np.testing.assert_allclose(layer.forward(x[1:2]), first[1:2], rtol=1e-6)  # nor across the batch


def test_scratch_lstm_matches_the_autograd_engine():
    from scratch import autograd as ag

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, V))
    layer, _, state = build_pair(LAYERS["lstm"], x)
    G = rng.standard_normal((3, 6, H))
    layer.forward(x)
    dx = layer.backward(G)
    leaves = {k: ag.tensor(v) for k, v in state.items()}
    xs = ag.tensor(x)
    h = c = ag.tensor(np.zeros((3, H)), requires_grad=False)
    loss = None
    for t in range(6):
        z = ag.concatenate([xs[:, t], h], axis=1)
        f, i, o = ((z @ leaves[f"W_{g}"] + leaves[f"B_{g}"]).sigmoid() for g in "fio")
        c = f * c + i * (z @ leaves["W_c"] + leaves["B_c"]).tanh()
        h = o * c.tanh()
        term = (h * G[:, t]).sum()
        loss = term if loss is None else loss + term
    ag.backward(loss)
    compare("input_grad", dx, ag.grad_of(xs), dtype="float64")
    for k, g in layer.grad_dict().items():
        compare(f"grad:{k}", g, ag.grad_of(leaves[k]), dtype="float64")


# --- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["RNNLayer", "GRULayer", "LSTMLayer", "RNNLinear"])
def test_sequence_of_the_wrong_rank(B, cls):
    layer = getattr(B, cls)(4)
    with pytest.raises(ValueError, match=rf"{cls}\(4.*\): expected a 3-D \(batch, time, features\) input, got 2-D "
                                         r"shape \(2, 5\) \(add a time axis"):
        layer.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"expected a 3-D .* got 4-D shape \(1, 2, 3, 4\)"):
        layer.forward(np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"expected at least one sample and one time step, got shape \(2, 0, 5\)"):
        layer.forward(np.zeros((2, 0, 5)))


@pytest.mark.parametrize("cls", ["RNNLayer", "GRULayer", "LSTMLayer", "RNNLinear"])
def test_sequence_of_the_wrong_feature_size(B, cls):
    layer = getattr(B, cls)(4)
    layer.forward(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=rf"{cls}\(4.*\): expected 5 features per time step \(the size it was "
                                         r"built for\), got 6"):
        layer.forward(np.zeros((2, 3, 6)))


@pytest.mark.parametrize("cls", ["RNNNode", "GRUNode", "LSTMNode", "RNNLayer", "GRULayer", "LSTMLayer"])
@pytest.mark.parametrize("bad", [0, -3])
def test_hidden_size_must_be_positive(B, cls, bad):
    with pytest.raises(ValueError, match=rf"hidden_size: expected a positive int \(>= 1\), got {bad}"):
        getattr(B, cls)(bad)
    with pytest.raises(TypeError, match="hidden_size: expected a positive int, got float 2.5"):
        getattr(B, cls)(2.5)


def test_node_inputs_are_checked(B):
    node = B.LSTMNode(4)
    with pytest.raises(ValueError, match=r"LSTMNode\(4\): expected a 2-D \(batch, features\) input for one time "
                                         r"step, got 3-D shape \(2, 3, 5\)"):
        node.forward(np.zeros((2, 3, 5)))
    node.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"LSTMNode\(4\): expected c of shape \(2, 4\) \(batch, hidden\), got "
                                         r"\(2, 3\)"):
        node.forward(np.zeros((2, 5)), np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expected 5 features \(the size it was built for\), got 6"):
        node.forward(np.zeros((2, 6)))


def test_unknown_gru_variant(B):
    with pytest.raises(ValueError, match=r"gru: expected one of \['torch', 'classic'\], got 'clasic'; did you mean "
                                         r"'classic'\?"):
        B.GRULayer(3, gru="clasic")
