"""The book's chapters 2-3 on Boston housing (or diabetes): linear regression and two neural networks,
trained in NumPy and in PyTorch from identical weights, refereed by scikit-learn's closed form.

    python -m experiments.regression --backend both --dataset boston --out runs/regression
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import dlfs
from dlfs.data import book_regression_split, load_boston, load_diabetes
from dlfs.io import save_figure
from dlfs.metrics import mae, rmse
from experiments.common import (
    _positive_int,
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

# The book's printed test MAE / RMSE on Boston (chapters 2-3), and sklearn's closed form on the same split.
BOOK = {"linear": (3.52, 5.01), "one_hidden": (2.60, 4.03), "two_hidden": (2.45, 3.83),
        "sklearn": (3.5671, 5.0476)}
SEED = 20190501  # the book's chapter 3 seed


def build(B: Any, model: str, n_features: int, seed: int, device: str | None = None) -> Any:
    """The three chapter 2-3 models: linear, 13 sigmoid -> 1, 13 sigmoid -> 13 sigmoid -> 1, on ``device``."""
    layers = {
        "linear": [B.Dense(1, B.Linear())],
        "one_hidden": [B.Dense(n_features, B.Sigmoid()), B.Dense(1, B.Linear())],
        "two_hidden": [B.Dense(n_features, B.Sigmoid()), B.Dense(n_features, B.Sigmoid()), B.Dense(1, B.Linear())],
    }[model]
    return B.NeuralNetwork(layers, B.MeanSquaredError(), seed=seed, dtype="float64", device=device)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser("regression", __doc__.splitlines()[0], datasets=("boston", "diabetes"), epochs=50,
                         seed=SEED)
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (the book's 0.01)")
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="mini-batch size (the book's 32)")
    args = parse_args(parser, argv)
    out = prepare_out(args.out, "regression", args.overwrite)
    X, y = load_boston(args.data_dir) if args.dataset == "boston" else load_diabetes()
    X_train, X_test, y_train, y_test = book_regression_split(X, y)

    from sklearn.linear_model import LinearRegression

    sk = LinearRegression().fit(X_train, y_train)
    sk_pred = sk.predict(X_test)
    metrics: dict[str, Any] = {"dataset": args.dataset, "n_train": len(X_train), "n_test": len(X_test),
                               "sklearn": {"mae": mae(sk_pred, y_test), "rmse": rmse(sk_pred, y_test)},
                               "book": {k: {"mae": v[0], "rmse": v[1]} for k, v in BOOK.items()}}
    preds: dict[str, dict[str, np.ndarray]] = {}
    for model in ("linear", "one_hidden", "two_hidden"):
        metrics[model] = {}
        preds[model] = {}
        for name in backends(args.backend):
            B = dlfs.backend(name)
            net = build(B, model, X.shape[1], args.seed, network_device(args, name))
            t0 = time.perf_counter()
            with limit_threads(args.threads):
                hist = B.Trainer(net, B.SGD(lr=args.lr)).fit(
                    X_train, y_train, X_test, y_test, epochs=args.epochs, eval_every=10, batch_size=args.batch_size,
                    seed=args.seed, progress=not args.no_progress, **checkpoint_options(args, name, model))
                pred = net.predict(X_test)
            preds[model][name] = pred
            metrics[model][name] = {"mae": mae(pred, y_test), "rmse": rmse(pred, y_test),
                                    "val_loss": hist.val_loss, "seconds": time.perf_counter() - t0,
                                    "history": hist.to_dict()}  # per-epoch, for `dlfs compare regression`
        if len(preds[model]) == 2:
            metrics[model]["max_prediction_difference"] = float(np.abs(preds[model]["scratch"]
                                                                       - preds[model]["torch"]).max())

    headers = ["model", *[f"{b} MAE / RMSE" for b in backends(args.backend)], "book MAE / RMSE"]
    if args.backend == "both":
        headers.append("max |scratch - torch|")
    rows = []
    for model in ("linear", "one_hidden", "two_hidden"):
        row = [model] + [f"{metrics[model][b]['mae']:.4f} / {metrics[model][b]['rmse']:.4f}"
                         for b in backends(args.backend)]
        row.append(f"{BOOK[model][0]:.2f} / {BOOK[model][1]:.2f}" if args.dataset == "boston" else "-")
        if args.backend == "both":
            row.append(f"{metrics[model]['max_prediction_difference']:.2e}")
        rows.append(row)
    skrow = ["sklearn closed form", *[f"{metrics['sklearn']['mae']:.4f} / {metrics['sklearn']['rmse']:.4f}"]
             * len(backends(args.backend)), f"{BOOK['sklearn'][0]} / {BOOK['sklearn'][1]}"
             if args.dataset == "boston" else "-"]
    if args.backend == "both":
        skrow.append("")
    rows.append(skrow)
    print(f"\nTest MAE / RMSE on {args.dataset} ({len(X_train)} train, {len(X_test)} test; SGD lr {args.lr}, "
          f"{args.epochs} epochs, batch {args.batch_size})")
    print(format_table(headers, rows))
    for name in backends(args.backend):
        rel = {k: metrics["linear"][name][k] / metrics["sklearn"][k] - 1 for k in ("mae", "rmse")}
        metrics["linear"][name]["vs_sklearn"] = rel
        print(f"{name}: linear regression vs sklearn: MAE {rel['mae']:+.2%}, RMSE {rel['rmse']:+.2%}")

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, model in zip(axes, ("linear", "one_hidden", "two_hidden")):
        for name, marker in zip(backends(args.backend), ("o", "x")):
            ax.scatter(y_test[:, 0], preds[model][name][:, 0], s=12, marker=marker, label=name, alpha=0.7)
        lim = [float(y_test.min()), float(y_test.max())]
        ax.plot(lim, lim, "k--", lw=1)
        ax.set(title=model, xlabel="actual", ylabel="predicted")
        ax.legend()
    fig.suptitle(f"{args.dataset}: predicted vs actual on the test set")
    png = save_figure(fig, out / "predicted_vs_actual.png")
    plt.close(fig)
    caption = (f"Predicted against actual target on the {len(X_test)} test samples of {args.dataset}, one panel per "
               f"model (linear, one and two hidden layers); points on the dashed diagonal are exact")
    finish_run(out, "regression", args, metrics, headers, rows, [(png, caption)],
               title=f"dlfs regression ({args.dataset})")
    return metrics


if __name__ == "__main__":
    main()
