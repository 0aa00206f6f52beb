"""`dlfs show`: the book form beside the torch form, method by method, without wrapped lines, with what the
two sides share said once (and measured by `dlfs show --stats`)."""

from __future__ import annotations

import re

import pytest

from study import concepts as reg
from study.cli import main
from study.show import ROLES, members, pair_members, render

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def show(capsys, *argv: str) -> str:
    code = main(["show", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_dense_shows_the_operations_and_the_torch_autograd(capsys):
    out = show(capsys, "dense", "--width", "160")
    assert not ANSI.search(out)  # captured stdout is not a terminal: plain text
    assert all(len(x) <= 160 for x in out.splitlines())
    assert "WeightMultiply: x @ W;  dL/dx = g @ W^T" in out  # the equations, from the docstrings
    for method in ("WeightMultiply._output", "WeightMultiply._input_grad", "WeightMultiply._param_grad",
                   "BiasAdd._param_grad"):
        assert method in out, method
    assert "return output_grad @ self.param.T" in out  # the backward math itself
    assert re.search(r"inherited TorchLayer\.backward \(torch_impl/base\.py:\d+\)", out)
    assert "weight conversion: W (in, out) = nn.Linear.weight.T" in out
    assert "tolerance float64 ('default' in dlfs/tolerances.py): rtol=1e-09 atol=1e-12" in out
    assert "docs: docs/dense.md" in out and "test_concepts.py::test_concept_parity[dense-*]" in out


@pytest.mark.parametrize("width", [120, 160, 230])
def test_lstm_pairs_methods_without_wrapping_a_line(capsys, width):
    out = show(capsys, "lstm", "--width", str(width))
    lines = out.splitlines()
    assert all(len(x) <= width for x in lines)
    assert not any(x.rstrip().endswith("\u2026") for x in lines)  # nothing was cut
    book = (reg.ROOT / "scratch/lstm.py").read_text().splitlines()
    forward = next(m for m in members("scratch.lstm:LSTMNode") if m.name == "forward")
    for no, text in enumerate(forward.lines, forward.first):  # every line of the book's forward, whole
        assert text == book[no - 1]
        assert any(x.split(" | ")[0].rstrip().endswith(text.rstrip()) and x.lstrip().startswith(str(no))
                   for x in lines) or "the same on both sides" in out, text
    assert re.search(r"forward: LSTMNode\.forward +scratch/lstm\.py:\d+", out)
    assert re.search(r"LSTMNode\.forward +torch_impl/lstm\.py:\d+", out)
    assert "f = sigma(z W_f + B_f)" in out  # the equations
    if width >= 230:  # wide enough for two columns
        assert any(" | " in x and re.match(r"\s*\d+ ", x) for x in lines)


def test_pairing_is_by_role_then_name():
    left = members("scratch.rnn:RNNNode")
    right = members("torch_impl.rnn:RNNNode")
    pairs = pair_members(left, right)
    assert [role for role, _, _ in pairs] == sorted((role for role, _, _ in pairs), key=ROLES.index)
    by_name = {(ls[0].name if ls else None, rs[0].name if rs else None) for _, ls, rs in pairs}
    assert ("forward", "forward") in by_name and ("backward", "backward") in by_name


@pytest.mark.parametrize("width", [160, 230])
def test_what_both_sides_share_is_said_once(width):
    for c in reg.CONCEPTS:
        stats = render(c.scratch_objects, c.torch_objects, width).stats
        assert stats.shown > 0, c.key
        assert stats.twice == 0, (c.key, stats.twice)  # every identical line is said once
    dense = render(reg.find("dense").scratch_objects, reg.find("dense").torch_objects, 160).stats
    assert dense.said_once > 0 and dense.share_before > dense.share  # folding did something real


def test_stats_prints_every_concept_and_form(capsys):
    out = show(capsys, "--stats", "--width", "160")
    rows = [x.split() for x in out.splitlines()[2:] if x and x.split()[0] in reg.keys()]
    assert {r[0] for r in rows} == set(reg.keys())
    assert {(r[0], r[1]) for r in rows} >= {("lstm", "book"), ("lstm", "fast"), ("dense", "book")}
    assert all(float(r[4].rstrip("%")) < 10 for r in rows)


def test_fast_and_full(capsys):
    out = show(capsys, "lstm", "--fast", "--width", "160")
    assert "scratch/fast/lstm.py" in out and "the scratch fast form" in out
    out = show(capsys, "conv2d", "--full", "--width", "200")
    assert out.count("scratch/conv.py") >= 1 and "torch_impl/conv.py" in out
    assert all(len(x) <= 200 for x in out.splitlines())


def test_highlights_when_asked(capsys):
    out = show(capsys, "sigmoid", "--width", "120", "--color", "always")
    assert ANSI.search(out)
    assert all(len(ANSI.sub("", x)) <= 120 for x in out.splitlines())  # colour codes take no width


def test_narrow_terminals_cut_cleanly(capsys):
    out = show(capsys, "mse", "--width", "80")
    assert all(len(x) <= 80 for x in out.splitlines())


def test_bad_input(capsys):
    assert main(["show", "dens"]) == 2
    assert "unknown concept 'dens'; did you mean 'dense'?" in capsys.readouterr().err
    assert main(["show"]) == 2 and "expected one concept" in capsys.readouterr().err
    assert main(["show", "dense", "--width", "0"]) == 2
