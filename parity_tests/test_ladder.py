"""The chapter 4 ladder experiment, scaled down: 2 epochs on digits with both backends, in-process."""

from __future__ import annotations

import json

import pytest

from experiments import ladder

RUNG = {r.key: r for r in ladder.RUNGS}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("ladder")
    try:
        metrics = ladder.main(["--dataset", "digits", "--backend", "both", "--epochs", "2", "--out", str(out),
                               "--no-progress"])
    finally:
        torch.set_num_threads(threads)  # the ladder pins torch to --threads; leave the process as it was
    return out, metrics


def test_every_rung_in_the_book_order(run):
    _, metrics = run
    assert [r["key"] for r in metrics["rungs"]] == [r.key for r in ladder.RUNGS]
    assert [r["book_mnist_accuracy"] for r in metrics["rungs"]] == [72.80, None, 91.04, 95.36, 95.98, 95.75, 96.69,
                                                                   96.77, None, 97.34]
    for r in metrics["rungs"]:
        for name in ("scratch", "torch"):
            res = r[name]
            assert 0.0 <= res["accuracy"] <= 100.0 and res["val_loss"] > 0 and res["wall_s"] > 0
            assert res["history"]["lr"][0] == dict(RUNG[r["key"]].optimizer)["lr"]  # the book's lr per rung
    # the ladder climbs: the deep Glorot/momentum/decay rungs beat the MSE baseline by far, even after 2 epochs
    acc = {r["key"]: r["scratch"]["accuracy"] for r in metrics["rungs"]}
    assert acc["glorot"] > acc["mse"] + 30 and acc["deep_dropout"] > 90


def test_backends_agree_within_half_a_point(run):
    _, metrics = run
    for r in metrics["rungs"]:
        assert r["diff_pp"] <= 0.5, (r["key"], r["diff_pp"])
        assert r["diff_pp"] == abs(r["scratch"]["accuracy"] - r["torch"]["accuracy"])
    assert metrics["max_diff_pp"] <= 0.5


def test_outputs_written(run, capsys):
    out, metrics = run
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["dataset"] == "digits" and on_disk["epochs"] == 2 and len(on_disk["rungs"]) == 10
    assert on_disk["max_diff_pp"] == metrics["max_diff_pp"]
    png = (out / "ladder.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (out / "report.html").is_file() and (out / "config.json").is_file()


def test_table_is_printed(tmp_path, capsys):
    ladder.main(["--dataset", "digits", "--backend", "scratch", "--epochs", "1", "--rungs", "mse", "dropout",
                 "--out", str(tmp_path), "--no-progress", "--threads", str(__import__("torch").get_num_threads())])
    text = capsys.readouterr().out
    assert "Chapter 4 ladder on digits (1347 train, 450 test; 1 epochs" in text
    assert "MSE, sigmoid outputs" in text and "+ dropout 0.2" in text and "72.80" in text and "96.77" in text
