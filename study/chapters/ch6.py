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


# --- the book's equations (LaTeX, one display equation each) and what the book's own code does ---------------
_AUTOGRAD_EQ = (
    r"y = \sigma\left( \tanh(x W + b) V \right)",
    r"\frac{\partial L}{\partial y} = G",
    r"\frac{\partial L}{\partial u} = \sum_{v \,:\, u \to v} \frac{\partial L}{\partial v} "
    r"\frac{\partial v}{\partial u} \quad \text{(outputs to leaves, in reverse topological order)}",
    r"v = a \odot b: \quad \frac{\partial L}{\partial a} = \frac{\partial L}{\partial v} \odot b, \quad "
    r"\frac{\partial L}{\partial b} = \frac{\partial L}{\partial v} \odot a",
    r"C = A B: \quad \frac{\partial L}{\partial A} = \frac{\partial L}{\partial C} B^{T}, \quad "
    r"\frac{\partial L}{\partial B} = A^{T} \frac{\partial L}{\partial C}",
    r"v = \tanh(a): \quad \frac{\partial L}{\partial a} = \frac{\partial L}{\partial v} \odot \left( 1 - v^{2} \right)",
    r"v = a + b \text{ (b broadcast)}: \quad \frac{\partial L}{\partial b} = "
    r"\sum_{\text{broadcast axes}} \frac{\partial L}{\partial v}",
)
_AUTOGRAD_BOOK = (
    "The book sketches the idea in chapter 6 with a `NumberWithGrad` that remembers how it was computed; "
    "nothing is known to be wrong in it. Both backends grow it into reverse-mode differentiation on arrays with "
    "one API: scratch a NumPy tape (topological order without recursion, the gradients of a value used twice "
    "added, broadcasting undone by summing), torch a thin bridge to `torch.autograd`."
)
_RNN_EQ = (
    r"z_{t} = \left[ x_{t}, h_{t-1} \right], \quad h_{0} = 0",
    r"a_{t} = z_{t} W_{f} + B_{f}",
    r"h_{t} = \tanh(a_{t})",
    r"\frac{\partial L}{\partial h_{t}} = G_{t} + \delta_{t}, \quad \delta_{T} = 0 \quad "
    r"\text{(} G_{t} \text{: from the layer above; } \delta_{t} \text{: from step } t + 1 \text{)}",
    r"\frac{\partial L}{\partial a_{t}} = \frac{\partial L}{\partial h_{t}} \odot \left( 1 - h_{t}^{2} \right)",
    r"\left[ \frac{\partial L}{\partial x_{t}}, \; \delta_{t-1} \right] = \frac{\partial L}{\partial a_{t}} W_{f}^{T}",
    r"\frac{\partial L}{\partial W_{f}} = \sum_{t} z_{t}^{T} \frac{\partial L}{\partial a_{t}}, \quad "
    r"\frac{\partial L}{\partial B_{f}} = \sum_{t} \sum_{n} \left( \frac{\partial L}{\partial a_{t}} \right)_{n}",
)
_RNN_BOOK = (
    "Nothing is known to be wrong in the book's RNN step, and our book form (`scratch/rnn.py`) writes it in its "
    "notation (one W_f on the concatenated [x, h]). The book's `RNNLayer` ends in its own output projection "
    "(W_v, B_v); ours returns the hidden states, as `nn.RNN` does, so that layers stack, and `RNNLinear` is "
    "the projection. On the torch side W_f is split into `weight_ih` and `weight_hh`, the bias goes into "
    "`bias_ih` and `bias_hh` stays at zero."
)
_GRU_GATES_EQ = (
    r"r = \sigma\left( x_{t} W_{xr} + h_{t-1} W_{hr} + B_{r} \right)",
    r"u = \sigma\left( x_{t} W_{xu} + h_{t-1} W_{hu} + B_{u} \right)",
)
_GRU_TAIL_EQ = (
    r"h_{t} = u \odot h_{t-1} + (1 - u) \odot n",
    r"\frac{\partial L}{\partial a_{n}} = \frac{\partial L}{\partial h_{t}} \odot (1 - u) \odot "
    r"\left( 1 - n^{2} \right), \quad \frac{\partial L}{\partial a_{u}} = \frac{\partial L}{\partial h_{t}} "
    r"\odot (h_{t-1} - n) \odot u \odot (1 - u)",
)
_GRU_EQ = (
    *_GRU_GATES_EQ,
    r"n = \tanh\left( x_{t} W_{xh} + B_{h} + r \odot \left( h_{t-1} W_{hh} + B_{hh} \right) \right)",
    *_GRU_TAIL_EQ,
    r"\frac{\partial L}{\partial a_{r}} = \frac{\partial L}{\partial a_{n}} \odot "
    r"\left( h_{t-1} W_{hh} + B_{hh} \right) \odot r \odot (1 - r)",
    r"\frac{\partial L}{\partial h_{t}} \frac{\partial h_{t}}{\partial h_{t-1}} = \frac{\partial L}{\partial h_{t}} "
    r"\odot u + \left( \frac{\partial L}{\partial a_{n}} \odot r \right) W_{hh}^{T} + "
    r"\frac{\partial L}{\partial a_{r}} W_{hr}^{T} + \frac{\partial L}{\partial a_{u}} W_{hu}^{T}",
)
_GRU_BOOK = (
    "The book's GRU is the classic variant of Cho et al. (2014), the reset gate applied to h before the matmul, "
    "`(r * h) W_hh`; `nn.GRU` (and cuDNN) apply it after, `r * (h W_hh + B_hh)`, which needs a bias B_hh of its "
    "own, and the two compute different functions once h != 0 (`test_gru_variants_differ`). This row is "
    "PyTorch's variant, `gru=\"torch\"`, the default in both backends and equal to `nn.GRU`; the book's is "
    "gru-classic."
)
_GRU_CLASSIC_EQ = (
    *_GRU_GATES_EQ,
    r"n = \tanh\left( x_{t} W_{xh} + (r \odot h_{t-1}) W_{hh} + B_{h} \right)",
    *_GRU_TAIL_EQ,
    r"\frac{\partial L}{\partial a_{r}} = \left( \frac{\partial L}{\partial a_{n}} W_{hh}^{T} \right) \odot h_{t-1}"
    r" \odot r \odot (1 - r)",
    r"\frac{\partial L}{\partial h_{t}} \frac{\partial h_{t}}{\partial h_{t-1}} = \frac{\partial L}{\partial h_{t}} "
    r"\odot u + \left( \frac{\partial L}{\partial a_{n}} W_{hh}^{T} \right) \odot r + "
    r"\frac{\partial L}{\partial a_{r}} W_{hr}^{T} + \frac{\partial L}{\partial a_{u}} W_{hu}^{T}",
)
_GRU_CLASSIC_BOOK = (
    "This is the book's GRU (Cho et al. 2014: the reset gate applied before the matmul), and nothing is known "
    "to be wrong in it. Both backends implement it as `gru=\"classic\"`; the torch side needs a cell of its own "
    "(`ClassicGRUCell`, `ClassicGRU`, no `bias_hh`), since `nn.GRU` computes the other variant."
)
_LSTM_EQ = (
    r"f = \sigma\left( z W_{f} + B_{f} \right), \quad z = \left[ x_{t}, h_{t-1} \right]",
    r"i = \sigma\left( z W_{i} + B_{i} \right)",
    r"\bar{c} = \tanh\left( z W_{c} + B_{c} \right)",
    r"o = \sigma\left( z W_{o} + B_{o} \right)",
    r"c_{t} = f \odot c_{t-1} + i \odot \bar{c}",
    r"h_{t} = o \odot \tanh(c_{t})",
    r"\frac{\partial L}{\partial c_{t}} = \frac{\partial L}{\partial c_{t+1}} \odot f_{t+1} + "
    r"\frac{\partial L}{\partial h_{t}} \odot o \odot \left( 1 - \tanh^{2}(c_{t}) \right)",
    r"\frac{\partial L}{\partial f} = \frac{\partial L}{\partial c_{t}} \odot c_{t-1}, \quad "
    r"\frac{\partial L}{\partial i} = \frac{\partial L}{\partial c_{t}} \odot \bar{c}, \quad "
    r"\frac{\partial L}{\partial \bar{c}} = \frac{\partial L}{\partial c_{t}} \odot i, \quad "
    r"\frac{\partial L}{\partial o} = \frac{\partial L}{\partial h_{t}} \odot \tanh(c_{t})",
    r"\frac{\partial L}{\partial W_{g}} = \sum_{t} z_{t}^{T} \frac{\partial L}{\partial a_{g,t}}, \quad "
    r"\frac{\partial L}{\partial z} = \sum_{g} \frac{\partial L}{\partial a_{g}} W_{g}^{T}, \quad "
    r"a_{g} = z W_{g} + B_{g}, \; g \in \{f, i, c, o\}",
)
_LSTM_BOOK = (
    "Nothing is known to be wrong in the book's LSTM step; our book form (`scratch/lstm.py`) writes it one "
    "equation per line in its notation (per-gate W_f, W_i, W_c, W_o on the concatenated [x, h]). The book's "
    "`LSTMLayer` ends in its own output projection (W_v, B_v); ours returns the hidden states, as `nn.LSTM` "
    "does, so that layers stack, and `RNNLinear` is the projection. On the torch side the gate blocks go into "
    "`nn.LSTM`'s stacked weights (rows i, f, g, o), each bias into `bias_ih` with `bias_hh` kept at zero."
)
_RNN_LINEAR_EQ = (
    r"Y_{n,t} = X_{n,t} W + B",
    r"\frac{\partial L}{\partial X_{n,t}} = \frac{\partial L}{\partial Y_{n,t}} W^{T}",
    r"\frac{\partial L}{\partial W} = \sum_{n,t} X_{n,t}^{T} \frac{\partial L}{\partial Y_{n,t}}, \quad "
    r"\frac{\partial L}{\partial B} = \sum_{n,t} \frac{\partial L}{\partial Y_{n,t}}",
)
_RNN_LINEAR_BOOK = (
    "The book's `RNNLayer` and `LSTMLayer` end in this projection themselves (W_v, B_v). Here it is a layer of "
    "its own, under the book's name `RNNLinear`, so that the recurrent layers return hidden states and stack, "
    "as in PyTorch (`nn.Linear` acts on the last axis); nothing is known to be wrong in the projection itself."
)
_ADAGRAD_EQ = (
    r"s \leftarrow s + g^{2}, \quad s_{0} = 0",
    r"p \leftarrow p - \mathrm{lr} \frac{g}{\sqrt{s} + \epsilon}, \quad \epsilon = 10^{-10}",
)
_ADAGRAD_BOOK = (
    "Nothing is known to be wrong in the book's code here. Both backends follow `torch.optim.Adagrad`'s "
    "formulation and defaults (lr 0.01, eps 1e-10 added outside the square root, the sum starting at "
    "`initial_accumulator_value` = 0), so the same gradients give the same updates as `torch.optim`."
)
_ADAM_EQ = (
    r"t \leftarrow t + 1",
    r"m \leftarrow \beta_{1} m + (1 - \beta_{1}) g, \quad m_{0} = 0",
    r"v \leftarrow \beta_{2} v + (1 - \beta_{2}) g^{2}, \quad v_{0} = 0",
    r"p \leftarrow p - \frac{\mathrm{lr}}{1 - \beta_{1}^{t}} \cdot "
    r"\frac{m}{\sqrt{v} / \sqrt{1 - \beta_{2}^{t}} + \epsilon}",
)
_ADAM_BOOK = (
    "Nothing is known to be wrong in the book's code here. Both backends follow `torch.optim.Adam`'s "
    "formulation and defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8 added outside the square root, to "
    "sqrt(v / (1 - beta2^t))), so the same gradients give the same updates as `torch.optim`."
)
_CLIPPING_EQ = (
    r"g \leftarrow \operatorname{clip}(g, -c, c) \quad \text{(by value)}",
    r"\lVert g \rVert = \sqrt{\sum_{k} \sum_{i} g_{k,i}^{2}} \quad \text{(all parameters as one vector)}",
    r"g_{k} \leftarrow g_{k} \cdot \frac{m}{\lVert g \rVert + 10^{-6}} \quad \text{if } "
    r"\frac{m}{\lVert g \rVert + 10^{-6}} < 1 \quad \text{(by norm)}",
)
_CLIPPING_BOOK = (
    "Nothing is known to be wrong in the book's code here. Both backends clip as `torch.nn.utils`' "
    "`clip_grad_value_` and `clip_grad_norm_` do: before the update, on all gradients together (by value first "
    "when both are set), with PyTorch's 1e-6 in the norm's denominator; on the torch side the option is a step "
    "pre-hook on the `torch.optim` optimiser."
)

_R, _RB = "parity_tests/test_recurrent.py", "parity_tests/test_recurrent_book.py"
_RECURRENT = (f"{_R}::test_layer_parity", f"{_R}::test_node_parity_from_a_nonzero_state",
              f"{_RB}::test_layer_parity", f"{_RB}::test_node_parity_from_a_nonzero_state")
_A = "parity_tests/test_adaptive.py"
CONCEPTS = [
    Concept("autograd", "Reverse-mode automatic differentiation (Tensor.backward vs torch.autograd)", "6",
            "scratch.autograd:Tensor.backward", "torch_impl.autograd:backward", CheckSpec(autograd, "autograd"),
            ("parity_tests/test_autograd.py::test_expression_parity",
             "parity_tests/test_autograd.py::test_mlp_softmax_cross_entropy"),
            conversion="none: NumPy arrays in and out; torch tensors inside", doc="docs/autograd.md",
            equations=_AUTOGRAD_EQ, book_code=_AUTOGRAD_BOOK),
    Concept("rnn", "Vanilla RNN: RNNNode (one step), RNNLayer (over time)", "6", "scratch.rnn:RNNNode",
            "torch_impl.rnn:RNNNode", _sequence(lambda B: B.RNNLayer(H)),
            _RECURRENT, fast="scratch.fast.rnn:RNNNode",
            show_scratch=("scratch.rnn:RNNNode", "scratch.rnn:RNNLayer"),
            show_torch=("torch_impl.rnn:RNNNode", "torch_impl.rnn:RNNLayer"),
            conversion="W_f (V+H, H): weight_ih = W_f[:V].T, weight_hh = W_f[V:].T; bias_ih = B_f, bias_hh = 0",
            equations=_RNN_EQ, book_code=_RNN_BOOK),
    Concept("gru", "GRU, PyTorch's variant (reset after the matmul, = nn.GRU)", "6", "scratch.gru:GRUNode",
            "torch_impl.gru:GRUNode", _sequence(lambda B: B.GRULayer(H, gru="torch")),
            _RECURRENT, fast="scratch.fast.gru:GRUNode",
            show_scratch=("scratch.gru:GRUNode", "scratch.gru:GRULayer"),
            show_torch=("torch_impl.gru:GRUNode", "torch_impl.gru:GRULayer"),
            conversion="W_x* (V, H), W_h* (H, H) -> weight_ih (3H, V), weight_hh (3H, H) in row blocks r, z, n; "
                       "B_hh in bias_hh's n block", equations=_GRU_EQ, book_code=_GRU_BOOK),
    Concept("gru-classic", "GRU, classic variant (the book's: reset before the matmul)", "6",
            "scratch.gru:GRUNode", "torch_impl.gru:ClassicGRUCell",
            _sequence(lambda B: B.GRULayer(H, gru="classic")), (*_RECURRENT, f"{_R}::test_gru_variants_differ"),
            fast="scratch.fast.gru:GRUNode", show_scratch=("scratch.gru:GRUNode", "scratch.gru:GRULayer"),
            show_torch=("torch_impl.gru:classic_gru_step", "torch_impl.gru:ClassicGRUCell",
                        "torch_impl.gru:ClassicGRU"),
            conversion="as gru, without bias_hh", equations=_GRU_CLASSIC_EQ, book_code=_GRU_CLASSIC_BOOK),
    Concept("lstm", "LSTM: LSTMNode (one step), LSTMLayer (over time)", "6", "scratch.lstm:LSTMNode",
            "torch_impl.lstm:LSTMNode", _sequence(lambda B: B.LSTMLayer(H)),
            (*_RECURRENT, f"{_R}::test_reading_back_sums_the_two_torch_biases",
             f"{_RB}::test_adam_trajectory_book_vs_fast"), fast="scratch.fast.lstm:LSTMNode",
            show_scratch=("scratch.lstm:LSTMNode", "scratch.lstm:LSTMLayer"),
            show_torch=("torch_impl.lstm:LSTMNode", "torch_impl.lstm:LSTMLayer"),
            conversion="W_f, W_i, W_c, W_o (V+H, H) -> weight_ih (4H, V), weight_hh (4H, H), rows i, f, g, o; "
                       "biases in bias_ih, bias_hh = 0 (reading back sums the two)",
            equations=_LSTM_EQ, book_code=_LSTM_BOOK),
    Concept("rnn-linear", "Time-distributed dense layer (the book's W_v projection)", "6",
            "scratch.recurrent:RNNLinear", "torch_impl.recurrent:RNNLinear", _sequence(lambda B: B.RNNLinear(4)),
            (f"{_R}::test_layer_parity",), conversion="W (in, out) = nn.Linear.weight.T, as Dense",
            equations=_RNN_LINEAR_EQ, book_code=_RNN_LINEAR_BOOK),
    Concept("adagrad", "AdaGrad (torch.optim.Adagrad's form)", "6", "scratch.adaptive:AdaGrad",
            "torch_impl.adaptive:AdaGrad", _adaptive(lambda B, dtype: B.AdaGrad(lr=0.05)),
            (f"{_A}::test_adagrad_matches_torch_optim_adagrad", f"{_A}::test_trainer_trajectories_match"),
            conversion="state: sum of squared gradients, as torch.optim's 'sum'",
            equations=_ADAGRAD_EQ, book_code=_ADAGRAD_BOOK),
    Concept("adam", "Adam (torch.optim.Adam's form)", "6", "scratch.adaptive:Adam", "torch_impl.adaptive:Adam",
            _adaptive(lambda B, dtype: B.Adam(lr=0.01)),
            (f"{_A}::test_adam_matches_torch_optim_adam", f"{_R}::test_stacked_lstm_trajectory_with_adam"),
            conversion="state: first and second moments, as torch.optim's exp_avg, exp_avg_sq",
            equations=_ADAM_EQ, book_code=_ADAM_BOOK),
    Concept("gradient-clipping", "Gradient clipping by value and by norm", "6", "scratch.adaptive:clip_grad_norm",
            "torch_impl.adaptive:clip_grad_norm",
            (CheckSpec(gradient_clipping),
             _adaptive(lambda B, dtype: B.Adam(lr=0.01, clip_norm=0.5))),
            (f"{_A}::test_clip_functions_match_torch_utils", f"{_A}::test_clipping_options_match_torch_utils"),
            equations=_CLIPPING_EQ, book_code=_CLIPPING_BOOK),
]
