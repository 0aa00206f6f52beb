"""The character model experiment, run tiny: both backends train from identical weights on identical batches and
their curves agree; plots, metrics and samples are written; bad text and prompts get clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dlfs
from experiments import char_lstm

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n") * 6


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_both_backends_train_the_same_curve(tmp_path, text_file, cell):
    out = tmp_path / "run"
    m = char_lstm.main(["--backend", "both", "--text", str(text_file), "--cell", cell, "--hidden", "16",
                        "--steps", "12", "--batch-size", "4", "--eval-every", "4", "--sample-len", "20",
                        "--lr", "0.01", "--dtype", "float64", "--prompt", "First", "--out", str(out), "--no-progress"])
    assert m["vocab"] == "".join(sorted(set(TEXT))) and m["vocab_size"] == len(set(TEXT))
    assert m["identical_initial_weights"] is True
    assert m["max_train_loss_difference"] < 1e-10 and m["max_val_loss_difference"] < 1e-10
    assert m["identical_samples"] is True
    for name in ("scratch", "torch"):
        r = m[name]
        assert len(r["train_loss"]) == 12 and r["val_steps"] == [4, 8, 12]
        assert r["train_loss"][-1] < r["train_loss"][0] < np.log(m["vocab_size"]) + 0.5  # it learns
        assert r["sample"].startswith("First") and len(r["sample"]) == len("First") + 20
    assert (out / "loss_curve.png").stat().st_size > 1000
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["scratch"]["val_loss"] == m["scratch"]["val_loss"]


def test_float32_curves_agree_closely(tmp_path, text_file):
    import torch

    threads = torch.get_num_threads()
    m = char_lstm.main(["--backend", "both", "--text", str(text_file), "--hidden", "12", "--steps", "8",
                        "--batch-size", "4", "--eval-every", "4", "--sample-len", "5", "--prompt", "All",
                        "--threads", "1", "--out", str(tmp_path / "r"), "--no-progress"])
    assert m["max_train_loss_difference"] < 1e-4
    assert torch.get_num_threads() == threads  # --threads is undone when main returns


def test_loss_is_mean_cross_entropy_in_nats():
    S = dlfs.backend("scratch")
    net = char_lstm.build(S, "rnn", 5, 4, seed=1, dtype="float64")
    X = np.array([[0, 1, 2], [3, 2, 1]])
    Y = np.array([[1, 2, 3], [2, 1, 0]])
    logits = net.forward(char_lstm.one_hot(X, 4, "float64"))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = -np.mean(np.log(np.take_along_axis(p, Y[..., None], -1)))
    assert char_lstm.evaluate(net, X, Y, 4, "float64") == pytest.approx(expected, rel=1e-12)


def test_vocabulary_is_sorted_and_windows_shift_by_one():
    vocab = char_lstm.build_vocab("hello world, hello!", seq_len=4)
    assert vocab == sorted(set("hello world, hello!"))
    ids = char_lstm.encode("hello world, hello!", vocab)
    X, Y = char_lstm.windows(ids, 4)
    assert X.shape == Y.shape == (4, 4)
    np.testing.assert_array_equal(X.reshape(-1)[1:], Y.reshape(-1)[:-1])


def test_empty_text_is_an_error():
    with pytest.raises(ValueError, match=r"text: expected at least seq_len \+ 1 = 26 characters .* got 0"):
        char_lstm.build_vocab("")


def test_empty_text_file_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="text: expected at least seq_len"):
        char_lstm.main(["--text", str(path), "--out", str(tmp_path / "o"), "--no-progress"])


def test_prompt_outside_the_vocabulary_fails_before_training(tmp_path, text_file):
    with pytest.raises(ValueError, match=r"--prompt: character 'R' \(U\+0052\) at position 0 is not in the "
                                         r"vocabulary"):
        char_lstm.main(["--text", str(text_file), "--out", str(tmp_path / "o"), "--no-progress"])


def test_prompt_character_outside_the_vocabulary(B):
    vocab = sorted(set("abc de"))
    net = char_lstm.build(B, "lstm", 4, len(vocab), seed=1, dtype="float32")
    with pytest.raises(ValueError, match=r"prompt: character 'Z' \(U\+005A\) at position 2 is not in the "
                                         r"vocabulary of 6 characters"):
        char_lstm.sample(net, vocab, "abZ", 5, seed=0)
    with pytest.raises(ValueError, match="prompt: expected at least one character"):
        char_lstm.sample(net, vocab, "", 5, seed=0)
    assert char_lstm.sample(net, vocab, "ab", 5, seed=0)[:2] == "ab"
