"""The benchmark runner's structure (``python -m benchmarks --quick``): never its timings."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from benchmarks.__main__ import discover, main
from benchmarks.common import MEMORY_KEYS, ROW_KEYS

ROOT = Path(__file__).resolve().parent.parent


def test_discovers_every_bench_module():
    names = discover()
    assert {"bench_conv", "bench_dense"} <= set(names)
    assert all(n.startswith("bench_") for n in names) and names == sorted(names)


def test_quick_run_writes_the_table(tmp_path, capsys):
    path = tmp_path / "bench.json"
    result = main(["--quick", "--threads", "1", "--json", str(path)])
    printed = capsys.readouterr().out
    assert "scratch ms" in printed and "peak float32 matmul" in printed
    assert "scratch MiB" in printed and "torch MiB" in printed
    saved = json.loads(path.read_text())
    assert saved["quick"] is True and saved["threads"] == 1
    assert set(saved["peak"]) == {"n", "numpy_gflops", "torch_gflops"}
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))
    modules = {r["module"] for r in saved["rows"]}
    assert modules == set(discover())  # every module ran and contributed rows
    for r in saved["rows"]:
        assert set(ROW_KEYS) <= set(r)
        assert isinstance(r["name"], str) and r["name"]
        for k in ("scratch_s", "torch_s", "gflop", "scratch_gflops", "torch_gflops"):
            assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] > 0, (r["name"], k)
        assert r["ratio"] == pytest.approx(r["scratch_s"] / r["torch_s"])
        assert r["scratch_gflops"] == pytest.approx(r["gflop"] / r["scratch_s"])
        assert r["target"] is None or r["target"] > 0
        for k in MEMORY_KEYS:  # a quick step may fit in pages the process already holds, so 0 MiB can be right
            assert isinstance(r[k], float) and math.isfinite(r[k]) and 0 <= r[k] < 100, (r["name"], k)
    assert saved["method"] == "interleaved" and "VmHWM" in saved["memory_method"]
    targets: dict = {}
    for r in saved["rows"]:  # a module's first row is its layer; bench_lstm's second (its GEMMs alone) has none
        targets.setdefault(r["module"], r["target"])
    assert targets["bench_conv"] == targets["bench_dense"] == targets["bench_lstm"] == 1.0


def test_only_and_unknown_module(tmp_path, capsys):
    result = main(["--quick", "--threads", "1", "--only", "bench_dense", "--no-memory"])
    assert {r["module"] for r in result["rows"]} == {"bench_dense"}
    assert all(r[k] is None for r in result["rows"] for k in MEMORY_KEYS) and result["memory_method"] is None
    with pytest.raises(SystemExit):
        main(["--quick", "--only", "bench_nope"])
    assert "unknown benchmark modules ['bench_nope']" in capsys.readouterr().err


# --- peak memory, the two-thread method, the batch-size series ---------------------------------------------------


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_peak_rss_counts_numpy_and_torch_alike(library):
    """40 MB of float32 (38.15 MiB) is counted as such for either library, and as a peak, not a sum over calls.

    Measured as the benchmarks measure: in a fresh process under ``MEMORY_ENV``. In a test worker that has already
    freed large arrays, glibc hands the same pages out again and the step's growth reads 0 MiB."""
    import subprocess
    import sys

    from benchmarks.common import MEMORY_ENV

    make = "np.ones(n, np.float32).sum()" if library == "numpy" else "torch.ones(n).sum()"
    code = ("import json; import numpy as np; import torch; from benchmarks.common import peak_rss_mib; "
            f"n = 10_000_000; make = lambda: {make}; make(); "
            "print(json.dumps([peak_rss_mib(make), peak_rss_mib(make, calls=3)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, **MEMORY_ENV}, cwd=ROOT)
    once, thrice = json.loads(out.stdout.strip().splitlines()[-1])
    # above: page rounding, and NumPy's transparent huge pages round 38.15 MiB up to at most 40 MiB
    assert 37.5 < once < 41.0 and 37.5 < thrice < 41.0, (once, thrice)


def test_memory_child_measures_a_real_conv_step():
    """The child-process measurement of Conv2D 1->32, batch 64: at least its 6.125 MiB output (64 x 32 x 28 x 28
    float32, made during the step) for both backends, and far under the machine's memory."""
    from benchmarks import bench_conv
    from benchmarks.common import dry_rows, measure_in_child

    (r,) = [r for r in dry_rows(bench_conv.run, False) if "1->32" in r["name"]]
    for backend in ("scratch", "torch"):
        mib = measure_in_child("bench_conv", r["_pair"], backend, "memory", False, 1)
        assert isinstance(mib, float) and 6.125 <= mib < 400, (backend, mib)


def test_memory_child_errors_name_what_is_wrong():
    from benchmarks.common import measure_in_child

    with pytest.raises(ValueError, match="backend must be one of \\('scratch', 'torch'\\), got 'jax'"):
        measure_in_child("bench_dense", 0, "jax", "memory", True, 1)
    with pytest.raises(ValueError, match="mode must be 'memory' or 'time', got 'cpu'"):
        measure_in_child("bench_dense", 0, "scratch", "cpu", True, 1)
    with pytest.raises(RuntimeError, match="bench_dense.run made 1 time_pair calls in the child, expected call 5"):
        measure_in_child("bench_dense", 5, "scratch", "memory", True, 1)


def test_processes_method_keeps_each_backends_best_round():
    result = main(["--quick", "--threads", "1", "--only", "bench_dense", "--method", "processes", "--rounds", "2"])
    assert result["method"] == "processes" and result["rounds"] == 2
    (r,) = result["rows"]
    for b in ("scratch", "torch"):
        rounds = r[f"{b}_rounds_s"]
        assert len(rounds) == 2 and all(t > 0 for t in rounds)
        assert r[f"{b}_s"] == min(rounds)
        assert r[f"{b}_peak_mib"] >= 0
    assert r["ratio"] == pytest.approx(r["scratch_s"] / r["torch_s"])
    with pytest.raises(SystemExit):
        main(["--quick", "--only", "bench_dense", "--rounds", "0"])


def test_batch_series_json_and_png(tmp_path, capsys):
    import matplotlib.pyplot as plt

    from benchmarks import bench_batch

    js, png = tmp_path / "series.json", tmp_path / "runs" / "series.png"
    result = bench_batch.main(["--quick", "--json", str(js), "--png", str(png)])
    assert "per-sample" in capsys.readouterr().out
    saved = json.loads(js.read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["threads"] == 1 and saved["batches"] == [1, 4, 16]
    assert [s["name"] for s in saved["series"]] == list(bench_batch.QUICK_SERIES)
    for s in saved["series"]:
        assert s["batch"] == [1, 4, 16] and s["repeats"] == [3, 3, 3]
        for b in ("scratch", "torch"):
            assert len(s[f"{b}_s"]) == 3 and all(t > 0 for t in s[f"{b}_s"])
            assert s[f"{b}_per_sample_s"] == pytest.approx([t / n for t, n in zip(s[f"{b}_s"], s["batch"])])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = plt.imread(png).shape[:2]
    assert width > 2 * height > 400  # one panel per series side by side
    assert not list(png.parent.glob(".*.tmp"))  # written atomically: no temporary file left beside it


def test_tsne_benchmark_quick(tmp_path, capsys):
    """``python -m benchmarks.bench_tsne --quick``: four implementations of one t-SNE, each with its time and the
    trustworthiness of its embedding, written atomically; standalone (not one of the runner's modules)."""
    from benchmarks import bench_tsne

    assert "bench_tsne" not in discover()
    path = tmp_path / "tsne.json"
    result = bench_tsne.main(["--quick", "--threads", "1", "--json", str(path)])
    printed = capsys.readouterr().out
    assert "trustworthiness (k=5)" in printed and "torch / scratch" in printed
    saved = json.loads(path.read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))
    assert (saved["quick"], saved["threads"], saved["n"], saved["n_iter"]) == (True, 1, 150, 300)
    assert saved["trustworthiness_n_neighbors"] == 5
    assert [r["name"] for r in saved["rows"]] == ["scratch", "torch", "sklearn exact", "sklearn barnes-hut"]
    for r in saved["rows"]:
        assert r["iterations"] == 300, r["name"]  # sklearn's early stopping is off: every run does all of them
        assert r["wall_s"] > 0 and r["cpu_s"] > 0 and len(r["wall_runs_s"]) == 1
        # 300 iterations on 150 digits already give a faithful map (0.95-0.98 measured)
        assert 0.9 < r["trustworthiness"] <= 1.0, r
        assert 0 < r["kl_divergence"] < 2, r
    wall = {r["name"]: r["wall_s"] for r in saved["rows"]}
    assert saved["ratios"]["torch / scratch"] == pytest.approx(wall["torch"] / wall["scratch"])
    assert saved["ratios"]["scratch / sklearn exact"] == pytest.approx(wall["scratch"] / wall["sklearn exact"])
    assert saved["targets"]["torch / scratch"]["at_most"] == 1.0
    assert saved["targets"]["scratch / sklearn exact"]["at_most"] == pytest.approx(1 / 3)


def test_trainer_benchmark_quick(tmp_path, capsys):
    """``python -m benchmarks.bench_trainer --quick``: the Trainer and the bare loop train the same weights, bit for
    bit, and the row holds both per-step times, their ratio and the one-time costs apart."""
    from benchmarks import bench_trainer

    assert "bench_trainer" not in discover()
    path = tmp_path / "trainer.json"
    result = bench_trainer.main(["--quick", "--json", str(path)])
    assert "Trainer ms/step" in capsys.readouterr().out
    saved = json.loads(path.read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))
    assert [r["name"] for r in saved["rows"]] == ["dense (quick)", "cnn (quick)"]
    assert saved["import_and_first_trainer_s"] > 0
    for r in saved["rows"]:
        assert r["same_weights"] is True, r["name"]  # the same model, optimiser and batches: the same numbers
        assert r["ratio"] == pytest.approx(r["trainer_step_s"] / r["bare_step_s"])
        assert r["met"] == (0 < r["ratio"] <= 1.10) and r["target"] == 1.10
        for k in ("trainer_init_s", "first_fit_s", "first_bare_epoch_s"):
            assert math.isfinite(r[k]) and r[k] > 0, (r["name"], k)
        sides = ("trainer", "bare", "gathering")
        assert set(r["runs_s"]) == {f"{side} {fit}" for side in sides for fit in ("long", "short")}


def test_readme_table_is_made_from_the_committed_runs():
    """The README's benchmark table is ``benchmarks.table``'s rendering of ``docs/benchmark_runs.json``: three full
    one-thread runs, every row of the table there, each number a range over the runs."""
    from benchmarks import table

    runs = table.committed_runs()
    assert len(runs) == 3 and all(r["threads"] == 1 and not r["quick"] for r in runs)
    readme = table.README.read_text(encoding="utf-8")
    shown = readme.split(table.BEGIN, 1)[1].split(table.END, 1)[0].strip()
    assert shown == table.markdown_table(runs)
    assert {r["module"] for r in runs[0]["rows"]} >= {"bench_conv", "bench_dense", "bench_lstm"}


def test_table_writes_the_readme_section_and_refuses_quick_runs(tmp_path, monkeypatch):
    from benchmarks import table

    run = {"quick": False, "threads": 1, "load_average": [0.5, 0.5, 0.5], "machine": {"torch": "t", "numpy": "n"},
           "peak": {"n": 1024, "numpy_gflops": 100.0, "torch_gflops": 110.0},
           "rows": [{"name": "x", "scratch_s": 0.002, "torch_s": 0.001, "ratio": 2.0, "target": 1.0,
                     "scratch_peak_mib": 1.0, "torch_peak_mib": None}]}
    (tmp_path / "a.json").write_text(json.dumps(run))
    (tmp_path / "b.json").write_text(json.dumps({**run, "rows": [{**run["rows"][0], "ratio": 0.5}]}))
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{table.BEGIN}\nold\n{table.END}\nafter\n")
    monkeypatch.setattr(table, "README", readme)
    monkeypatch.setattr(table, "RUNS", tmp_path / "runs.json")
    monkeypatch.setattr(table, "ROOT", tmp_path)
    out = table.main(["--write", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert "| x | ≤ 1.0 | 2.0 | 1.0 | 0.50-2.00 | **no** (1 of 2) | 1.0 | - |" in out
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text and out in text
    assert json.loads((tmp_path / "runs.json").read_text())[1]["rows"][0]["ratio"] == 0.5
    (tmp_path / "q.json").write_text(json.dumps({**run, "quick": True}))
    with pytest.raises(SystemExit):
        table.main([str(tmp_path / "q.json")])
