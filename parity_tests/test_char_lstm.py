"""The character model experiment, run tiny: both backends train from identical weights on identical batches and
their curves agree; the Trainer gives the numbers of a hand-written step loop; plots, metrics and samples are
written; bad text and prompts get clear errors."""

from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

import dlfs
from dlfs.training import BatchOrder
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


def test_loss_is_mean_cross_entropy_in_nats(B):
    """The Trainer's evaluation of one-hot encoded id windows: the mean over batch and time of -log p(next)."""
    net = char_lstm.build(B, "rnn", 5, 4, seed=1, dtype="float64")
    X = np.array([[0, 1, 2], [3, 2, 1], [1, 1, 0]])
    Y = np.array([[1, 2, 3], [2, 1, 0], [0, 3, 3]])
    logits = net.forward(char_lstm.one_hot(X, 4, "float64"), training=False)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = -np.mean(np.log(np.take_along_axis(p, Y[..., None], -1)))
    trainer = B.Trainer(net, B.Adam())
    to_input = partial(char_lstm.one_hot, vocab_size=4, dtype="float64")
    for batch_size in (None, 1, 2):  # batches weighted by their rows: the mean over all positions
        assert trainer.evaluate(X, Y, to_input, batch_size) == pytest.approx(expected, rel=1e-12)


# --- the experiment against a hand-written loop -----------------------------------------------------------------
def _reference_run(name: str, text: str, cell: str, hidden: int, steps: int, batch: int, eval_every: int,
                   seed: int = 1) -> dict:
    """The experiment's training written out by hand, one step function per backend (forward, mean
    cross-entropy over (batch, time), backward, clipped Adam update), evaluated in float64 in chunks of 256."""
    B = dlfs.backend(name)
    vocab = char_lstm.build_vocab(text)
    V, ids = len(vocab), char_lstm.encode(text, vocab)
    split = int(0.9 * len(ids))
    X, Y = char_lstm.windows(ids[:split], 25)
    Xv, Yv = char_lstm.windows(ids[split:], 25)
    net = char_lstm.build(B, cell, hidden, V, seed, "float64")
    opt = B.Adam(lr=0.01, clip_norm=5.0)
    opt.bind(net)

    def step(x, y):
        if name == "scratch":
            logits = net.forward(x, training=True)
            loss = net.loss.forward(logits.reshape(-1, V), y.reshape(-1))
            net.backward(net.loss.backward().reshape(logits.shape))
            opt.step()
            return loss
        import torch

        net.module.train()
        net.module.zero_grad(set_to_none=True)
        logits = net.module(torch.from_numpy(x))
        loss = net.loss.criterion(logits.reshape(-1, V), torch.from_numpy(y.reshape(-1)))
        loss.backward()
        opt.step()
        return float(loss.detach())

    def evaluate():
        total = 0.0
        for s in range(0, len(Xv), 256):
            z = net.forward(char_lstm.one_hot(Xv[s:s + 256], V, "float64"), training=False)
            z = z - z.max(axis=-1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
            total -= np.take_along_axis(log_p, Yv[s:s + 256, :, None], axis=-1).sum()
        return float(total / Yv.size)

    order = BatchOrder(len(X), batch, seed)
    train_loss, val_steps, val_loss, k = [], [], [], 0
    while k < steps:
        for idx in order:
            train_loss.append(step(char_lstm.one_hot(X[idx], V, "float64"), Y[idx]))
            k += 1
            if k % eval_every == 0 or k == steps:
                val_steps.append(k)
                val_loss.append(evaluate())
            if k == steps:
                break
    return {"train_loss": train_loss, "val_steps": val_steps, "val_loss": val_loss,
            "sample": char_lstm.sample(net, vocab, "First", 20, seed, 0.8, 25)}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_trainer_gives_the_numbers_of_a_hand_written_loop(tmp_path, text_file, cell):
    """The experiment trains through ``B.Trainer.fit`` (per-batch one-hot transform, a step budget that ends
    mid-epoch, evaluation every N steps): the same per-step losses bit for bit, the same validation losses and
    the same samples as the two step loops written out above."""
    m = char_lstm.main(["--backend", "both", "--text", str(text_file), "--cell", cell, "--hidden", "8",
                        "--steps", "11", "--batch-size", "4", "--eval-every", "3", "--sample-len", "20",
                        "--lr", "0.01", "--dtype", "float64", "--prompt", "First", "--temperature", "0.8",
                        "--seed", "1", "--out", str(tmp_path / "run"), "--no-progress"])
    for name in ("scratch", "torch"):
        ref = _reference_run(name, TEXT, cell, 8, steps=11, batch=4, eval_every=3)
        assert m[name]["train_loss"] == ref["train_loss"]
        assert m[name]["val_steps"] == ref["val_steps"] == [3, 6, 9, 11]
        np.testing.assert_allclose(m[name]["val_loss"], ref["val_loss"], rtol=1e-13)
        assert m[name]["sample"] == ref["sample"]


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
