"""Every concept's parity, from its one definition in the registry (``study/chapters/``).

`dlfs parity` runs the very same specifications, so the two report the same checks: for a layer, the
forward output, the input gradient and every parameter gradient at batch 1 and 4 from random non-zero
weights and a random upstream gradient (plus finite differences on the scratch side in float64); for an
optimiser, the parameters and history after training from the same weights on the same batches; where a
concept has a book form distinct from its fast form, the book form against the fast form as well. Extra
cases live in the test files named in each concept's ``tests``.
"""

from __future__ import annotations

import pytest

from study.concepts import CONCEPTS
from study.parity import ParityReport
from study.runner import is_oracle, run
from study.spec import DTYPES, LayerSpec


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", [c.key for c in CONCEPTS])
def test_concept_parity(key, dtype):
    concept = next(c for c in CONCEPTS if c.key == key)
    reports = concept.check(dtype)  # a comparison beyond its tolerance raises, with the numbers
    assert reports and all(isinstance(r, ParityReport) and r.comparisons for r in reports)
    worst = max(c.max_rel for r in reports if not is_oracle(r) for c in r.comparisons)
    # form against form, oracles aside: measured at most 6e-15 (float64) and 5.3e-6 (float32, Winograd), far
    # inside the tolerances (1e-9..1e-7, 1e-5..1e-4), so a drift shows here before a tolerance hides it
    assert worst < (1e-12 if dtype == "float64" else 2e-5), (key, worst)
    if concept.fast is not None:  # three-way: the book form was held to the fast form too
        assert any("book" in r.concept for r in reports), [r.concept for r in reports]
    for spec in concept.specs:
        if isinstance(spec, LayerSpec):
            names = {r.concept for r in reports}
            assert any("batch 1" in n for n in names) and any("batch 4" in n for n in names)
            if spec.finite_differences and dtype == "float64":
                assert any("finite differences" in n for n in names)


def test_runner_records_a_failure_instead_of_raising(monkeypatch):
    import scratch.dense

    monkeypatch.setattr(scratch.dense.BiasAdd, "_param_grad", lambda self, g: 0.999 * g.sum(axis=0,
                                                                                           keepdims=True))
    outcome = run("dense", "float64")
    assert not outcome.passed and "grad:B: values differ" in outcome.error
    assert run("tanh", "float64").passed  # the other concepts are unaffected
