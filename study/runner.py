"""Running a concept's parity outside pytest: what `dlfs parity` and `dlfs regenerate` do.

``run(key, dtype)`` runs the concept's registry specification (the same one ``parity_tests/test_concepts.py``
runs) and returns an ``Outcome``: the reports it made, or the failure's message. A failed comparison is
recorded, not raised, so one broken concept does not hide the others.

    from study.runner import run
    outcome = run("dense", "float32")        # Outcome(passed=True, reports=[...])
"""

from __future__ import annotations

import contextlib
import io
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from study.concepts import find
from study.parity import Comparison, ParityReport
from study.spec import DTYPES

GROUPS = (("output", "forward"), ("input_grad", "input grad"), ("grad:", "param grads"), ("param:", "params"),
          ("history:", "history"))


def group_of(name: str) -> str:
    """The row a comparison is reported in: forward, input grad, param grads, params (after training),
    history."""
    for prefix, label in GROUPS:
        if name.startswith(prefix):
            return label
    return name


def is_oracle(report: ParityReport) -> bool:
    """A report against a third opinion (finite differences, scikit-learn), not one form against another."""
    return "finite differences" in report.concept or "referee" in report.concept


@dataclass
class Outcome:
    """The result of one concept's check at one dtype."""

    concept: str
    dtype: str
    reports: list[ParityReport] = field(default_factory=list)
    error: str | None = None  # the AssertionError's message (or the exception) when the check failed
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None

    def rows(self) -> list[dict[str, Any]]:
        """One row per (report, group): worst max abs / rel error, and the tolerance of the comparison with
        the largest relative error."""
        out = []
        for r in self.reports:
            groups: dict[str, list[Comparison]] = {}
            for c in r.comparisons:
                groups.setdefault(group_of(c.name), []).append(c)
            for label, cs in groups.items():
                worst = max(cs, key=lambda c: c.max_rel)
                out.append({"check": r.concept, "quantity": label, "n": len(cs),
                            "max_abs": max(c.max_abs for c in cs), "max_rel": max(c.max_rel for c in cs),
                            "rtol": worst.rtol, "atol": worst.atol})
        return out

    def summary(self) -> dict[str, Any]:
        """Pass/fail and the worst errors per group of the comparisons between forms (oracles aside)."""
        paired = [c for r in self.reports if not is_oracle(r) for c in r.comparisons]
        return {"passed": self.passed, "error": self.error, "seconds": round(self.seconds, 3),
                "max_abs": max((c.max_abs for c in paired), default=None),
                "max_rel": max((c.max_rel for c in paired), default=None),
                "groups": _worst(paired, lambda c: group_of(c.name)),
                "quantities": _worst(paired, quantity_of),
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def quantity_of(c: Comparison) -> str:
    """The quantity a comparison measures, across batch sizes and form pairs: ``forward``, ``input grad``,
    ``grad W_f`` (one row per parameter gradient), ``param W`` (after training), ``history ...``."""
    for prefix, label in (("output", "forward"), ("input_grad", "input grad")):
        if c.name.startswith(prefix):
            return label + c.name[len(prefix):]
    head, sep, rest = c.name.partition(":")
    return f"{head} {rest}" if sep else c.name


def _worst(comparisons: list[Comparison], key: Callable[[Comparison], str]) -> dict[str, dict[str, float]]:
    """Per key: the worst max abs and max rel error, and the tolerance (rtol, atol) they were held to."""
    out: dict[str, dict[str, float]] = {}
    for c in comparisons:
        g = out.setdefault(key(c), {"max_abs": 0.0, "max_rel": 0.0, "rtol": c.rtol, "atol": c.atol})
        g["max_abs"], g["max_rel"] = max(g["max_abs"], c.max_abs), max(g["max_rel"], c.max_rel)
        g["rtol"], g["atol"] = min(g["rtol"], c.rtol), min(g["atol"], c.atol)
    return out


def run(key: str, dtype: str = "float64") -> Outcome:
    """Run the parity specification of concept ``key`` at ``dtype``; a failure is recorded, not raised."""
    concept = find(key)
    if dtype not in DTYPES:
        raise ValueError(f"dtype: expected one of {list(DTYPES)}, got {dtype!r}")
    t0 = time.perf_counter()
    outcome = Outcome(key, dtype)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the Trainers' own messages (early stopping)
            outcome.reports = concept.check(dtype)
    except AssertionError as e:
        outcome.error = str(e) or "assertion failed"
    except Exception as e:  # a concept being built right now may not even import: report it, keep going
        outcome.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
    outcome.seconds = time.perf_counter() - t0
    return outcome
