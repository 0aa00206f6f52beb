"""The book's chapter 4 ladder, rung by rung: MSE -> softmax cross-entropy -> momentum -> learning-rate decay ->
Glorot init -> dropout -> a deeper net, trained in NumPy and in PyTorch from identical weights.

    python -m experiments.ladder --dataset digits --backend both --out runs/ladder
    python -m experiments.ladder --dataset fashion-mnist --epochs 50 --mlp-baseline --out runs/ladder-fashion

Every rung changes one thing from the one before (the book's order and hyper-parameters: hidden width 89, batch
60, eval every 10 epochs, lr 0.1 for the SGD rungs, inputs standardised with the training set's global mean and
std, one-hot targets, seed 20190119). The book's Trainer stops early by default, so the ladder does too
(``--no-early-stopping`` turns it off): the accuracy is that of the restored best evaluated epoch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import dlfs
from dlfs.data import DATASETS, flatten, one_hot, standardize
from dlfs.io import save_figure
from dlfs.metrics import accuracy
from experiments._vision import load_images_for
from experiments.common import (
    backends,
    base_parser,
    checkpoint_options,
    finish_run,
    format_table,
    limit_threads,
    network_device,
    parse_args,
    prepare_out,
)


@dataclass(frozen=True)
class Rung:
    """One network + optimiser of the ladder. ``book`` is the book's printed MNIST test accuracy (%), if any."""

    key: str
    label: str
    hidden: tuple[int, ...] = (89,)
    hidden_activation: str = "tanh"
    output_activation: str = "linear"
    loss: str = "softmax_cross_entropy"
    optimizer: tuple[tuple[str, Any], ...] = (("lr", 0.1),)  # SGD unless it names a momentum
    weight_init: str = "standard"
    dropout: float = 0.0
    book: float | None = None


_MOMENTUM = (("lr", 0.1), ("momentum", 0.9))
_LINEAR = (("lr", 0.15), ("momentum", 0.9), ("final_lr", 0.05), ("decay_type", "linear"))
_EXPONENTIAL = (("lr", 0.2), ("momentum", 0.9), ("final_lr", 0.05), ("decay_type", "exponential"))

RUNGS: tuple[Rung, ...] = (
    Rung("mse", "MSE, sigmoid outputs", output_activation="sigmoid", loss="mse", book=72.80),
    Rung("sce_sigmoid", "softmax cross-entropy, sigmoid hidden", hidden_activation="sigmoid"),
    Rung("sce_tanh", "softmax cross-entropy, tanh hidden", book=91.04),
    Rung("momentum", "+ momentum 0.9", optimizer=_MOMENTUM, book=95.36),
    Rung("linear_decay", "+ linear decay 0.15 -> 0.05", optimizer=_LINEAR, book=95.98),
    Rung("exponential_decay", "+ exponential decay 0.2 -> 0.05", optimizer=_EXPONENTIAL, book=95.75),
    Rung("glorot", "+ Glorot init", optimizer=_EXPONENTIAL, weight_init="glorot", book=96.69),
    Rung("dropout", "+ dropout 0.2", optimizer=_EXPONENTIAL, weight_init="glorot", dropout=0.2, book=96.77),
    Rung("deep", "178-46-10, no dropout", hidden=(178, 46), optimizer=_EXPONENTIAL, weight_init="glorot"),
    Rung("deep_dropout", "178-46-10, dropout 0.2", hidden=(178, 46), optimizer=_EXPONENTIAL, weight_init="glorot",
         dropout=0.2, book=97.34),
)


def build_network(B: Any, rung: Rung, num_classes: int, seed: int, dtype: str, device: str | None = None) -> Any:
    """The rung's network in backend ``B`` on ``device``: hidden Dense layers (with dropout), then the output
    layer."""
    layers = [B.Dense(n, rung.hidden_activation, weight_init=rung.weight_init, dropout=rung.dropout)
              for n in rung.hidden]
    layers.append(B.Dense(num_classes, rung.output_activation, weight_init=rung.weight_init))
    loss = B.MeanSquaredError() if rung.loss == "mse" else B.SoftmaxCrossEntropy()
    return B.NeuralNetwork(layers, loss, seed=seed, dtype=dtype, device=device)


def build_optimizer(B: Any, rung: Rung) -> Any:
    kwargs = dict(rung.optimizer)
    return B.SGDMomentum(**kwargs) if "momentum" in kwargs else B.SGD(**kwargs)


def load(dataset: str, data_dir: str | None, backends: Sequence[str] = ("scratch",), download: bool = False
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Flattened, standardised images (the book's global mean/std of the training set), one-hot targets.

    Each of ``backends`` loads through its own path (scratch: dlfs.data; torch: torchvision), checked identical;
    ``download`` fetches a missing MNIST.
    Returns X_train (n, d), Y_train (n, C), X_test, Y_test, y_test (labels), y_train (labels), C.
    """
    data = load_images_for(backends, dataset, data_dir, download)
    X_train, X_test = standardize(flatten(data.X_train), flatten(data.X_test))
    C = data.num_classes
    return (X_train, one_hot(data.y_train, C), X_test, one_hot(data.y_test, C), data.y_test, data.y_train, C)


def run_rung(B: Any, rung: Rung, data: tuple, args: Any) -> tuple[dict[str, Any], Any]:
    """Train one rung in one backend; its metrics and the trained network."""
    X_train, Y_train, X_test, Y_test, y_test, _, C = data
    net = build_network(B, rung, C, args.seed, args.dtype, network_device(args, B.Trainer.backend))
    trainer = B.Trainer(net, build_optimizer(B, rung))
    t0 = time.perf_counter()
    hist = trainer.fit(X_train, Y_train, X_test, Y_test, epochs=args.epochs, eval_every=min(10, args.epochs),
                       batch_size=60, seed=args.seed, early_stopping=not args.no_early_stopping,
                       progress=not args.no_progress, **checkpoint_options(args, B.Trainer.backend, rung.key))
    wall = time.perf_counter() - t0
    pred = net.predict(X_test)
    return {"accuracy": 100.0 * accuracy(pred, y_test), "val_loss": trainer.evaluate(X_test, Y_test),
            "wall_s": wall, "stopped_epoch": hist.stopped_epoch, "restored_epoch": hist.restored_epoch,
            "history": hist.to_dict()}, net


def mlp_baseline(data: tuple, seed: int) -> dict[str, Any]:
    """scikit-learn's ``MLPClassifier(hidden_layer_sizes=(100,))`` (Adam, its defaults) on the same split."""
    from sklearn.neural_network import MLPClassifier

    X_train, _, X_test, _, y_test, y_train, _ = data
    t0 = time.perf_counter()
    mlp = MLPClassifier(hidden_layer_sizes=(100,), random_state=seed).fit(X_train, y_train)
    return {"accuracy": 100.0 * float(mlp.score(X_test, y_test)), "wall_s": time.perf_counter() - t0,
            "n_iter": int(mlp.n_iter_)}


def plot(metrics: dict[str, Any], names: list[str], out: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rungs = metrics["rungs"]
    x = np.arange(len(rungs))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(12, 4.8))
    for i, name in enumerate(names):
        ax.bar(x + (i - (len(names) - 1) / 2) * width, [r[name]["accuracy"] for r in rungs], width, label=name)
    if metrics["dataset"] == "mnist":
        book = [(i, r["book_mnist_accuracy"]) for i, r in enumerate(rungs) if r["book_mnist_accuracy"] is not None]
        ax.scatter([i for i, _ in book], [a for _, a in book], marker="_", s=400, c="k", zorder=3, label="book")
    if "mlp_baseline" in metrics:
        ax.axhline(metrics["mlp_baseline"]["accuracy"], color="gray", ls="--", lw=1, label="sklearn MLP (100,)")
    accs = [r[n]["accuracy"] for r in rungs for n in names]
    ax.set_ylim(max(0.0, min(accs) - 5), 100)
    ax.set_xticks(x, [r["label"] for r in rungs], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Chapter 4 ladder on {metrics['dataset']} ({metrics['epochs']} epochs)")
    ax.legend(loc="upper left", ncols=4, fontsize=8)
    path = save_figure(fig, out / "ladder.png")
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser("ladder", __doc__.splitlines()[0], datasets=DATASETS, default_dataset="digits", epochs=50,
                         download=True)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="network dtype")
    parser.add_argument("--no-early-stopping", action="store_true",
                        help="train every epoch (the book's Trainer stops early by default)")
    parser.add_argument("--rungs", nargs="+", choices=[r.key for r in RUNGS], default=None,
                        help="run only these rungs (default: all, in the book's order)")
    parser.add_argument("--mlp-baseline", action="store_true",
                        help="also fit sklearn's MLPClassifier(hidden_layer_sizes=(100,)) on the same split")
    args = parse_args(parser, argv)
    out = prepare_out(args.out, "ladder", args.overwrite)
    names = backends(args.backend)

    start = time.perf_counter()
    data = load(args.dataset, args.data_dir, names, args.download)
    rungs = [r for r in RUNGS if args.rungs is None or r.key in args.rungs]
    metrics: dict[str, Any] = {
        "dataset": args.dataset, "n_train": len(data[0]), "n_test": len(data[2]), "epochs": args.epochs,
        "seed": args.seed, "dtype": args.dtype, "early_stopping": not args.no_early_stopping, "backends": names,
        "rungs": []}
    jobs = tqdm(total=len(rungs) * len(names), desc="ladder", disable=args.no_progress)
    with limit_threads(args.threads):
        for rung in rungs:
            row: dict[str, Any] = {"key": rung.key, "label": rung.label, "book_mnist_accuracy": rung.book}
            nets = {}
            for name in names:
                jobs.set_postfix_str(f"{rung.key} [{name}]")
                row[name], nets[name] = run_rung(dlfs.backend(name), rung, data, args)
                jobs.update()
            if len(names) == 2:
                row["diff_pp"] = abs(row["scratch"]["accuracy"] - row["torch"]["accuracy"])
                s, t = nets["scratch"].state_dict(), nets["torch"].state_dict()
                row["max_param_diff"] = max(float(np.abs(s[k].astype(np.float64) - t[k]).max()) for k in s)
            metrics["rungs"].append(row)
        if args.mlp_baseline:
            jobs.set_postfix_str("sklearn MLPClassifier")
            metrics["mlp_baseline"] = mlp_baseline(data, args.seed)
    jobs.close()
    if len(names) == 2:
        metrics["max_diff_pp"] = max(r["diff_pp"] for r in metrics["rungs"])
    metrics["wall_s"] = time.perf_counter() - start

    headers = ["rung", "book MNIST %", *[f"{n} acc %" for n in names]]
    headers += ["diff pp"] if len(names) == 2 else []
    headers += [f"{n} val loss" for n in names] + [f"{n} s" for n in names] + ["stop -> restored"]
    rows = []
    for r in metrics["rungs"]:
        row = [r["label"], "-" if r["book_mnist_accuracy"] is None else f"{r['book_mnist_accuracy']:.2f}"]
        row += [f"{r[n]['accuracy']:.2f}" for n in names]
        row += [f"{r['diff_pp']:.2f}"] if len(names) == 2 else []
        row += [r[n]["val_loss"] for n in names] + [f"{r[n]['wall_s']:.2f}" for n in names]
        stops = {n: "-" if r[n]["stopped_epoch"] is None else f"{r[n]['stopped_epoch']} -> {r[n]['restored_epoch']}"
                 for n in names}
        row.append(stops[names[0]] if len(set(stops.values())) == 1 else " / ".join(f"{n[0]}: {v}"
                                                                                for n, v in stops.items()))
        rows.append(row)
    if args.mlp_baseline:
        mlp = metrics["mlp_baseline"]
        rows.append(["sklearn MLPClassifier(100,)", "-", *[f"{mlp['accuracy']:.2f}"] * len(names),
                     *([""] if len(names) == 2 else []), *[""] * len(names),
                     *[f"{mlp['wall_s']:.1f}"] * len(names), f"{mlp['n_iter']} Adam epochs"])
    print(f"\nChapter 4 ladder on {args.dataset} ({metrics['n_train']} train, {metrics['n_test']} test; "
          f"{args.epochs} epochs, batch 60, {args.dtype}, early stopping {'on' if metrics['early_stopping'] else 'off'}"
          f"); the book's numbers are MNIST, 50 epochs")
    print(format_table(headers, rows))
    if len(names) == 2:
        print(f"largest scratch-torch accuracy difference: {metrics['max_diff_pp']:.2f} pp")
    print(f"total wall time {metrics['wall_s']:.1f} s")
    png = plot(metrics, names, out)
    caption = (f"Test accuracy of each rung of the chapter 4 ladder on {args.dataset}, one bar per backend"
               + (", the book's MNIST numbers as black ticks" if args.dataset == "mnist" else "")
               + (", sklearn's MLPClassifier as the dashed line" if args.mlp_baseline else ""))
    finish_run(out, "ladder", args, metrics, headers, rows, [(png, caption)],
               title=f"dlfs chapter 4 ladder ({args.dataset})",
               notes="Book numbers: the printed MNIST test accuracies of chapter 4 (50 epochs).")
    return metrics


if __name__ == "__main__":
    main()
