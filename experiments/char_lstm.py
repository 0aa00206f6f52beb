"""A next-character model on Tiny Shakespeare (chapter 6): an RNN, GRU or LSTM layer and a time-distributed
dense layer, trained in NumPy and in PyTorch from identical weights on identical batches by each backend's
``Trainer``.

    python -m experiments.char_lstm --backend both --cell lstm --hidden 256 --steps 1500 --out runs/char-lstm
    torchrun --nproc-per-node 2 -m experiments.char_lstm --backend torch --distributed --steps 300

The vocabulary is the text's characters in sorted order. Inputs are one-hot windows of ``--seq-len`` (25)
characters and the targets the same windows shifted by one; the hidden state starts at zero for every window.
Losses are softmax cross-entropy in nats per character, the mean over batch and time, so the two backends (and
runs of different batch sizes) compare directly; ln(65) = 4.17 nats is a uniform guess.

The Trainer keeps the windows as character ids and one-hot encodes each batch (``fit(transform=...)``: the whole
text one-hot would not fit in memory), stops after ``--steps`` optimiser steps (``max_steps``), evaluates every
``--eval-every`` steps (``eval_every_steps``) and records the loss of every step (``History.step_loss``).
``--device cuda`` trains the torch side on a GPU; ``--distributed`` (with ``--backend torch``, under torchrun) trains
it data-parallel, each process on its slice of every batch of windows (docs/distributed.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

import dlfs
from dlfs.data import load_tiny_shakespeare
from dlfs.errors import check_positive_float, check_positive_int
from dlfs.io import save_figure
from experiments.common import (
    backends,
    base_parser,
    checkpoint_options,
    entry_point,
    finish_run,
    format_table,
    limit_threads,
    network_device,
    parse_args,
    prepare_out,
    quiet_unless_main,
    start_distributed,
)
from experiments.report import curve_style

CELLS = {"rnn": "RNNLayer", "gru": "GRULayer", "lstm": "LSTMLayer"}
PROMPT = "ROMEO:\n"


# --- text -> arrays -------------------------------------------------------------------------------------------
def build_vocab(text: str, seq_len: int = 25) -> list[str]:
    """The characters of ``text`` in sorted order (deterministic: the same text gives the same ids anywhere)."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    if len(text) < seq_len + 1:
        raise ValueError(f"text: expected at least seq_len + 1 = {seq_len + 1} characters (one window and its "
                         f"next character), got {len(text)}")
    return sorted(set(text))


def encode(text: str, vocab: Sequence[str], name: str = "text") -> np.ndarray:
    """Characters -> int64 ids (positions in ``vocab``); a character outside it is an error naming it."""
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.empty(len(text), dtype=np.int64)
    for k, ch in enumerate(text):
        if ch not in index:
            raise ValueError(f"{name}: character {ch!r} (U+{ord(ch):04X}) at position {k} is not in the vocabulary "
                             f"of {len(vocab)} characters the model was trained on")
        ids[k] = index[ch]
    return ids


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows: inputs (n, seq_len) and targets (n, seq_len), the inputs shifted by one."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(f"ids: expected at least seq_len + 1 = {seq_len + 1} characters, got {len(ids)}")
    return ids[:n * seq_len].reshape(n, seq_len), ids[1:n * seq_len + 1].reshape(n, seq_len)


def one_hot(ids: np.ndarray, vocab_size: int, dtype: str) -> np.ndarray:
    """(batch, time) ids -> (batch, time, vocab_size) one-hot inputs."""
    return np.eye(vocab_size, dtype=dtype)[ids]


# --- the model ------------------------------------------------------------------------------------------------
def build(B: Any, cell: str, hidden: int, vocab_size: int, seed: int, dtype: str, device: str | None = None) -> Any:
    """``cell`` layer of ``hidden`` units -> time-distributed dense to ``vocab_size`` logits, softmax CE, on
    ``device``."""
    layers = [getattr(B, CELLS[cell])(hidden), B.RNNLinear(vocab_size)]
    net = B.NeuralNetwork(layers, B.SoftmaxCrossEntropy(), seed=seed, dtype=dtype, device=device)
    net.forward(np.zeros((1, 1, vocab_size), dtype=dtype), training=False)  # draws the initial weights
    return net


def sample(net: Any, vocab: Sequence[str], prompt: str, length: int, seed: int, temperature: float = 1.0,
           context: int = 25) -> str:
    """Continue ``prompt`` by ``length`` characters drawn from the model's softmax (``temperature`` scales the
    logits). Each prediction sees the last ``context`` characters from a zero state, as in training, and the
    draws come from ``np.random.default_rng(seed)``, so a fixed seed gives the same text in both backends
    wherever their probabilities agree."""
    if not prompt:
        raise ValueError("prompt: expected at least one character to start from, got an empty string")
    check_positive_int("length", length)
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature}")
    ids = list(encode(prompt, vocab, "prompt"))
    rng = np.random.default_rng(seed)
    V = len(vocab)
    for _ in range(length):
        x = one_hot(np.array([ids[-context:]]), V, net.dtype)
        z = net.forward(x, training=False)[0, -1].astype(np.float64) / temperature
        p = np.exp(z - z.max())
        ids.append(int(rng.choice(V, p=p / p.sum())))
    return "".join(vocab[i] for i in ids)


# --- the experiment --------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser("char_lstm", __doc__.splitlines()[0], datasets=("tinyshakespeare",), epochs=10,
                         distributed=True, download=True)
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent layer")
    parser.add_argument("--hidden", type=int, default=256, help="hidden size")
    parser.add_argument("--steps", type=int, default=1500,
                        help="training steps (batches); training stops at --steps or after --epochs passes over "
                             "the training text, whichever comes first")
    parser.add_argument("--seq-len", type=int, default=25, help="characters per training window")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per batch")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--clip-norm", type=float, default=5.0, help="clip the gradient's global 2-norm to this")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="float64 makes the two backends' curves agree to ~1e-12")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between validation evaluations")
    parser.add_argument("--val-windows", type=int, default=1024,
                        help="validation windows evaluated (from the last 10%% of the text)")
    parser.add_argument("--max-chars", type=int, default=None, help="use only the first N characters (quick runs)")
    parser.add_argument("--text", default=None, help="train on this UTF-8 text file instead of Tiny Shakespeare")
    parser.add_argument("--prompt", default=PROMPT, help="the text the samples continue")
    parser.add_argument("--sample-len", type=int, default=300, help="characters generated per sample")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    args = parse_args(parser, argv)
    for name in ("hidden", "steps", "seq_len", "batch_size", "eval_every", "val_windows", "sample_len"):
        check_positive_int(f"--{name.replace('_', '-')}", getattr(args, name))
    for name in ("lr", "clip_norm", "temperature"):  # fail now, not after training (the samples come last)
        check_positive_float(f"--{name.replace('_', '-')}", getattr(args, name))
    if args.text is not None and not os.path.isfile(args.text):
        raise FileNotFoundError(f"--text: no such file {args.text!r}")
    rank = start_distributed(parser, args, "char_lstm")  # 0 unless --distributed; only rank 0 prints and writes
    quiet_unless_main(rank)
    out = prepare_out(args.out, "char_lstm", args.overwrite) if rank == 0 else None
    with limit_threads(args.threads):  # torch and NumPy's BLAS, restored when main returns
        return run(args, out)


def run(args: Any, out: Any) -> dict[str, Any]:
    """The experiment proper, for parsed ``args`` and the output directory ``out`` (None: a distributed run's
    rank other than 0, which trains but writes nothing)."""
    if args.text is not None:
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
    else:
        text = load_tiny_shakespeare(args.data_dir, download=args.download)
    if args.max_chars is not None:
        text = text[:check_positive_int("--max-chars", args.max_chars)]
    vocab = build_vocab(text, args.seq_len)
    V = len(vocab)
    if not args.prompt:
        raise ValueError("--prompt: expected at least one character to start the samples from, got an empty string")
    encode(args.prompt, vocab, "--prompt")  # fail now, not after training
    ids = encode(text, vocab)
    split = int(0.9 * len(ids))
    X_train, Y_train = windows(ids[:split], args.seq_len)
    X_val, Y_val = windows(ids[split:], args.seq_len)
    X_val, Y_val = X_val[:args.val_windows], Y_val[:args.val_windows]
    batch = min(args.batch_size, len(X_train))
    steps = min(args.steps, args.epochs * -(-len(X_train) // batch))
    print(f"{len(text):,} characters, vocabulary {V}, {len(X_train):,} training windows of {args.seq_len}, "
          f"{len(X_val):,} validation windows; {steps} steps of batch {batch}")

    metrics: dict[str, Any] = {"vocab_size": V, "vocab": "".join(vocab), "n_chars": len(text), "steps": steps,
                               "seq_len": args.seq_len, "batch_size": batch, "cell": args.cell,
                               "hidden": args.hidden, "dtype": args.dtype}
    initial: dict[str, dict[str, np.ndarray]] = {}
    to_input = partial(one_hot, vocab_size=V, dtype=args.dtype)  # (batch, time) ids -> (batch, time, V)
    for name in backends(args.backend):
        B = dlfs.backend(name)
        net = build(B, args.cell, args.hidden, V, args.seed, args.dtype, network_device(args, name))
        initial[name] = net.state_dict()
        trainer = B.Trainer(net, B.Adam(lr=args.lr, clip_norm=args.clip_norm),
                            distributed=getattr(args, "distributed", False))
        t0 = time.perf_counter()
        # the same batches in the same order for both: BatchOrder(len(X_train), batch, seed) inside fit
        hist = trainer.fit(X_train, Y_train, X_val, Y_val, epochs=args.epochs, batch_size=batch, seed=args.seed,
                           transform=to_input, max_steps=args.steps, eval_every_steps=args.eval_every,
                           eval_batch_size=256, progress=not args.no_progress, **checkpoint_options(args, name))
        seconds = time.perf_counter() - t0
        text_out = sample(net, vocab, args.prompt, args.sample_len, args.seed, args.temperature, args.seq_len)
        metrics[name] = {"train_loss": hist.step_loss, "val_steps": hist.eval_steps, "val_loss": hist.val_loss,
                         "final_val_loss": hist.val_loss[-1], "best_val_loss": min(hist.val_loss),
                         "seconds": seconds, "ms_per_step": 1e3 * seconds / steps, "sample": text_out,
                         "samples_per_s": len(hist.step_loss) * batch / seconds, "processes": trainer.world_size}
    if getattr(args, "distributed", False):
        from torch_impl.distributed import shutdown

        shutdown()  # training is over on every rank; rank 0 writes below
    if out is None:
        return metrics

    if args.backend == "both":
        same_init = all(np.array_equal(initial["scratch"][k], initial["torch"][k]) for k in initial["scratch"])
        diff = np.abs(np.array(metrics["scratch"]["val_loss"]) - np.array(metrics["torch"]["val_loss"]))
        tdiff = np.abs(np.array(metrics["scratch"]["train_loss"]) - np.array(metrics["torch"]["train_loss"]))
        metrics["identical_initial_weights"] = same_init
        metrics["max_val_loss_difference"] = float(diff.max())
        metrics["max_train_loss_difference"] = float(tdiff.max())
        metrics["identical_samples"] = metrics["scratch"]["sample"] == metrics["torch"]["sample"]

    names = backends(args.backend)
    print(f"\nValidation loss (nats/char) every {args.eval_every} steps:")
    curve_rows = [[s, *[metrics[n]["val_loss"][k] for n in names]]
                  for k, s in enumerate(metrics[names[0]]["val_steps"])]
    print(format_table(["step", *names], curve_rows))
    headers = ["backend", "cell", "hidden", "steps", "train loss (last 100)", "val loss", "best val", "seconds",
               "ms/step", "windows/s", "processes"]
    rows = [[n, args.cell, args.hidden, steps, float(np.mean(metrics[n]["train_loss"][-100:])),
             metrics[n]["final_val_loss"], metrics[n]["best_val_loss"], round(metrics[n]["seconds"], 1),
             round(metrics[n]["ms_per_step"], 2), round(metrics[n]["samples_per_s"]), metrics[n]["processes"]]
            for n in names]
    print()
    print(format_table(headers, rows))
    if args.backend == "both":
        print(f"identical initial weights: {metrics['identical_initial_weights']}; max |scratch - torch| "
              f"train loss {metrics['max_train_loss_difference']:.2e}, val loss "
              f"{metrics['max_val_loss_difference']:.2e}; identical samples: {metrics['identical_samples']}")
    for n in names:
        print(f"\n--- {n} sample (seed {args.seed}, temperature {args.temperature}) ---\n{metrics[n]['sample']}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for n, style in zip(names, ("-", "--")):
        tl = np.array(metrics[n]["train_loss"])
        k = min(50, len(tl))
        smooth = np.convolve(tl, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(tl) + 1), smooth, style, alpha=0.6, label=f"{n} train (mean of {k})",
                **curve_style(len(smooth)))
        ax.plot(metrics[n]["val_steps"], metrics[n]["val_loss"], style, marker="o", ms=3, label=f"{n} validation")
    ax.axhline(2.0, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="step", ylabel="cross-entropy (nats / character)",
           title=f"{args.cell.upper()} {args.hidden} on Tiny Shakespeare, seq {args.seq_len}, batch {batch}")
    ax.legend()
    png = save_figure(fig, out / "loss_curve.png")
    plt.close(fig)
    caption = (f"Cross-entropy in nats per character against the training step: the training loss (a running mean of "
               f"{k} steps) and the validation loss every {args.eval_every} steps, per backend; the dotted line is "
               f"2 nats")
    finish_run(out, "char_lstm", args, metrics, headers, rows, [(png, caption)], title=f"dlfs char {args.cell}")
    return metrics


if __name__ == "__main__":
    entry_point(main)
