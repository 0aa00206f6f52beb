"""The `dlfs` command: concepts, show, parity, run, compare; their bad input; and the console script itself.

Everything but the last test calls ``study.cli.main([...])`` in-process; results of `dlfs parity` go to a
temporary file, never to the committed parity_tests/last_parity.json.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.common import base_parser
from study import concepts as reg
from study import parity_suite
from study.cli import divergence, main, paired_histories

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- the registry -------------------------------------------------------------------------------------------------

def test_registry_is_in_book_order_with_a_check_for_every_concept():
    chapters = [int(c.chapter) for c in reg.CONCEPTS]
    assert chapters == sorted(chapters) and chapters[0] == 1
    keys = [c.key for c in reg.CONCEPTS]
    assert len(keys) == len(set(keys))
    assert set(parity_suite.CHECKS) == set(keys)


def test_registry_points_at_real_objects_and_tests():
    for c in reg.CONCEPTS:
        for ref in (c.scratch, c.torch):
            obj = reg.resolve(ref)
            file, line = reg.locate(ref)
            name = ref.split(":")[1].split(".")[-1]
            head = (reg.ROOT / file).read_text().splitlines()[line - 1: line + 3]  # decorators come first
            assert any(re.match(rf"\s*(class|def) {name}\b", x) for x in head), (ref, head)
            assert inspect.getsourcelines(obj)[1] == line
        assert not c.scratch.startswith("torch") and c.torch.startswith("torch_impl.")
        for node in c.tests:
            path, _, test = node.partition("::")
            text = (reg.ROOT / path).read_text()
            assert not test or f"def {test}(" in text, f"{c.key}: {node} does not exist"


# --- dlfs concepts --------------------------------------------------------------------------------------------------

def test_concepts_table_and_json(capsys, tmp_path):
    code, out, _ = run(capsys, "concepts", "--results", str(tmp_path / "none.json"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["concept", "ch", "object"]
    for c in reg.CONCEPTS:
        row = next(x for x in lines if x.split()[:1] == [c.key])
        assert f"{reg.locate(c.scratch)[0]}:{reg.locate(c.scratch)[1]}" in row
        assert f"{reg.locate(c.torch)[0]}:{reg.locate(c.torch)[1]}" in row
        assert row.split()[-2:] == ["-", "-"]  # never run: no error to show
    code, out, _ = run(capsys, "concepts", "--json", "--results", str(tmp_path / "none.json"))
    rows = json.loads(out)
    assert [r["concept"] for r in rows] == [c.key for c in reg.CONCEPTS]
    dense = rows[[r["concept"] for r in rows].index("dense")]
    assert dense["scratch"] == {"object": "scratch.dense:Dense", "file": "scratch/dense.py",
                                "line": reg.locate("scratch.dense:Dense")[1]}
    assert dense["doc"] == "docs/dense.md" and dense["last_parity"] == {}


def test_concepts_show_the_last_parity_errors(capsys, tmp_path):
    results = tmp_path / "last.json"
    assert run(capsys, "parity", "dense", "relu", "--dtype", "float32", "--results", str(results))[0] == 0
    code, out, _ = run(capsys, "concepts", "--results", str(results))
    row = next(x for x in out.splitlines() if x.startswith("dense "))
    f64, f32 = row.split()[-2:]
    assert f64 == "-" and 0 < float(f32) < 1e-4  # float32 was run, float64 not
    saved = json.loads(results.read_text())
    assert list(saved) == ["relu", "dense"]  # the registry's order, whatever order they ran in
    assert saved["dense"]["float32"]["passed"] is True
    assert saved["dense"]["float32"]["max_rel"] == pytest.approx(float(f32), rel=0.06)
    # a second run merges: dense gains float64, relu keeps its float32 result
    assert run(capsys, "parity", "dense", "--dtype", "float64", "--results", str(results))[0] == 0
    saved = json.loads(results.read_text())
    assert set(saved["dense"]) == {"float32", "float64"} and set(saved["relu"]) == {"float32"}
    assert saved["dense"]["float64"]["max_rel"] < 1e-12
    assert [p.name for p in tmp_path.iterdir()] == ["last.json"]  # atomic write: no temporary left behind


def test_committed_last_parity_names_only_registered_concepts():
    saved = reg.load_last_parity()
    assert saved, "parity_tests/last_parity.json is missing: run `dlfs parity`"
    assert set(saved) <= {c.key for c in reg.CONCEPTS}
    assert all(r["passed"] for by_dtype in saved.values() for r in by_dtype.values())


# --- dlfs parity ----------------------------------------------------------------------------------------------------

def test_parity_json_reports_every_quantity_within_tolerance(capsys, tmp_path):
    code, out, _ = run(capsys, "parity", "dense", "--json", "--results", str(tmp_path / "r.json"))
    assert code == 0
    results = json.loads(out)
    assert [(r["concept"], r["dtype"]) for r in results] == [("dense", "float64"), ("dense", "float32")]
    for r in results:
        assert r["passed"] and r["error"] is None
        rows = [x for x in r["rows"] if "finite differences" not in x["check"]]
        assert {x["check"] for x in rows} == {"dense batch 1", "dense batch 4"}
        assert {x["quantity"] for x in rows} == {"forward", "input grad", "param grads"}
        for x in rows:
            assert 0 < x["max_rel"] <= x["rtol"]  # a real, non-zero error, within its tolerance
            assert x["rtol"] == (1e-9 if r["dtype"] == "float64" else 1e-4)
    fd = [x for x in results[0]["rows"] if "finite differences" in x["check"]]
    assert {x["quantity"] for x in fd} == {"input grad", "param grads"}


def test_parity_table_output(capsys, tmp_path):
    code, out, _ = run(capsys, "parity", "tanh", "--dtype", "float64", "--no-save",
                       "--results", str(tmp_path / "r.json"))
    assert code == 0 and not (tmp_path / "r.json").exists()
    assert out.splitlines()[0].split() == ["concept", "dtype", "check", "quantity", "max", "abs", "max", "rel",
                                           "rtol", "atol", "status"]
    assert "tanh batch 4" in out and "1 of 1 checks passed" in out


def test_parity_fails_with_a_broken_backward(capsys, tmp_path, monkeypatch):
    import scratch.dense

    def wrong(self, output_grad):  # dL/dx off by 0.1%: the kind of bug the suite is for
        return 1.001 * output_grad @ self.param.T

    monkeypatch.setattr(scratch.dense.WeightMultiply, "_input_grad", wrong)
    results = tmp_path / "r.json"
    code, out, _ = run(capsys, "parity", "dense", "--dtype", "float64", "--results", str(results))
    assert code == 1
    assert "FAIL dense [float64]: input_grad: values differ" in out and "0 of 1 checks passed" in out
    saved = json.loads(results.read_text())["dense"]["float64"]
    assert saved["passed"] is False and "input_grad" in saved["error"]
    code, out, _ = run(capsys, "concepts", "--results", str(results))
    assert next(x for x in out.splitlines() if x.startswith("dense ")).split()[-2] == "FAIL"


@pytest.mark.parametrize("dtype", parity_suite.DTYPES)
def test_every_check_passes(dtype):
    for key in parity_suite.CHECKS:
        outcome = parity_suite.run(key, dtype)
        assert outcome.passed, f"{key}: {outcome.error}"
        assert outcome.reports and all(r.comparisons for r in outcome.reports)
        assert outcome.summary()["max_rel"] < (1e-9 if dtype == "float64" else 1e-3), key


# --- dlfs show ------------------------------------------------------------------------------------------------------

def test_show_dense_side_by_side(capsys):
    code, out, _ = run(capsys, "show", "dense", "--width", "140")
    assert code == 0
    assert not ANSI.search(out)  # captured stdout is not a terminal: plain text
    lines = out.splitlines()
    assert all(len(x) <= 140 for x in lines)
    s_line, t_line = reg.locate("scratch.dense:Dense")[1], reg.locate("torch_impl.dense:Dense")[1]
    first = next(x for x in lines if "class Dense(" in x)
    assert re.match(rf"{s_line} class Dense\(Layer\):\s+\| {t_line} class Dense\(TorchLayer\):$", first)
    assert any(re.search(r"\| +\d+ +self\.linear = nn\.Linear\(", x) for x in lines)  # torch side, right column
    assert "weight conversion: W (in, out) = nn.Linear.weight.T" in out
    assert "tolerance float64 ('default' in dlfs/tolerances.py): rtol=1e-09 atol=1e-12" in out
    assert "tolerance float32 ('default' in dlfs/tolerances.py): rtol=1e-04 atol=1e-06" in out
    assert "docs: docs/dense.md" in out and "docs/conventions.md" in out


def test_show_highlights_when_asked(capsys):
    code, out, _ = run(capsys, "show", "sigmoid", "--width", "120", "--color", "always")
    assert code == 0 and ANSI.search(out)
    assert all(len(ANSI.sub("", x)) <= 120 for x in out.splitlines())  # colour codes do not count as width


def test_show_wraps_long_lines_without_losing_text(capsys):
    code, out, _ = run(capsys, "show", "mse", "--width", "80")
    assert code == 0
    left = " ".join(x.split(" | ")[0].strip() for x in out.splitlines()[3:] if " | " in x)
    assert "squared error summed over outputs, averaged over the batch" in re.sub(r"\s+", " ", left)


# --- bad input ------------------------------------------------------------------------------------------------------

def test_unknown_concept_suggests_the_closest(capsys):
    code, _, err = run(capsys, "show", "dens")
    assert code == 2 and "unknown concept 'dens'; did you mean 'dense'?" in err
    code, _, err = run(capsys, "parity", "softmax")
    assert code == 2 and "did you mean 'softmax-cross-entropy'" in err


def test_unknown_experiment_suggests_the_closest(capsys):
    code, _, err = run(capsys, "run", "regresion")
    assert code == 2 and "unknown experiment 'regresion'; did you mean 'regression'?" in err
    code, _, err = run(capsys, "compare", "dmeo")
    assert code == 2 and "did you mean 'demo'?" in err


def test_out_that_exists_and_is_not_empty_is_refused(capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("a user's file")
    code, _, err = run(capsys, "run", "foundations", "--out", str(tmp_path), "--no-progress")
    assert code == 1 and "exists and is not empty; pass --overwrite" in err
    code, _, err = run(capsys, "compare", "demo", "--out", str(tmp_path), "--no-progress")
    assert code == 1 and "exists and is not empty" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"] and (tmp_path / "keep.txt").read_text() == \
        "a user's file"


def test_unwritable_out_is_refused(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run(capsys, "run", "demo", "--out", str(blocker / "run"), "--no-progress")
    assert code == 1 and "is not writable" in err
    if os.geteuid() != 0:  # root writes anywhere; as a user, a read-only directory is refused too
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        code, _, err = run(capsys, "run", "demo", "--out", str(ro / "run"), "--no-progress")
        assert code == 1 and "is not writable" in err


def test_compare_needs_both_backends(capsys):
    code, _, err = run(capsys, "compare", "demo", "--backend", "torch")
    assert code == 2 and "compare trains both backends" in err


def test_usage_errors_and_help(capsys):
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "parity", "--dtype", "float16")[0] == 2
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in ("concepts", "show", "parity", "run", "compare"))
    for cmd in ("concepts", "show", "parity", "run", "compare"):
        code, out, _ = run(capsys, cmd, "--help")
        assert code == 0 and out.startswith(f"usage: dlfs {cmd}")
    code, out, _ = run(capsys, "run", "demo", "--help")  # forwarded to the experiment
    assert code == 0 and "--epochs" in out and "--backend {scratch,torch,both}" in out


# --- dlfs run / compare ---------------------------------------------------------------------------------------------

def test_run_regression_both_writes_the_run(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, _ = run(capsys, "run", "regression", "--backend", "both", "--epochs", "3", "--out", str(out_dir),
                       "--no-progress")
    assert code == 0 and "sklearn closed form" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["config.json", "metrics.json", "predicted_vs_actual.png",
                                                        "report.html"]
    config = json.loads((out_dir / "config.json").read_text())
    assert config["experiment"] == "regression" and config["backends"] == ["scratch", "torch"]
    assert config["seed"] == config["args"]["seed"] == 20190501 and config["args"]["epochs"] == 3
    assert {"python", "numpy", "torch", "scipy", "scikit-learn", "matplotlib"} <= set(config["versions"])
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert len(metrics["linear"]["scratch"]["history"]["train_loss"]) == 3
    html = (out_dir / "report.html").read_text()
    assert "<title>dlfs regression (boston)</title>" in html and html.count("data:image/png;base64,") == 1


def test_compare_demo_prints_per_epoch_divergence(capsys, tmp_path):
    out_dir = tmp_path / "cmp"
    code, out, _ = run(capsys, "compare", "demo", "--epochs", "2", "--out", str(out_dir), "--no-progress")
    assert code == 0
    table = out[out.index("Per-epoch divergence"):].splitlines()
    assert table[1].split() == ["epoch", "train_loss", "val_loss"]
    assert [x.split()[0] for x in table[3:5]] == ["1", "2"]
    div = json.loads((out_dir / "divergence.json").read_text())
    train = div["loss"]["train_loss"]
    assert train["epochs"] == [1, 2] and len(train["scratch"]) == 2
    assert train["scratch"][0] > train["scratch"][1] > 0  # it trained
    assert max(train["abs_diff"]) < 1e-10  # float64 from the same weights: the two agree
    assert div["loss"]["val_loss"]["epochs"] == [1, 2]


def test_compare_json_is_pure_json(capsys, tmp_path):
    code, out, err = run(capsys, "compare", "--json", "regression", "--epochs", "2", "--out", str(tmp_path / "c"),
                         "--no-progress")
    assert code == 0 and "sklearn closed form" in err  # the experiment's own table goes to stderr
    div = json.loads(out)
    assert list(div) == ["linear", "one_hidden", "two_hidden"]
    assert all(max(s["train_loss"]["abs_diff"]) < 1e-10 and s["val_loss"]["epochs"] == [2] for s in div.values())


def test_paired_histories_find_every_pair():
    def hist(*losses):
        return {"train_loss": list(losses), "lr": [0.1] * len(losses), "eval_epochs": [len(losses)],
                "val_loss": [losses[-1] + 1]}

    metrics = {"dataset": "digits", "rungs": [
        {"key": "mse", "scratch": {"accuracy": 1, "history": hist(3.0, 2.0)},
         "torch": {"accuracy": 1, "history": hist(3.0, 2.5)}},
        {"key": "deep", "scratch": {"history": hist(1.0)}, "torch": {"history": hist(1.5)}}]}
    assert sorted(paired_histories(metrics)) == ["deep", "mse"]
    div = divergence(metrics)
    assert div["mse"]["train_loss"]["abs_diff"] == [0.0, 0.5]
    assert div["mse"]["val_loss"] == {"epochs": [2], "scratch": [3.0], "torch": [3.5], "abs_diff": [0.5],
                                      "max_abs_diff": 0.5}
    regression = {"linear": {"scratch": {"history": hist(4.0)}, "torch": {"history": hist(4.25)}}}
    assert divergence(regression)["linear"]["train_loss"]["max_abs_diff"] == 0.25
    assert paired_histories({"scratch": {"mae": 1.0}, "torch": {"mae": 1.0}}) == {}


# --- experiments/common.py ------------------------------------------------------------------------------------------

def test_base_parser_help_texts_and_optional_epochs():
    p = base_parser("x", "d", helps={"--epochs": "ignored here"})
    assert "ignored here" in p.format_help()
    assert "--epochs" not in base_parser("x", "d", epochs=None).format_help()
    with pytest.raises(ValueError, match=r"unknown flags \['--epoch'\]"):
        base_parser("x", "d", helps={"--epoch": "typo"})
    from experiments import foundations

    with pytest.raises(SystemExit):
        foundations.main(["--help"])


# --- the console script ---------------------------------------------------------------------------------------------

def test_console_script(tmp_path):
    script = Path(sys.executable).parent / "dlfs"
    assert script.exists(), "the dlfs console script is missing: pip install -e ."
    proc = subprocess.run([str(script), "concepts", "--json", "--results", str(tmp_path / "none.json")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r["concept"] for r in json.loads(proc.stdout)] == [c.key for c in reg.CONCEPTS]
    proc = subprocess.run([str(script), "show", "nonsense"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "dlfs: error: unknown concept 'nonsense'" in proc.stderr
