"""The concept registry: every concept of the book, its scratch and torch objects, and its parity tests.

The README's concept table and ``dlfs concepts`` are generated from this list, and file:line locations come from
``inspect``, so neither can drift from the code (a test fails when the README is stale).
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


DOCS = {  # one page per concept family; dlfs show links it
    "1": "docs/foundations.md", "2": "docs/dense.md", "3": "docs/dense.md", "4": "docs/chapter4.md",
    "5": "docs/convolutions.md", "6": "docs/recurrent.md", "7": "docs/tsne.md",
}
LAST_PARITY = ROOT / "parity_tests" / "last_parity.json"  # the last results of `dlfs parity`, committed


@dataclass(frozen=True)
class Concept:
    """One concept of the book: where it lives in each backend, its parity tests, and how it is compared.

    ``scratch``/``torch`` are ``"module:qualname"`` (a class, a function or a method); ``key`` also names its
    check in ``study.parity_suite``; ``tolerance_op`` is its row of ``dlfs.tolerances``.
    """

    key: str  # short name for `dlfs show KEY` and `dlfs parity KEY`
    title: str
    chapter: str
    scratch: str  # "module:qualname" of the NumPy implementation
    torch: str  # "module:qualname" of the PyTorch implementation
    tests: tuple[str, ...]  # parity test files (pytest node ids allowed)
    conversion: str = "identical canonical arrays (no parameters or same layout)"
    doc: str = ""  # its docs page; empty: the chapter's page in DOCS
    tolerance_op: str = "default"

    @property
    def doc_page(self) -> str:
        return self.doc or DOCS.get(self.chapter, "docs/conventions.md")


_P = "parity_tests/"
_DENSE = f"{_P}test_dense.py"
_F = f"{_P}test_foundations.py"

CONCEPTS: list[Concept] = [
    # chapter 1: foundations
    Concept("derivatives", "Elementary functions and their derivatives (hand-derived vs autograd)", "1",
            "scratch.foundations:sigmoid_deriv", "torch_impl.foundations:sigmoid_deriv",
            (f"{_F}::test_elementwise_derivative_three_way",), tolerance_op="activation"),
    Concept("chain-rule", "The chain rule for nested functions", "1", "scratch.foundations:chain_deriv_3",
            "torch_impl.foundations:chain_deriv_3", (f"{_F}::test_chain_rule_three_way",), tolerance_op="activation"),
    Concept("multiple-inputs", "Functions of several inputs: sigma(x + y), sigma(x * y)", "1",
            "scratch.foundations:multiple_inputs_multiply_backward",
            "torch_impl.foundations:multiple_inputs_multiply_backward", (f"{_F}::test_multiple_inputs_three_way",),
            tolerance_op="activation"),
    Concept("matrix-chain-rule", "The matrix chain rule: L = sum(sigma(X @ W)), dL/dX and dL/dW", "1",
            "scratch.foundations:matrix_function_backward_sum", "torch_impl.foundations:matrix_function_backward_sum",
            (f"{_F}::test_matmul_three_way", f"{_F}::test_matrix_function_sum_three_way")),
    # chapter 2: fundamentals
    Concept("linear-regression", "Linear regression (Dense(1) + closed form, sklearn referee)", "2",
            "scratch.linear_regression:closed_form_linear_regression",
            "torch_impl.linear_regression:closed_form_linear_regression",
            (f"{_P}test_linear_regression.py",), "W (in, 1), B (1, 1) as a Dense(1) state dict"),
    Concept("sigmoid", "Sigmoid activation", "2", "scratch.activations:Sigmoid", "torch_impl.activations:Sigmoid",
            (f"{_DENSE}::test_activation_parity",), tolerance_op="activation"),
    Concept("mse", "Mean squared error (sum over outputs, mean over batch)", "2", "scratch.losses:MeanSquaredError",
            "torch_impl.losses:MeanSquaredError", (f"{_DENSE}::test_mse_parity_and_finite_differences",)),
    # chapter 3: deep learning from scratch
    Concept("tanh", "Tanh activation", "3", "scratch.activations:Tanh", "torch_impl.activations:Tanh",
            (f"{_DENSE}::test_activation_parity",), tolerance_op="activation"),
    Concept("relu", "ReLU activation", "3", "scratch.activations:ReLU", "torch_impl.activations:ReLU",
            (f"{_DENSE}::test_activation_parity",), tolerance_op="activation"),
    Concept("linear", "Linear (identity) activation", "3", "scratch.activations:Linear",
            "torch_impl.activations:Linear", (f"{_DENSE}::test_activation_parity",), tolerance_op="activation"),
    Concept("dense", "Dense layer: WeightMultiply, BiasAdd, activation", "3", "scratch.dense:Dense",
            "torch_impl.dense:Dense", (f"{_DENSE}::test_model_parity",),
            "W (in, out) = nn.Linear.weight.T; B (1, out) = nn.Linear.bias[None, :]"),
    Concept("network", "NeuralNetwork (layers + loss)", "3", "scratch.network:NeuralNetwork",
            "torch_impl.network:NeuralNetwork", (f"{_DENSE}::test_model_parity",),
            "keys layers.<i>.<name>, each layer's canonical layout"),
    Concept("sgd", "SGD and the Trainer (100-step trajectory)", "3", "scratch.optimizers:SGD",
            "torch_impl.optimizers:SGD", (f"{_DENSE}::test_trajectory_100_sgd_steps",), tolerance_op="trajectory"),
    Concept("trainer", "Trainer: seeded batch order, eval every N epochs", "3", "scratch.trainer:Trainer",
            "torch_impl.trainer:Trainer", (f"{_DENSE}::test_trajectory_100_sgd_steps",), tolerance_op="trajectory"),
    # chapter 4: extensions
    Concept("softmax-cross-entropy", "Softmax cross-entropy (log-sum-exp, mean over the batch)", "4",
            "scratch.losses:SoftmaxCrossEntropy", "torch_impl.losses:SoftmaxCrossEntropy",
            (f"{_P}test_softmax_cross_entropy.py::test_parity_with_cross_entropy_loss",
             f"{_P}test_softmax_cross_entropy.py::test_finite_differences")),
    Concept("sgd-momentum", "SGD with momentum (PyTorch's form)", "4", "scratch.optimizers:SGDMomentum",
            "torch_impl.optimizers:SGDMomentum", (f"{_P}test_momentum.py::test_trajectory_100_momentum_steps",
                                                  f"{_P}test_momentum.py::test_book_form_diverges_under_decay"),
            "velocities: scratch arrays vs torch.optim momentum_buffer", tolerance_op="trajectory"),
    Concept("lr-decay", "Learning-rate decay per epoch (linear, exponential)", "4",
            "scratch.optimizers:Optimizer.setup_decay", "torch_impl.optimizers:Optimizer._make_scheduler",
            (f"{_P}test_lr_decay.py::test_lr_sequences_agree", f"{_P}test_lr_decay.py::test_decayed_trajectory_parity"),
            tolerance_op="trajectory"),
    Concept("glorot", "Glorot initialisation (drawn from one NumPy stream)", "4", "scratch.dense:Dense._setup_layer",
            "torch_impl.dense:Dense._setup_layer", (f"{_P}test_init.py::test_same_seed_same_draws_in_both_backends",
                                                    f"{_P}test_init.py::test_ks_against_the_formula"),
            "the same draws: W (in, out) copied into nn.Linear.weight.T"),
    Concept("dropout", "Inverted dropout, p = drop probability, masks from one NumPy stream", "4",
            "scratch.dropout:Dropout", "torch_impl.dropout:Dropout",
            (f"{_P}test_dropout.py::test_dropout_train_mode_parity",
             f"{_P}test_dropout.py::test_dropout_network_trajectory_over_an_epoch_of_digits")),
    Concept("early-stopping", "Early stopping: restore the best evaluated epoch", "4", "scratch.trainer:Trainer.fit",
            "torch_impl.trainer:Trainer.fit", (f"{_P}test_early_stopping.py::test_same_stop_and_restored_epoch_in_both_"
                                               "backends",), tolerance_op="trajectory"),
    # chapter 5: convolutional networks
    Concept("conv2d", "Conv2D: im2col + one matmul, cross-correlation, NCHW", "5", "scratch.conv:Conv2D",
            "torch_impl.conv:Conv2D", (f"{_P}test_conv.py::test_conv2d_parity",
                                       f"{_P}test_conv.py::test_conv2d_finite_differences"),
            "W (in, out, kh, kw) = conv.weight.permute(1, 0, 2, 3); B (1, out, 1, 1) = "
            "conv.bias.reshape(1, out, 1, 1)"),
    Concept("max-pool", "Max pooling (ties: the first maximum)", "5", "scratch.pooling:MaxPool2D",
            "torch_impl.pooling:MaxPool2D", (f"{_P}test_pooling.py::test_pooling_parity",
                                             f"{_P}test_pooling.py::test_max_pool_ties_go_to_the_first_maximum")),
    Concept("avg-pool", "Average pooling", "5", "scratch.pooling:AvgPool2D", "torch_impl.pooling:AvgPool2D",
            (f"{_P}test_pooling.py::test_pooling_parity",)),
    Concept("flatten", "Flatten (N, C, H, W) -> (N, C*H*W)", "5", "scratch.reshape:Flatten",
            "torch_impl.reshape:Flatten", (f"{_P}test_reshape.py::test_reshape_parity",)),
    Concept("reshape", "Reshape (batch axis kept)", "5", "scratch.reshape:Reshape", "torch_impl.reshape:Reshape",
            (f"{_P}test_reshape.py::test_reshape_parity",)),
    # chapter 6: automatic differentiation, recurrent networks and their optimisers
    Concept("autograd", "Reverse-mode automatic differentiation (Tensor.backward vs torch.autograd)", "6",
            "scratch.autograd:Tensor.backward", "torch_impl.autograd:backward",
            (f"{_P}test_autograd.py::test_expression_parity", f"{_P}test_autograd.py::test_mlp_softmax_cross_entropy"),
            "none: NumPy arrays in and out; torch tensors inside", doc="docs/autograd.md", tolerance_op="autograd"),
    Concept("rnn", "Vanilla RNN: RNNNode (one step), RNNLayer (over time)", "6", "scratch.rnn:RNNNode",
            "torch_impl.rnn:RNNNode", (f"{_P}test_recurrent.py::test_layer_parity",
                                       f"{_P}test_recurrent.py::test_node_parity_from_a_nonzero_state"),
            "W_f (V+H, H): weight_ih = W_f[:V].T, weight_hh = W_f[V:].T; bias_ih = B_f, bias_hh = 0"),
    Concept("gru", "GRU, PyTorch's variant (reset after the matmul, = nn.GRU)", "6", "scratch.gru:GRUNode",
            "torch_impl.gru:GRUNode", (f"{_P}test_recurrent.py::test_layer_parity",
                                       f"{_P}test_recurrent.py::test_node_parity_from_a_nonzero_state"),
            "W_x* (V, H), W_h* (H, H) -> weight_ih (3H, V), weight_hh (3H, H) in row blocks r, z, n; B_hh in "
            "bias_hh's n block"),
    Concept("gru-classic", "GRU, classic variant (the book's: reset before the matmul)", "6", "scratch.gru:GRUNode",
            "torch_impl.gru:ClassicGRUCell", (f"{_P}test_recurrent.py::test_layer_parity",
                                              f"{_P}test_recurrent.py::test_gru_variants_differ"),
            "as gru, without bias_hh"),
    Concept("lstm", "LSTM: LSTMNode (one step), LSTMLayer (over time)", "6", "scratch.lstm:LSTMNode",
            "torch_impl.lstm:LSTMNode", (f"{_P}test_recurrent.py::test_layer_parity",
                                         f"{_P}test_recurrent.py::test_reading_back_sums_the_two_torch_biases"),
            "W_f, W_i, W_c, W_o (V+H, H) -> weight_ih (4H, V), weight_hh (4H, H), rows i, f, g, o; biases in bias_ih, "
            "bias_hh = 0 (reading back sums the two)"),
    Concept("rnn-linear", "Time-distributed dense layer (the book's W_v projection)", "6",
            "scratch.recurrent:RNNLinear", "torch_impl.recurrent:RNNLinear",
            (f"{_P}test_recurrent.py::test_layer_parity",), "W (in, out) = nn.Linear.weight.T, as Dense"),
    Concept("adagrad", "AdaGrad (torch.optim.Adagrad's form)", "6", "scratch.adaptive:AdaGrad",
            "torch_impl.adaptive:AdaGrad", (f"{_P}test_adaptive.py::test_adagrad_matches_torch_optim_adagrad",
                                            f"{_P}test_adaptive.py::test_trainer_trajectories_match"),
            "state: sum of squared gradients, as torch.optim's 'sum'",
            tolerance_op="trajectory"),
    Concept("adam", "Adam (torch.optim.Adam's form)", "6", "scratch.adaptive:Adam", "torch_impl.adaptive:Adam",
            (f"{_P}test_adaptive.py::test_adam_matches_torch_optim_adam",
             f"{_P}test_recurrent.py::test_stacked_lstm_trajectory_with_adam"),
            "state: first and second moments, as torch.optim's exp_avg, exp_avg_sq", tolerance_op="trajectory"),
    Concept("gradient-clipping", "Gradient clipping by value and by norm", "6", "scratch.adaptive:clip_grad_norm",
            "torch_impl.adaptive:clip_grad_norm", (f"{_P}test_adaptive.py::test_clip_functions_match_torch_utils",
                                                   f"{_P}test_adaptive.py::test_clipping_options_match_torch_utils"),
            tolerance_op="trajectory"),
    # chapter 7: the convolutional autoencoder, and t-SNE to look at what it learned
    Concept("autoencoder", "Convolutional autoencoder: Conv2D x2, Dense, Dense, Reshape, Conv2D x2, MSE", "7",
            "scratch.autoencoder:Autoencoder", "torch_impl.autoencoder:Autoencoder",
            (f"{_P}test_autoencoder.py::test_autoencoder_parity",
             f"{_P}test_autoencoder.py::test_autoencoder_trajectory"),
            "each layer's own conversion (Conv2D: W.permute(1, 0, 2, 3); Dense: W.T), keys layers.<i>.<name>"),
    Concept("tsne", "Exact t-SNE: P, Q, KL(P || Q) and its gradient (sklearn referee)", "7",
            "scratch.tsne:kl_divergence", "torch_impl.tsne:kl_divergence",
            (f"{_P}test_tsne.py::test_kl_divergence_parity", f"{_P}test_tsne.py::test_joint_probabilities_parity"),
            "none: NumPy arrays in and out"),
]


def resolve(ref: str) -> object:
    """``"module:qualname"`` -> the object."""
    module, _, qual = ref.partition(":")
    obj: object = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def locate(ref: str) -> tuple[str, int]:
    """``"module:qualname"`` -> (repo-relative file, first line)."""
    obj = resolve(ref)
    path = Path(inspect.getsourcefile(obj)).resolve()  # type: ignore[arg-type]
    line = inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    return path.relative_to(ROOT).as_posix(), line


def find(key: str) -> Concept:
    """The concept named ``key``; an unknown name suggests the closest ones."""
    for c in CONCEPTS:
        if c.key == key:
            return c
    import difflib

    close = difflib.get_close_matches(key, [c.key for c in CONCEPTS], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(c.key for c in CONCEPTS)}"
    raise KeyError(f"unknown concept {key!r}{hint}")


def short_test(node: str) -> str:
    """``parity_tests/test_dense.py::test_x`` -> ``test_dense.py::test_x``."""
    path, sep, name = node.partition("::")
    return Path(path).name + sep + name


def readme_table() -> str:
    """The README's concept table (markdown), generated from ``CONCEPTS``."""
    lines = ["| concept | chapter | scratch source | torch source | parity test |", "|---|---|---|---|---|"]
    for c in CONCEPTS:
        (sf, sl), (tf, tl) = locate(c.scratch), locate(c.torch)
        s_name, t_name = c.scratch.split(":")[1], c.torch.split(":")[1]
        tests = ", ".join(f"[{short_test(t)}]({t.split('::')[0]})" for t in c.tests) or "-"
        lines.append(f"| {c.title} | {c.chapter} | [`{s_name}`]({sf}#L{sl}) | [`{t_name}`]({tf}#L{tl}) | {tests} |")
    return "\n".join(lines)


def load_last_parity(path: Path = LAST_PARITY) -> dict[str, Any]:
    """The last ``dlfs parity`` results: ``{concept: {dtype: summary}}`` (empty when never run)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); delete it and run `dlfs parity` again") from None


def save_last_parity(results: dict[str, dict[str, Any]], path: Path = LAST_PARITY) -> Path:
    """Merge ``results`` (``{concept: {dtype: summary}}``) into the file, atomically; concepts no longer in the
    registry are dropped, and the order is the registry's, so the committed file diffs cleanly."""
    from dlfs.io import save_json

    merged = load_last_parity(path)
    for key, by_dtype in results.items():
        merged.setdefault(key, {}).update(by_dtype)
    order = [c.key for c in CONCEPTS]
    merged = {k: dict(sorted(merged[k].items(), reverse=True)) for k in order if k in merged}  # float64 first
    return save_json(path, merged)


def table_rows(last: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The concept map, one dict per concept: the registry plus file:line from ``inspect`` and the last parity."""
    last = load_last_parity() if last is None else last
    rows = []
    for c in CONCEPTS:
        (sf, sl), (tf, tl) = locate(c.scratch), locate(c.torch)
        rows.append({"concept": c.key, "title": c.title, "chapter": c.chapter,
                     "scratch": {"object": c.scratch, "file": sf, "line": sl},
                     "torch": {"object": c.torch, "file": tf, "line": tl},
                     "tests": list(c.tests), "doc": c.doc_page, "tolerance_op": c.tolerance_op,
                     "conversion": c.conversion, "last_parity": last.get(c.key, {})})
    return rows


README_BEGIN = "<!-- concept-table:begin (generated by `dlfs concepts --readme`; do not edit) -->"
README_END = "<!-- concept-table:end -->"


TOLERANCE_BEGIN = "<!-- tolerance-table:begin (generated by `dlfs concepts --readme`; do not edit) -->"
TOLERANCE_END = "<!-- tolerance-table:end -->"
PARITY_DOC = ROOT / "docs" / "parity.md"


def tolerance_table() -> str:
    """docs/parity.md's tolerance table (markdown), generated from ``dlfs.tolerances.TOLERANCES``."""
    from dlfs.tolerances import TOLERANCES

    lines = ["| op | dtype | rtol | atol | why |", "|---|---|---|---|---|"]
    for (op, dtype), t in TOLERANCES.items():
        lines.append(f"| `{op}` | {dtype} | {t.rtol:.0e} | {t.atol:.0e} | {t.why.replace('|', '/')} |")
    return "\n".join(lines)


def _rewrite_between(path: Path, begin: str, end: str, content: str) -> bool:
    """Replace what lies between the markers ``begin`` and ``end`` in ``path``; True when the file changed."""
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{path}: the markers {begin!r} and {end!r} are missing")
    start, stop = text.index(begin) + len(begin), text.index(end)
    new = text[:start] + "\n" + content + "\n" + text[stop:]
    if new != text:
        from dlfs.io import atomic_write

        atomic_write(path, lambda f: f.write(new.encode()))
    return new != text


def update_readme(path: Path = ROOT / "README.md") -> bool:
    """Rewrite the table between the markers in README.md; returns True when it changed."""
    return _rewrite_between(path, README_BEGIN, README_END, readme_table())


def update_tolerance_doc(path: Path = PARITY_DOC) -> bool:
    """Rewrite the tolerance table between the markers in docs/parity.md; returns True when it changed."""
    return _rewrite_between(path, TOLERANCE_BEGIN, TOLERANCE_END, tolerance_table())
