"""A concept of the book and its parity specification: one definition that `dlfs parity`, the test suite
(``parity_tests/test_concepts.py``), `dlfs show` and the concept table all read.

A ``Concept`` names where it lives in each form (the scratch book form, the scratch fast form when it
differs, the torch form) and carries its ``parity`` spec. A spec is one of

- ``LayerSpec``: a layer or network built by ``build(B)`` in every form, compared at batch 1 and 4 (forward
  output, input gradient, every parameter gradient, from random non-zero weights and a random upstream
  gradient), plus the scratch side against centred finite differences in float64;
- ``TrajectorySpec``: a network and an optimiser trained by each backend's ``Trainer`` from the same
  weights on the same batches, every parameter and the recorded history compared afterwards;
- ``CheckSpec``: a function ``check(dtype) -> [ParityReport, ...]`` for what is neither (functions of
  chapter 1, losses, t-SNE's pieces, initialisation).

Where a concept has a distinct book form, every spec holds it to the fast form as well (three-way parity:
book = fast = torch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from study.parity import (
    Comparison,
    ParityReport,
    check_finite_differences,
    check_layer_parity,
    check_trajectory,
)

BATCHES = (1, 4)
DTYPES = ("float64", "float32")
Build = Callable[[ModuleType, str], Any]  # (form namespace, dtype) -> a layer, network or optimiser


def report(concept: str, dtype: str, comparisons: list[Comparison]) -> ParityReport:
    """A ``ParityReport`` of comparisons made by hand (a ``CheckSpec``)."""
    r = ParityReport(concept, dtype)
    for c in comparisons:
        r.add(c)
    return r


def _at(build: Build, dtype: str) -> Callable[[ModuleType], Any]:
    """``build`` with its dtype fixed: what the harness's helpers take (a function of the namespace)."""
    return lambda B: build(B, dtype)


@dataclass(frozen=True)
class LayerSpec:
    """A layer (or network) compared in every form at batch sizes 1 and 4.

    ``shape`` is one sample's input shape (no batch axis); inputs are ``x_scale * N(0, 1)``. ``op`` is the
    tolerance row; ``training`` runs the forward in training mode (dropout); ``finite_differences`` adds the
    scratch side against centred differences in float64, with inputs moved off the kinks at 0.
    """

    build: Build
    shape: tuple[int, ...]
    op: str = "default"
    x_scale: float = 1.0
    training: bool = False
    finite_differences: bool = True
    weight_scale: float = 0.5
    label: str = ""

    def run(self, concept: str, dtype: str, book: bool) -> list[ParityReport]:
        name = f"{concept} {self.label}".strip()
        build = _at(self.build, dtype)
        reports = []
        for i, batch in enumerate(BATCHES):
            x = np.random.default_rng(10 + i).standard_normal((batch, *self.shape)) * self.x_scale
            pairs = [("scratch", "torch")] + ([("book", "scratch")] if book else [])
            for forms in pairs:
                what = "" if forms == ("scratch", "torch") else " book vs fast"
                reports.append(check_layer_parity(
                    f"{name} batch {batch}{what}", build, x.shape, dtype, seed=i, op=self.op, x=x,
                    training=self.training, scale=self.weight_scale, forms=forms))
        if self.finite_differences and dtype == "float64":
            x = np.random.default_rng(12).standard_normal((BATCHES[-1], *self.shape)) * self.x_scale
            x[np.abs(x) < 1e-2] = 0.5  # away from kinks (ReLU at 0), where no derivative exists
            reports.append(check_finite_differences(name, build, x.shape, x=x, scale=self.weight_scale,
                                                    form="book" if book else "scratch"))
        return reports


@dataclass(frozen=True)
class TrajectorySpec:
    """``build_net(B)`` trained with ``build_optimizer(B)`` by each backend's ``Trainer`` on ``data()``
    (X, y) for ``epochs`` epochs of ``batch_size``; parameters and history compared (``trajectory`` row)."""

    build_net: Build
    build_optimizer: Build
    data: Callable[[], tuple[np.ndarray, np.ndarray]]
    epochs: int
    batch_size: int
    fit_kwargs: Mapping[str, Any] = field(default_factory=dict)
    op: str = "trajectory"
    label: str = ""

    def run(self, concept: str, dtype: str, book: bool) -> list[ParityReport]:
        X, y = self.data()
        name = f"{concept} {self.label}".strip()
        pairs = [("scratch", "torch")] + ([("book", "scratch")] if book else [])
        return [check_trajectory(name + ("" if forms[0] == "scratch" else " book vs fast"),
                                 _at(self.build_net, dtype), _at(self.build_optimizer, dtype), X, y,
                                 self.epochs, self.batch_size, dtype,
                                 fit_kwargs=self.fit_kwargs, compare_history=True, forms=forms)
                for forms in pairs]


@dataclass(frozen=True)
class CheckSpec:
    """``check(dtype) -> [ParityReport, ...]``: a concept compared by hand (its docstring says how)."""

    check: Callable[[str], list[ParityReport]]
    op: str = "default"

    def run(self, concept: str, dtype: str, book: bool) -> list[ParityReport]:
        return self.check(dtype)


Spec = LayerSpec | TrajectorySpec | CheckSpec


@dataclass(frozen=True)
class Concept:
    """One concept of the book: where it lives in each form, its parity spec, and its extra tests.

    ``scratch``/``torch``/``fast`` are ``"module:qualname"`` references (a class, a function or a method).
    ``scratch`` is the book form, what a learner reads first; ``fast`` is the fast form that training uses
    when it differs (None: the book form is the fast form). ``show_scratch``/``show_torch`` are the objects
    `dlfs show` pairs (default: the main one of each side). ``tests`` are the test-file cases beyond the
    registry's own check (``test_concepts.py::test_concept_parity[<key>-<dtype>]``). ``equations`` are
    LaTeX (the study site renders them as MathML); ``book_code`` says what the book's own code does wrong
    here, if anything, and which choice both backends make instead.
    """

    key: str  # short name for `dlfs show KEY` and `dlfs parity KEY`
    title: str
    chapter: str
    scratch: str
    torch: str
    parity: Spec | tuple[Spec, ...]
    tests: tuple[str, ...] = ()
    fast: str | None = None
    show_scratch: tuple[str, ...] = ()
    show_torch: tuple[str, ...] = ()
    conversion: str = "identical canonical arrays (no parameters or same layout)"
    doc: str = ""  # its docs page; empty: the chapter's page
    equations: tuple[str, ...] = ()  # the book's equations in LaTeX, in the book's order and notation
    book_code: str = ""  # where the book's own code goes wrong for this concept (Markdown), or says it does not

    @property
    def shared(self) -> bool:
        """Written once in the ``dlfs`` core and run by both backends (the fit loop's early stopping)."""
        return self.scratch == self.torch

    @property
    def specs(self) -> tuple[Spec, ...]:
        return self.parity if isinstance(self.parity, tuple) else (self.parity,)

    @property
    def scratch_objects(self) -> tuple[str, ...]:
        return self.show_scratch or (self.scratch,)

    @property
    def torch_objects(self) -> tuple[str, ...]:
        return self.show_torch or (self.torch,)

    def check(self, dtype: str) -> list[ParityReport]:
        """Every report of this concept's parity at ``dtype``; a failed comparison raises AssertionError."""
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {list(DTYPES)}, got {dtype!r}")
        return [r for spec in self.specs for r in spec.run(self.key, dtype, self.fast is not None)]
