"""The concept registry: every concept of the book, its scratch and torch objects, and its parity tests.

The README's concept table and ``dlfs concepts`` are generated from this list, and file:line locations come from
``inspect``, so neither can drift from the code (a test fails when the README is stale).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Concept:
    key: str  # short name for `dlfs show KEY`
    title: str
    chapter: str
    scratch: str  # "module:qualname" of the NumPy implementation
    torch: str  # "module:qualname" of the PyTorch implementation
    tests: tuple[str, ...]  # parity test files (pytest node ids allowed)
    conversion: str = "identical canonical arrays (no parameters or same layout)"
    doc: str = "docs/conventions.md"
    tolerance_op: str = "default"


CONCEPTS: list[Concept] = [
    Concept("linear-regression", "Linear regression (Dense(1) + closed form, sklearn referee)", "2",
            "scratch.linear_regression:closed_form_linear_regression",
            "torch_impl.linear_regression:closed_form_linear_regression",
            ("parity_tests/test_linear_regression.py",), "W (in, 1), B (1, 1) as a Dense(1) state dict"),
    Concept("sigmoid", "Sigmoid activation", "2", "scratch.activations:Sigmoid", "torch_impl.activations:Sigmoid",
            ("parity_tests/test_dense.py::test_activation_parity",), tolerance_op="activation"),
    Concept("tanh", "Tanh activation", "3", "scratch.activations:Tanh", "torch_impl.activations:Tanh",
            ("parity_tests/test_dense.py::test_activation_parity",), tolerance_op="activation"),
    Concept("relu", "ReLU activation", "3", "scratch.activations:ReLU", "torch_impl.activations:ReLU",
            ("parity_tests/test_dense.py::test_activation_parity",), tolerance_op="activation"),
    Concept("linear", "Linear (identity) activation", "3", "scratch.activations:Linear",
            "torch_impl.activations:Linear", ("parity_tests/test_dense.py::test_activation_parity",),
            tolerance_op="activation"),
    Concept("dense", "Dense layer: WeightMultiply, BiasAdd, activation", "3", "scratch.dense:Dense",
            "torch_impl.dense:Dense", ("parity_tests/test_dense.py::test_model_parity",),
            "W (in, out) = nn.Linear.weight.T; B (1, out) = nn.Linear.bias[None, :]"),
    Concept("mse", "Mean squared error (sum over outputs, mean over batch)", "2", "scratch.losses:MeanSquaredError",
            "torch_impl.losses:MeanSquaredError",
            ("parity_tests/test_dense.py::test_mse_parity_and_finite_differences",)),
    Concept("network", "NeuralNetwork (layers + loss)", "3", "scratch.network:NeuralNetwork",
            "torch_impl.network:NeuralNetwork", ("parity_tests/test_dense.py::test_model_parity",),
            "keys layers.<i>.<name>, each layer's canonical layout"),
    Concept("sgd", "SGD and the Trainer (100-step trajectory)", "3", "scratch.optimizers:SGD",
            "torch_impl.optimizers:SGD", ("parity_tests/test_dense.py::test_trajectory_100_sgd_steps",),
            tolerance_op="trajectory"),
    Concept("trainer", "Trainer: seeded batch order, eval every N epochs", "3", "scratch.trainer:Trainer",
            "torch_impl.trainer:Trainer", ("parity_tests/test_dense.py::test_trajectory_100_sgd_steps",),
            tolerance_op="trajectory"),
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


def readme_table() -> str:
    """The README's concept table (markdown), generated from ``CONCEPTS``."""
    lines = ["| concept | chapter | scratch source | torch source | parity test |", "|---|---|---|---|---|"]
    for c in CONCEPTS:
        (sf, sl), (tf, tl) = locate(c.scratch), locate(c.torch)
        s_name, t_name = c.scratch.split(":")[1], c.torch.split(":")[1]
        tests = ", ".join(f"[{Path(t.split('::')[0]).name}{'::' + t.split('::')[1] if '::' in t else ''}]"
                          f"({t.split('::')[0]})" for t in c.tests)
        lines.append(f"| {c.title} | {c.chapter} | [`{s_name}`]({sf}#L{sl}) | [`{t_name}`]({tf}#L{tl}) | {tests} |")
    return "\n".join(lines)


README_BEGIN = "<!-- concept-table:begin (generated by `dlfs concepts --readme`; do not edit) -->"
README_END = "<!-- concept-table:end -->"


def update_readme(path: Path = ROOT / "README.md") -> bool:
    """Rewrite the table between the markers in README.md; returns True when it changed."""
    text = path.read_text()
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    new = text[:start] + "\n" + readme_table() + "\n" + text[end:]
    if new != text:
        from dlfs.io import atomic_write

        atomic_write(path, lambda f: f.write(new.encode()))
    return new != text
