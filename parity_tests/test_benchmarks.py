"""The benchmark runner's structure (``python -m benchmarks --quick``): never its timings."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.__main__ import discover, main
from benchmarks.common import ROW_KEYS


def test_discovers_every_bench_module():
    names = discover()
    assert {"bench_conv", "bench_dense"} <= set(names)
    assert all(n.startswith("bench_") for n in names) and names == sorted(names)


def test_quick_run_writes_the_table(tmp_path, capsys):
    path = tmp_path / "bench.json"
    result = main(["--quick", "--threads", "1", "--json", str(path)])
    printed = capsys.readouterr().out
    assert "scratch ms" in printed and "peak float32 matmul" in printed
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
    targets = {r["module"]: r["target"] for r in saved["rows"]}
    assert targets["bench_conv"] == 1.5 and targets["bench_dense"] == 1.0


def test_only_and_unknown_module(tmp_path, capsys):
    result = main(["--quick", "--threads", "1", "--only", "bench_dense"])
    assert {r["module"] for r in result["rows"]} == {"bench_dense"}
    with pytest.raises(SystemExit):
        main(["--quick", "--only", "bench_nope"])
    assert "unknown benchmark modules ['bench_nope']" in capsys.readouterr().err
