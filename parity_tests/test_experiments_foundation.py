"""The demo and the chapters 2-3 regression experiment run end to end and write what they promise."""

from __future__ import annotations

import json

import pytest

from experiments import demo, regression


def test_demo_trains_both_backends_identically(tmp_path):
    m = demo.main(["--out", str(tmp_path), "--epochs", "3", "--no-progress"])
    assert m["max_loss_difference"] < 1e-10  # float64, same weights, same batches
    assert m["scratch"]["accuracy"] == m["torch"]["accuracy"] > 0.85
    for f in ("metrics.json", "config.json", "report.html", "loss_curves.png"):
        assert (tmp_path / f).stat().st_size > 0
    assert (tmp_path / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_boston_both_backends(tmp_path, capsys):
    regression.main(["--backend", "both", "--dataset", "boston", "--out", str(tmp_path), "--no-progress"])
    printed = capsys.readouterr().out
    assert "sklearn closed form" in printed and "3.52 / 5.01" in printed  # the book's numbers beside ours
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for b in ("scratch", "torch"):
        lin = saved["linear"][b]
        # 50 epochs of SGD as in the book: within 1% of sklearn's closed form
        assert abs(lin["mae"] / saved["sklearn"]["mae"] - 1) < 0.01
        assert abs(lin["rmse"] / saved["sklearn"]["rmse"] - 1) < 0.01
        assert saved["two_hidden"][b]["mae"] < lin["mae"]  # the networks beat the linear model
    for model in ("linear", "one_hidden", "two_hidden"):
        assert saved[model]["max_prediction_difference"] < 1e-9
    assert saved["sklearn"]["mae"] == pytest.approx(3.5671, abs=1e-4)  # the book's sklearn number


def test_existing_non_empty_out_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("a user's file")
    with pytest.raises(SystemExit, match="exists and is not empty; pass --overwrite"):
        demo.main(["--out", str(tmp_path), "--epochs", "1", "--no-progress"])
    assert (tmp_path / "keep.txt").read_text() == "a user's file"
