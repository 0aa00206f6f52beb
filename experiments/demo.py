"""`make demo`: one small dense network trained on digits in both backends from identical weights, side by side.

    python -m experiments.demo --out runs/demo
    python -m experiments.demo --epochs 20 --checkpoint-dir runs/demo-ckpt --out runs/demo-20   # then --resume

Each backend is timed on its own with ``--threads`` threads per library (default 1, the setting whose timings we
trust on a small shared machine: with more, torch's and NumPy's thread pools wait on each other and the torch
timing can come out many times too slow), after an untimed warm-up (one batch through a throwaway network of the
same shape: torch's one-time start-up, about a second, is not training). The report shows each backend's test
accuracy and the network.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import dlfs
from dlfs.data import flatten, load_dataset, standardize
from dlfs.io import save_figure
from dlfs.metrics import accuracy
from experiments.common import (
    base_parser,
    checkpoint_options,
    finish_run,
    format_table,
    limit_threads,
    network_device,
    parse_args,
    prepare_out,
)
from experiments.report import describe_network


def build(B: Any, seed: int, device: str | None = None) -> Any:
    """64 -> 32 tanh -> 10, softmax cross-entropy, float64 so the backends agree to ~1e-12; on ``device``."""
    return B.NeuralNetwork([B.Dense(32, B.Tanh(), weight_init="glorot"), B.Dense(10, B.Linear(), weight_init="glorot")],
                           B.SoftmaxCrossEntropy(), seed=seed, dtype="float64", device=device)


def warm_up(B: Any, X: np.ndarray, y: np.ndarray, device: str | None) -> None:
    """One untimed batch through a throwaway network of the demo's shape: the libraries' first-use costs (lazy
    imports, the first autograd graph, the first DataLoader) are paid here, not in the timing."""
    B.Trainer(build(B, 0, device), B.SGDMomentum(lr=0.1, momentum=0.9)).fit(
        X[:60], y[:60], epochs=1, eval_every=1, batch_size=60, seed=0)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser("demo", __doc__.splitlines()[0], datasets=("digits", "fashion-mnist", "mnist"), epochs=10,
                         seed=20190119, download=True)
    parser.set_defaults(backend="both")
    args = parse_args(parser, argv)
    out = prepare_out(args.out, "demo", args.overwrite)
    data = load_dataset(args.dataset, args.data_dir, download=args.download)
    X_train, X_test = standardize(flatten(data.X_train), flatten(data.X_test))
    names = ["scratch", "torch"] if args.backend == "both" else [args.backend]
    histories, accs, secs, nets = {}, {}, {}, {}
    with limit_threads(args.threads):
        for name in names:
            B = dlfs.backend(name)
            nets[name] = net = build(B, args.seed, network_device(args, name))
            warm_up(B, X_train, data.y_train, network_device(args, name))
            t0 = time.perf_counter()
            histories[name] = B.Trainer(net, B.SGDMomentum(lr=0.1, momentum=0.9)).fit(
                X_train, data.y_train, X_test, data.y_test, epochs=args.epochs, eval_every=1, batch_size=60,
                seed=args.seed, progress=not args.no_progress, **checkpoint_options(args, name))
            secs[name] = time.perf_counter() - t0
            accs[name] = accuracy(net.predict(X_test), data.y_test)

    headers = ["epoch", *[f"{n} train loss" for n in names], *[f"{n} val loss" for n in names]]
    if len(names) == 2:
        headers.append("max |scratch - torch|")
    train = {n: np.array(histories[n].train_loss) for n in names}
    val = {n: np.array(histories[n].val_loss) for n in names}
    rows = []
    for e in range(args.epochs):
        row: list[Any] = [e + 1, *[float(train[n][e]) for n in names], *[float(val[n][e]) for n in names]]
        if len(names) == 2:
            gap = max(abs(train["scratch"][e] - train["torch"][e]), abs(val["scratch"][e] - val["torch"][e]))
            row.append(f"{gap:.1e}")
        rows.append(row)
    print(f"\n{data.name}: {len(X_train)} train / {len(X_test)} test, 64-32-10 tanh, softmax cross-entropy, "
          f"SGD momentum 0.9, lr 0.1, batch 60")
    print(format_table(headers, rows))
    for n in names:
        print(f"{n:8s} test accuracy {accs[n]:.2%}  ({secs[n]:.2f} s, {args.threads} thread(s) per library)")
    metrics: dict[str, Any] = {n: {"accuracy": accs[n], "seconds": secs[n], "history": histories[n].to_dict()}
                               for n in names}
    if len(names) == 2:
        diff = float(max(np.abs(train["scratch"] - train["torch"]).max(), np.abs(val["scratch"] - val["torch"]).max()))
        metrics["max_loss_difference"] = diff
        print(f"largest per-epoch loss difference between the backends: {diff:.2e}")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = np.arange(1, args.epochs + 1)
    for n, style in zip(names, ("-", "--")):
        ax.plot(epochs, histories[n].train_loss, style, marker="o", label=f"{n} train")
        ax.plot(epochs, histories[n].val_loss, style, marker="x", label=f"{n} validation")
    ax.set(xlabel="epoch", ylabel="softmax cross-entropy", title=f"{data.name}: both backends from identical weights")
    if args.epochs <= 20:  # whole epochs only: a short run otherwise gets ticks at 1.25, 1.5, ...
        ax.set_xticks(epochs)
    ax.legend()
    png = save_figure(fig, out / "loss_curves.png")
    plt.close(fig)
    caption = (f"Training and validation loss (softmax cross-entropy) per epoch on {data.name}, "
               f"{' and '.join(names)}{' from identical weights' if len(names) == 2 else ''}")
    highlights = {"test accuracy": ", ".join(f"{n} {accs[n]:.2%} ({len(X_test)} images)" for n in names),
                  "network": describe_network(nets[names[0]]),
                  "training": f"{args.epochs} epoch(s), batch 60, SGD momentum 0.9, lr 0.1, seed {args.seed}; "
                              + ", ".join(f"{n} {secs[n]:.2f} s" for n in names)
                              + f" at {args.threads} thread(s) per library"}
    finish_run(out, "demo", args, metrics, headers, rows, [(png, caption)],
               title="dlfs demo: scratch and torch side by side", highlights=highlights)
    return metrics


if __name__ == "__main__":
    main()
