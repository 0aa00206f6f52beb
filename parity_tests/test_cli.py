"""The `dlfs` command: concepts, parity, regenerate, run, compare; their bad input; and the console script.

Everything but the last test calls ``study.cli.main([...])`` in-process; `dlfs parity` records its results
in a temporary user cache (``conftest.py``) or a temporary file, never in the checkout. `dlfs show` has its
own file, ``test_show.py``.
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
from study import results
from study.cli import divergence, main, paired_histories


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- the registry -----------------------------------------------------------------------------------------------

def test_registry_is_in_book_order_with_a_spec_for_every_concept():
    chapters = [int(c.chapter) for c in reg.CONCEPTS]
    assert chapters == sorted(chapters) and chapters[0] == 1
    keys = [c.key for c in reg.CONCEPTS]
    assert len(keys) == len(set(keys)) == 36
    assert all(c.specs for c in reg.CONCEPTS)


def test_registry_points_at_real_objects_and_tests():
    for c in reg.CONCEPTS:
        refs = [c.scratch, c.torch, *c.scratch_objects, *c.torch_objects] + ([c.fast] if c.fast else [])
        for ref in refs:
            obj = reg.resolve(ref)
            file, line = reg.locate(ref)
            name = ref.split(":")[1].split(".")[-1]
            head = (reg.ROOT / file).read_text().splitlines()[line - 1: line + 3]  # decorators come first
            assert any(re.match(rf"\s*(class|def) {name}\b", x) for x in head), (ref, head)
            assert inspect.getsourcelines(obj)[1] == line
        if c.shared:  # one implementation in the core, run by both backends' Trainers
            assert c.scratch.startswith("dlfs.") and c.fast is None, c.key
            continue
        assert c.scratch.startswith("scratch.") and not c.scratch.startswith("scratch.fast.")
        assert c.torch.startswith("torch_impl.") and (c.fast is None or c.fast.startswith("scratch.fast."))
        for node in c.tests:
            path, _, test = node.partition("::")
            text = (reg.ROOT / path).read_text()
            assert not test or f"def {test}(" in text, f"{c.key}: {node} does not exist"


def test_every_fast_form_has_its_book_form_in_the_registry():
    import scratch
    import scratch.book

    for name in scratch.book.BOOK_FORMS:
        assert getattr(scratch.book, name) is not getattr(scratch, name), name  # two forms, two classes
    fast = {c.fast.split(":")[0] for c in reg.CONCEPTS if c.fast}
    assert fast == {"scratch.fast.conv", "scratch.fast.pooling", "scratch.fast.rnn", "scratch.fast.gru",
                    "scratch.fast.lstm", "scratch.fast.tsne"}


# --- dlfs concepts ----------------------------------------------------------------------------------------------

def test_concepts_table_and_json(capsys, tmp_path):
    code, out, _ = run(capsys, "concepts", "--results", str(tmp_path / "none.json"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["concept", "ch"] and "fast form" in lines[0]
    for c in reg.CONCEPTS:
        row = next(x for x in lines if x.split()[:1] == [c.key])
        assert "{}:{}".format(*reg.locate(c.scratch)) in row and "{}:{}".format(*reg.locate(c.torch)) in row
        assert ("{}:{}".format(*reg.locate(c.fast)) if c.fast else " same ") in row
        assert row.split()[-2:] == ["-", "-"]  # never run: no error to show
    code, out, _ = run(capsys, "concepts", "--json", "--results", str(tmp_path / "none.json"))
    rows = json.loads(out)
    assert [r["concept"] for r in rows] == [c.key for c in reg.CONCEPTS]
    dense = rows[[r["concept"] for r in rows].index("dense")]
    assert dense["scratch"] == {"object": "scratch.dense:Dense", "file": "scratch/dense.py",
                                "line": reg.locate("scratch.dense:Dense")[1]}
    assert dense["fast_is_book"] and "fast" not in dense
    assert dense["doc"] == "docs/dense.md" and dense["last_parity"] == {}
    lstm = rows[[r["concept"] for r in rows].index("lstm")]
    assert lstm["scratch"]["file"] == "scratch/lstm.py" and lstm["fast"]["file"] == "scratch/fast/lstm.py"
    assert lstm["tests"][0] == "parity_tests/test_concepts.py::test_concept_parity[lstm-*]"


def test_concepts_show_the_last_parity_errors(capsys, tmp_path):
    path = tmp_path / "last.json"
    assert run(capsys, "parity", "dense", "relu", "--dtype", "float32", "--results", str(path))[0] == 0
    code, out, _ = run(capsys, "concepts", "--results", str(path))
    row = next(x for x in out.splitlines() if x.startswith("dense "))
    f64, f32 = row.split()[-2:]
    assert f64 == "-" and 0 < float(f32) < 1e-4  # float32 was run, float64 not
    saved = json.loads(path.read_text())
    assert list(saved) == ["relu", "dense"]  # the registry's order, whatever order they ran in
    assert saved["dense"]["float32"]["passed"] is True
    assert saved["dense"]["float32"]["max_rel"] == pytest.approx(float(f32), rel=0.06)
    # a second run merges: dense gains float64, relu keeps its float32 result
    assert run(capsys, "parity", "dense", "--dtype", "float64", "--results", str(path))[0] == 0
    saved = json.loads(path.read_text())
    assert set(saved["dense"]) == {"float32", "float64"} and set(saved["relu"]) == {"float32"}
    assert saved["dense"]["float64"]["max_rel"] < 1e-12
    assert [p.name for p in tmp_path.iterdir()] == ["last.json"]  # atomic write: no temporary left behind


def test_parity_records_in_the_user_cache_never_in_the_checkout(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DLFS_CACHE_DIR", str(tmp_path / "cache"))
    before = subprocess.run(["git", "status", "--porcelain"], cwd=reg.ROOT, capture_output=True, text=True)
    code, out, _ = run(capsys, "parity", "tanh", "--dtype", "float64")
    assert code == 0 and f"results in {tmp_path / 'cache' / 'parity.json'}" in out
    assert json.loads((tmp_path / "cache" / "parity.json").read_text())["tanh"]["float64"]["passed"]
    after = subprocess.run(["git", "status", "--porcelain"], cwd=reg.ROOT, capture_output=True, text=True)
    assert after.stdout == before.stdout
    code, out, _ = run(capsys, "concepts")  # readers take the user's last run
    assert f"from {tmp_path / 'cache' / 'parity.json'}" in out.replace("\n", " ")


def test_the_committed_record_names_every_concept_and_holds_no_timestamps():
    record = results.load(results.RECORD)
    assert list(record) == [c.key for c in reg.CONCEPTS]
    for key, by_dtype in record.items():
        assert list(by_dtype) == ["float64", "float32"], key
        for entry in by_dtype.values():
            assert entry["passed"] and set(entry) == {"passed", "max_abs", "max_rel", "groups", "quantities"}, key


def test_regenerate_check_says_what_is_current(capsys):
    code, out, err = run(capsys, "regenerate", "--check")
    assert code == 0, err
    assert "current" in out


# --- dlfs parity ------------------------------------------------------------------------------------------------

def test_parity_json_reports_every_quantity_within_tolerance(capsys, tmp_path):
    code, out, _ = run(capsys, "parity", "dense", "--json", "--results", str(tmp_path / "r.json"))
    assert code == 0
    outcomes = json.loads(out)
    assert [(r["concept"], r["dtype"]) for r in outcomes] == [("dense", "float64"), ("dense", "float32")]
    for r in outcomes:
        assert r["passed"] and r["error"] is None
        rows = [x for x in r["rows"] if "finite differences" not in x["check"]]
        assert {x["check"] for x in rows} == {"dense batch 1", "dense batch 4"}
        assert {x["quantity"] for x in rows} == {"forward", "input grad", "param grads"}
        for x in rows:
            assert 0 < x["max_rel"] <= x["rtol"]  # a real, non-zero error, within its tolerance
            assert x["rtol"] == (1e-9 if r["dtype"] == "float64" else 1e-4)
    fd = [x for x in outcomes[0]["rows"] if "finite differences" in x["check"]]
    assert {x["quantity"] for x in fd} == {"input grad", "param grads"}


def test_parity_of_a_book_form_is_three_way(capsys, tmp_path):
    code, out, _ = run(capsys, "parity", "lstm", "--json", "--no-save")
    assert code == 0
    checks = {x["check"] for r in json.loads(out) for x in r["rows"]}
    assert {"lstm batch 1", "lstm batch 4", "lstm batch 1 book vs fast", "lstm batch 4 book vs fast",
            "lstm (finite differences)"} <= checks


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
    path = tmp_path / "r.json"
    code, out, _ = run(capsys, "parity", "dense", "--dtype", "float64", "--results", str(path))
    assert code == 1
    assert "FAIL dense [float64]: input_grad: values differ" in out and "0 of 1 checks passed" in out
    saved = json.loads(path.read_text())["dense"]["float64"]
    assert saved["passed"] is False and "input_grad" in saved["error"]
    code, out, _ = run(capsys, "concepts", "--results", str(path))
    assert next(x for x in out.splitlines() if x.startswith("dense ")).split()[-2] == "FAIL"


def test_parity_catches_a_fast_form_that_leaves_its_book_form(capsys, monkeypatch):
    import scratch.fast.lstm

    original = scratch.fast.lstm.LSTMLayer.forward

    def nudged(self, input_, training=True):
        return original(self, input_, training) * (1 + 1e-7)

    monkeypatch.setattr(scratch.fast.lstm.LSTMLayer, "forward", nudged)
    code, out, _ = run(capsys, "parity", "lstm", "--dtype", "float64", "--no-save")
    assert code == 1 and "FAIL lstm [float64]: output: values differ" in out


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
    assert code == 0 and all(c in out for c in ("concepts", "show", "parity", "regenerate", "run", "compare"))
    for cmd in ("concepts", "show", "parity", "regenerate", "run", "compare"):
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
