"""Chapter 6: automatic differentiation, the recurrent layers (RNN, GRU in both variants, LSTM, the
time-distributed dense layer) and their optimisers (AdaGrad, Adam, gradient clipping)."""

from __future__ import annotations

import numpy as np

from dlfs.backends import backend
from study.chapters.ch2_3 import mlp, regression_data
from study.parity import ParityReport, build_pair, compare
from study.spec import CheckSpec, Concept, LayerSpec, TrajectorySpec, report


def autograd(dtype: str) -> list[ParityReport]:
    """A two-layer expression, sigmoid(tanh(x @ W + b) @ V), through each backend's autograd engine with a
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
    comps += [compare("input_grad" if k == "x" else f"grad:{k}", gt, gs, "autograd", dtype)
              for k, gs, gt in zip(("x", "W", "b", "V"), grads_s, grads_t)]
    return [report("autograd", dtype, comps)]


def gradient_clipping(dtype: str) -> list[ParityReport]:
    """clip_grad_value(0.05) and clip_grad_norm(0.1) against ``torch.nn.utils``' on one backward's
    gradients (each check must clip something to mean anything)."""
    X, y = regression_data()
    X8, y8 = X[:8].astype(dtype), y[:8].astype(dtype)
    comps = []
    for clip in ("value", "norm"):
        s_net, t_net, _ = build_pair(lambda B: mlp()(B, dtype), X8)
        for net in (s_net, t_net):
            net.train_batch(X8, y8)
        S, T = backend("scratch"), backend("torch")
        if clip == "value":
            S.clip_grad_value(s_net, 0.05)
            T.clip_grad_value(t_net, 0.05)
        else:
            norms = [S.clip_grad_norm(s_net, 0.1), T.clip_grad_norm(t_net, 0.1)]
            comps.append(compare("grad norm", np.array(norms[1]), np.array(norms[0]), dtype=dtype,
                                 check_dtype=False))
        gs, gt = s_net.grad_dict(), t_net.grad_dict()
        largest = max(float(np.abs(g).max()) for g in gs.values())
        if clip == "value" and not np.isclose(largest, 0.05):
            raise AssertionError(f"clip_grad_value(0.05) left a largest gradient of {largest}")
        if clip == "norm" and not norms[0] > 0.1:
            raise AssertionError(f"clip_grad_norm(0.1): the gradient norm {norms[0]} needed no clipping")
        comps += [compare(f"grad:{k} clipped by {clip}", gt[k], gs[k]) for k in sorted(gs)]
    return [report("gradient-clipping", dtype, comps)]


V, H = 5, 7  # input width != hidden size, so a transposed gate block cannot pass unnoticed


def _sequence(build) -> LayerSpec:
    """``build`` over 6 time steps of 5 features (hidden 7): output, dL/dx and every gate's gradient."""
    return LayerSpec(lambda B, dtype: build(B), (6, V))


def _adaptive(optimizer) -> TrajectorySpec:
    return TrajectorySpec(mlp(), optimizer, regression_data, epochs=10, batch_size=20)


_R, _RB = "parity_tests/test_recurrent.py", "parity_tests/test_recurrent_book.py"
_RECURRENT = (f"{_R}::test_layer_parity", f"{_R}::test_node_parity_from_a_nonzero_state",
              f"{_RB}::test_layer_parity", f"{_RB}::test_node_parity_from_a_nonzero_state")
_A = "parity_tests/test_adaptive.py"
CONCEPTS = [
    Concept("autograd", "Reverse-mode automatic differentiation (Tensor.backward vs torch.autograd)", "6",
            "scratch.autograd:Tensor.backward", "torch_impl.autograd:backward", CheckSpec(autograd, "autograd"),
            ("parity_tests/test_autograd.py::test_expression_parity",
             "parity_tests/test_autograd.py::test_mlp_softmax_cross_entropy"),
            conversion="none: NumPy arrays in and out; torch tensors inside", doc="docs/autograd.md"),
    Concept("rnn", "Vanilla RNN: RNNNode (one step), RNNLayer (over time)", "6", "scratch.rnn:RNNNode",
            "torch_impl.rnn:RNNNode", _sequence(lambda B: B.RNNLayer(H)),
            _RECURRENT, fast="scratch.fast.rnn:RNNNode",
            show_scratch=("scratch.rnn:RNNNode", "scratch.rnn:RNNLayer"),
            show_torch=("torch_impl.rnn:RNNNode", "torch_impl.rnn:RNNLayer"),
            conversion="W_f (V+H, H): weight_ih = W_f[:V].T, weight_hh = W_f[V:].T; bias_ih = B_f, bias_hh = 0"),
    Concept("gru", "GRU, PyTorch's variant (reset after the matmul, = nn.GRU)", "6", "scratch.gru:GRUNode",
            "torch_impl.gru:GRUNode", _sequence(lambda B: B.GRULayer(H, gru="torch")),
            _RECURRENT, fast="scratch.fast.gru:GRUNode",
            show_scratch=("scratch.gru:GRUNode", "scratch.gru:GRULayer"),
            show_torch=("torch_impl.gru:GRUNode", "torch_impl.gru:GRULayer"),
            conversion="W_x* (V, H), W_h* (H, H) -> weight_ih (3H, V), weight_hh (3H, H) in row blocks r, z, n; "
                       "B_hh in bias_hh's n block"),
    Concept("gru-classic", "GRU, classic variant (the book's: reset before the matmul)", "6",
            "scratch.gru:GRUNode", "torch_impl.gru:ClassicGRUCell",
            _sequence(lambda B: B.GRULayer(H, gru="classic")), (*_RECURRENT, f"{_R}::test_gru_variants_differ"),
            fast="scratch.fast.gru:GRUNode", show_scratch=("scratch.gru:GRUNode", "scratch.gru:GRULayer"),
            show_torch=("torch_impl.gru:classic_gru_step", "torch_impl.gru:ClassicGRUCell",
                        "torch_impl.gru:ClassicGRU"),
            conversion="as gru, without bias_hh"),
    Concept("lstm", "LSTM: LSTMNode (one step), LSTMLayer (over time)", "6", "scratch.lstm:LSTMNode",
            "torch_impl.lstm:LSTMNode", _sequence(lambda B: B.LSTMLayer(H)),
            (*_RECURRENT, f"{_R}::test_reading_back_sums_the_two_torch_biases",
             f"{_RB}::test_adam_trajectory_book_vs_fast"), fast="scratch.fast.lstm:LSTMNode",
            show_scratch=("scratch.lstm:LSTMNode", "scratch.lstm:LSTMLayer"),
            show_torch=("torch_impl.lstm:LSTMNode", "torch_impl.lstm:LSTMLayer"),
            conversion="W_f, W_i, W_c, W_o (V+H, H) -> weight_ih (4H, V), weight_hh (4H, H), rows i, f, g, o; "
                       "biases in bias_ih, bias_hh = 0 (reading back sums the two)"),
    Concept("rnn-linear", "Time-distributed dense layer (the book's W_v projection)", "6",
            "scratch.recurrent:RNNLinear", "torch_impl.recurrent:RNNLinear", _sequence(lambda B: B.RNNLinear(4)),
            (f"{_R}::test_layer_parity",), conversion="W (in, out) = nn.Linear.weight.T, as Dense"),
    Concept("adagrad", "AdaGrad (torch.optim.Adagrad's form)", "6", "scratch.adaptive:AdaGrad",
            "torch_impl.adaptive:AdaGrad", _adaptive(lambda B, dtype: B.AdaGrad(lr=0.05)),
            (f"{_A}::test_adagrad_matches_torch_optim_adagrad", f"{_A}::test_trainer_trajectories_match"),
            conversion="state: sum of squared gradients, as torch.optim's 'sum'"),
    Concept("adam", "Adam (torch.optim.Adam's form)", "6", "scratch.adaptive:Adam", "torch_impl.adaptive:Adam",
            _adaptive(lambda B, dtype: B.Adam(lr=0.01)),
            (f"{_A}::test_adam_matches_torch_optim_adam", f"{_R}::test_stacked_lstm_trajectory_with_adam"),
            conversion="state: first and second moments, as torch.optim's exp_avg, exp_avg_sq"),
    Concept("gradient-clipping", "Gradient clipping by value and by norm", "6", "scratch.adaptive:clip_grad_norm",
            "torch_impl.adaptive:clip_grad_norm",
            (CheckSpec(gradient_clipping),
             _adaptive(lambda B, dtype: B.Adam(lr=0.01, clip_norm=0.5))),
            (f"{_A}::test_clip_functions_match_torch_utils", f"{_A}::test_clipping_options_match_torch_utils")),
]
