"""Chapter 7's convolutional autoencoder, trained without labels in NumPy and in PyTorch from identical weights.

    python -m experiments.autoencoder --dataset digits --backend both --out runs/autoencoder-digits
    python -m experiments.autoencoder --dataset mnist --epochs 1 --out runs/autoencoder-mnist

The images are scaled to [-1, 1] with the training set's minimum and maximum (the book's
``(X - min) / (max - min) * 2 - 1``: the decoder ends in tanh) and the network learns to redraw them through a
28-number encoding (``B.Autoencoder``; mean squared error against the image itself, batch 60, as the book).

Learning rate. dlfs's ``MeanSquaredError`` sums over the pixels and averages over the batch, so its loss and
gradients are C*H*W times those of ``nn.MSELoss()`` (a mean over pixels too), which the book uses. The book's
``SGD(lr, momentum=0.9)`` is therefore exactly ``SGDMomentum(lr / (C*H*W), momentum=0.9)`` here: ``--book-lr``
is the book's number (default 0.1, the chapter's; its notebook ``07_PyTorch_Unsupervised.ipynb`` uses 0.01, which
trains three times worse on digits in 30 epochs), divided by the pixel count for you; ``--lr`` sets dlfs's own
value. Taken literally, ``SGDMomentum(lr=0.1)`` on dlfs's loss is the book's step times C*H*W (64 on digits, 784 on
MNIST): every tanh saturates and the output collapses to a constant image (test MSE ~2.5 on digits).
``--optimizer adam`` uses Adam (lr 1e-3), which is indifferent to that scale.

Outputs (``--out``): ``reconstructions.png`` (test images beside their reconstructions, one row per backend),
``random_decodings.png`` (the decoder applied to random encodings drawn uniformly from [-1, 1]^28, the book's
demonstration that an autoencoder's encoding space is not smooth: most of it decodes to no digit at all),
``tsne.png`` (the test encodings mapped to 2-D by each backend's exact t-SNE, beside scikit-learn's
``TSNE(method="exact")`` on the same encodings, coloured by the class the network never saw), ``loss.png``,
and ``metrics.json``: the reconstruction MSE per pixel (the book's ``nn.MSELoss`` number) per backend, the
trustworthiness (``sklearn.manifold.trustworthiness``, 5 neighbours) of every map, and the timings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import dlfs
from dlfs.data import DATASETS
from dlfs.errors import check_array
from dlfs.io import save_figure
from experiments._vision import load_images_for, vision
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
from experiments.report import curve_style, loss_scale

IMAGE_DATASETS = tuple(d for d in ("digits", "fashion-mnist", "mnist") if d in DATASETS)
BOOK = {"book_lr": 0.1, "momentum": 0.9, "batch_size": 60, "encoding_dim": 28, "tsne_seed": 20190405}
DEFAULT_EPOCHS = {"digits": 30}  # the book trains one epoch of MNIST's 60,000 images; digits has 1,347
ADAM_LR = 1e-3
EVAL_IMAGES = 1000  # test images evaluated after every epoch (the whole test set is evaluated once, at the end)


def scale_to_unit_range(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The book's scaling to [-1, 1]: ``(X - min) / (max - min) * 2 - 1`` with the training set's min and max.

    X_train (N, C, H, W), X_test (M, C, H, W) -> the same shapes, float32 (test pixels may leave [-1, 1] when
    they exceed the training range)."""
    X_train = check_array("X_train", X_train, ndim=4)
    X_test = check_array("X_test", X_test, ndim=4)
    lo, hi = float(X_train.min()), float(X_train.max())
    if hi <= lo:
        raise ValueError(f"X_train: every pixel equals {lo}; cannot scale a constant image set to [-1, 1]")
    scale = lambda X: ((X - lo) / (hi - lo) * 2 - 1).astype(np.float32)  # noqa: E731
    return scale(X_train), scale(X_test)


def load(dataset: str, data_dir: str | None, train_size: int | None, test_size: int | None,
         backends: Sequence[str] = ("scratch",), download: bool = False
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(X_train, X_test, y_test, classes): images in [-1, 1] (N, 1, H, W); the labels only colour the maps.

    Each of ``backends`` loads through its own path (scratch: dlfs.data; torch: torchvision), checked identical;
    ``download`` fetches a missing MNIST."""
    data = load_images_for(backends, dataset, data_dir, download)
    X_train, X_test = scale_to_unit_range(data.X_train[:train_size], data.X_test[:test_size])
    return X_train, X_test, data.y_test[:test_size], list(data.classes)


def make_optimizer(B: Any, args: Any, pixels: int) -> tuple[Any, float]:
    """The optimiser and the learning rate it uses (see the module docstring for the book's scale)."""
    if args.optimizer == "adam":
        lr = args.lr or ADAM_LR
        return B.Adam(lr=lr), lr
    lr = args.lr or args.book_lr / pixels
    return B.SGDMomentum(lr=lr, momentum=BOOK["momentum"]), lr


def train(name: str, args: Any, X_train: np.ndarray, X_test: np.ndarray) -> tuple[dict[str, Any], Any]:
    """Train the autoencoder in one backend; its metrics and the trained model."""
    B = dlfs.backend(name)
    ae = B.Autoencoder(X_train.shape[2:], encoding_dim=args.encoding_dim, channels=X_train.shape[1],
                       seed=args.seed, dtype=args.dtype, device=network_device(args, name))
    optimizer, lr = make_optimizer(B, args, int(np.prod(X_train.shape[1:])))
    X_val = X_test[:EVAL_IMAGES]
    n_steps = -(-len(X_train) // args.batch_size) * args.epochs
    t0 = time.perf_counter()
    hist = B.Trainer(ae, optimizer).fit(X_train, X_train, X_val, X_val, epochs=args.epochs, eval_every=1,
                                        batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress,
                                        **checkpoint_options(args, name))
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    Z = ae.encode(X_test)
    R = ae.decode(Z)
    encode_s = time.perf_counter() - t0
    err = (R.astype(np.float64) - X_test) ** 2
    if not np.isfinite(err).all():
        raise FloatingPointError(f"{name}: the reconstructions are not finite: training diverged (lr={lr}); "
                                 f"lower --lr/--book-lr or use --optimizer adam")
    return {"test_mse": float(err.mean()), "test_loss": float(err.sum() / len(err)),
            "train_loss": hist.train_loss[-1], "train_s": train_s, "encode_decode_s": encode_s, "lr": lr,
            "optimizer": args.optimizer, "steps": n_steps, "history": hist.to_dict()}, (ae, Z, R)


def nearest_mse(images: np.ndarray, reference: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """For each of ``images`` (n, C, H, W) the per-pixel MSE to its nearest image in ``reference`` (m, C, H, W)."""
    a = images.reshape(len(images), -1).astype(np.float64)
    best = np.full(len(a), np.inf)
    for i in range(0, len(reference), chunk):
        b = reference[i : i + chunk].reshape(-1, a.shape[1]).astype(np.float64)
        d = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        best = np.minimum(best, d.min(axis=1))
    return np.maximum(best, 0) / a.shape[1]


def embed(name: str, Z: np.ndarray, args: Any) -> dict[str, Any]:
    """The t-SNE maps of encodings Z (n, d): backend ``name``'s TSNE and sklearn's exact one, same settings."""
    from sklearn.manifold import TSNE as SklearnTSNE
    from sklearn.manifold import trustworthiness

    Z = Z.astype(np.float64)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    model = dlfs.backend(name).TSNE(perplexity=args.perplexity, n_iter=args.tsne_iter, seed=args.seed)
    out["map"] = model.fit_transform(Z)
    out["tsne_s"], out["kl"] = time.perf_counter() - t0, float(model.kl_divergence_)
    t0 = time.perf_counter()
    sk = SklearnTSNE(n_components=2, perplexity=args.perplexity, early_exaggeration=12.0, learning_rate=200.0,
                     max_iter=args.tsne_iter, method="exact", init="random", random_state=args.seed)
    out["sklearn_map"] = sk.fit_transform(Z)
    out["sklearn_tsne_s"], out["sklearn_kl"] = time.perf_counter() - t0, float(sk.kl_divergence_)
    out["trustworthiness"] = float(trustworthiness(Z, out["map"], n_neighbors=5))
    out["sklearn_trustworthiness"] = float(trustworthiness(Z, out["sklearn_map"], n_neighbors=5))
    return out


# --- figures -------------------------------------------------------------------------------------------------
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _image_rows(rows: dict[str, tuple[str, np.ndarray]], out: Path, filename: str, title: str) -> Path:
    """One grid of images per entry of ``rows`` (label -> (backend, (n, C, H, W) in [-1, 1])), each drawn by that
    backend's ``vision.image_grid`` (NumPy, or torchvision's ``make_grid``): grey levels fixed to [-1, 1]
    (``normalize`` with ``value_range=(-1, 1)`` clamps and maps them to [0, 1]), white padding, and a colour bar
    in pixel values (-1 black to 1 white), so a grey is readable as a number."""
    plt = _plt()
    n = len(next(iter(rows.values()))[1])
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.9 * n + 0.6, 1.0 * len(rows) + 0.5), squeeze=False)
    for ax, (label, (backend, images)) in zip(axes[:, 0], rows.items()):
        grid = vision(backend).image_grid(images, nrow=len(images), padding=2, normalize=True, value_range=(-1, 1),
                                          pad_value=1.0)
        image = ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(label, fontsize=8)
    bar = fig.colorbar(image, ax=axes[:, 0].tolist(), label="pixel", fraction=0.03, pad=0.01)
    bar.set_ticks([0, 0.5, 1], labels=["-1", "0", "1"])  # the grid's [0, 1] is the images' [-1, 1]
    fig.suptitle(title, fontsize=10)
    path = save_figure(fig, out / filename)
    plt.close(fig)
    return path


def plot_maps(maps: dict[str, dict[str, Any]], labels: np.ndarray, classes: list[str], out: Path) -> Path:
    """Each backend's t-SNE map beside sklearn's, points coloured by their class."""
    plt = _plt()
    fig, axes = plt.subplots(len(maps), 2, figsize=(10, 4.6 * len(maps)), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for r, (name, m) in enumerate(maps.items()):
        for c, (key, who) in enumerate((("map", f"{name} TSNE"), ("sklearn_map", "sklearn TSNE(method='exact')"))):
            ax, Y = axes[r, c], m[key]
            for k in np.unique(labels):
                sel = labels == k
                ax.scatter(Y[sel, 0], Y[sel, 1], s=6, color=cmap(int(k) % 10), label=classes[int(k)])
            trust = m["trustworthiness" if key == "map" else "sklearn_trustworthiness"]
            ax.set_title(f"{who} of the {name} encodings\ntrustworthiness {trust:.3f}", fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    axes[0, 1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2)
    fig.suptitle(f"t-SNE of {len(labels)} test encodings, coloured by the class the autoencoder never saw",
                 fontsize=10)
    path = save_figure(fig, out / "tsne.png")
    plt.close(fig)
    return path


def plot_loss(metrics: dict[str, Any], names: list[str], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    series = []
    for name in names:
        h = metrics[name]["history"]
        ax.plot(range(1, len(h["train_loss"]) + 1), h["train_loss"], label=f"{name} train",
                **curve_style(len(h["train_loss"])))
        ax.plot(h["eval_epochs"], h["val_loss"], "--", label=f"{name} test (first {EVAL_IMAGES})",
                **curve_style(len(h["val_loss"])))
        series += [h["train_loss"], h["val_loss"]]
    ax.set_xlabel("epoch"), ax.set_ylabel("MSE (sum over pixels, mean over images)")
    loss_scale(ax, *series)
    ax.legend(fontsize=8)
    path = save_figure(fig, out / "loss.png")
    plt.close(fig)
    return path


def first_of_each_class(y: np.ndarray, n: int) -> np.ndarray:
    """Indices of up to ``n`` test images, the first of each class first (a varied strip to look at)."""
    firsts = [int(np.flatnonzero(y == k)[0]) for k in np.unique(y)]
    rest = [i for i in range(len(y)) if i not in set(firsts)]
    return np.array((firsts + rest)[:n])


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = base_parser("autoencoder", __doc__.splitlines()[0], datasets=IMAGE_DATASETS, default_dataset="digits",
                         epochs=None, seed=BOOK["tsne_seed"], download=True)
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="training epochs (default: 30 on digits, 1 on MNIST and Fashion-MNIST as the book)")
    parser.add_argument("--optimizer", choices=("sgdm", "adam"), default="sgdm",
                        help="sgdm: SGD with momentum 0.9, the book's; adam: Adam")
    parser.add_argument("--book-lr", type=float, default=BOOK["book_lr"],
                        help="sgdm's learning rate on the book's scale (nn.MSELoss, a mean over pixels); divided by "
                             "the pixel count for dlfs's MSE (a sum over pixels)")
    parser.add_argument("--lr", type=float, default=None,
                        help="dlfs's learning rate, overriding --book-lr (default for adam: 1e-3)")
    parser.add_argument("--batch-size", type=_positive_int, default=BOOK["batch_size"], help="batch size (book's 60)")
    parser.add_argument("--encoding-dim", type=_positive_int, default=BOOK["encoding_dim"], help="encoding size")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="network dtype")
    parser.add_argument("--train-size", type=_positive_int, default=None, help="use only the first N training images")
    parser.add_argument("--test-size", type=_positive_int, default=None, help="use only the first N test images")
    parser.add_argument("--tsne-points", type=_positive_int, default=500,
                        help="test encodings mapped by t-SNE (exact t-SNE is O(n^2) per iteration)")
    parser.add_argument("--tsne-iter", type=_positive_int, default=1000, help="t-SNE iterations (ours and sklearn's)")
    parser.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    parser.add_argument("--random-encodings", type=_positive_int, default=10, help="random encodings to decode")
    args = parse_args(parser, argv)
    args.epochs = args.epochs or DEFAULT_EPOCHS.get(args.dataset, 1)
    out = prepare_out(args.out, "autoencoder", args.overwrite)
    names = backends(args.backend)

    start = time.perf_counter()
    X_train, X_test, y_test, classes = load(args.dataset, args.data_dir, args.train_size, args.test_size, names,
                                            args.download)
    n_map = min(args.tsne_points, len(X_test))
    if n_map < 2 or args.perplexity >= n_map:
        parser.error(f"--tsne-points: t-SNE needs more points than the perplexity ({args.perplexity}), got {n_map} "
                     f"(the test set has {len(X_test)})")
    metrics: dict[str, Any] = {
        "dataset": args.dataset, "n_train": len(X_train), "n_test": len(X_test), "image_shape": list(X_train.shape[1:]),
        "epochs": args.epochs, "seed": args.seed, "dtype": args.dtype, "backends": names,
        "encoding_dim": args.encoding_dim, "batch_size": args.batch_size, "tsne_points": n_map}
    results, maps = {}, {}
    Z_random = np.random.default_rng(args.seed).uniform(-1.0, 1.0, (args.random_encodings, args.encoding_dim))
    with limit_threads(args.threads):
        for name in names:
            metrics[name], results[name] = train(name, args, X_train, X_test)
        for name in tqdm(names, desc="t-SNE", disable=args.no_progress):
            maps[name] = embed(name, results[name][1][:n_map], args)
            metrics[name].update({k: v for k, v in maps[name].items() if not k.endswith("map")})
        for name in names:
            ae, Z, R = results[name]
            decoded = ae.decode(Z_random)
            results[name] = (ae, Z, R, decoded)
            # the book's point in numbers: a random point of [-1, 1]^28 decodes far from every training image,
            # while a real image's encoding decodes close to one
            metrics[name]["random_decoding_nearest_mse"] = float(nearest_mse(decoded, X_train).mean())
            metrics[name]["reconstruction_nearest_mse"] = float(nearest_mse(R[: len(decoded)], X_train).mean())
            metrics[name]["encoding_range"] = [float(Z.min()), float(Z.max())]
    if len(names) == 2:
        s, t = results["scratch"][0].state_dict(), results["torch"][0].state_dict()
        metrics["max_param_diff"] = max(float(np.abs(s[k].astype(np.float64) - t[k]).max()) for k in s)
        metrics["test_mse_diff"] = abs(metrics["scratch"]["test_mse"] - metrics["torch"]["test_mse"])
    metrics["wall_s"] = time.perf_counter() - start

    headers = ["backend", "test MSE/pixel", "train loss", "train s", "t-SNE trust", "sklearn trust", "t-SNE s",
               "sklearn s", "random decoding NN-MSE"]
    rows = [[n, f"{metrics[n]['test_mse']:.5f}", metrics[n]["train_loss"], f"{metrics[n]['train_s']:.1f}",
             f"{metrics[n]['trustworthiness']:.4f}", f"{metrics[n]['sklearn_trustworthiness']:.4f}",
             f"{metrics[n]['tsne_s']:.1f}", f"{metrics[n]['sklearn_tsne_s']:.1f}",
             f"{metrics[n]['random_decoding_nearest_mse']:.4f}"] for n in names]
    print(f"\nconvolutional autoencoder on {args.dataset} ({metrics['n_train']} train, {metrics['n_test']} test images "
          f"in [-1, 1], {args.epochs} epoch(s), {args.optimizer} lr {metrics[names[0]]['lr']:.3g}, {args.dtype}); "
          f"t-SNE of {n_map} test encodings")
    print(format_table(headers, rows))
    for n in names:
        print(f"trustworthiness [{n}]: ours {metrics[n]['trustworthiness']:.4f}, sklearn exact "
              f"{metrics[n]['sklearn_trustworthiness']:.4f}; nearest-training-image MSE/pixel: reconstructions "
              f"{metrics[n]['reconstruction_nearest_mse']:.4f}, random decodings "
              f"{metrics[n]['random_decoding_nearest_mse']:.4f}")
    if len(names) == 2:
        print(f"scratch - torch: test MSE differs by {metrics['test_mse_diff']:.2e}, largest parameter difference "
              f"{metrics['max_param_diff']:.2e}")

    idx = first_of_each_class(y_test, 10)
    figs = [_image_rows({"original": (names[0], X_test[idx]), **{n: (n, results[n][2][idx]) for n in names}}, out,
                        "reconstructions.png", f"test images (top) and their reconstructions through "
                        f"{args.encoding_dim} numbers"),
            _image_rows({n: (n, results[n][3]) for n in names}, out, "random_decodings.png",
                        f"decodings of {args.random_encodings} random encodings, uniform in [-1, 1]^"
                        f"{args.encoding_dim}: the encoding space is not smooth"),
            plot_maps(maps, y_test[:n_map], classes, out), plot_loss(metrics, names, out)]
    captions = [f"Ten test images of {args.dataset} (top row) and each backend's reconstruction of them through "
                f"{args.encoding_dim} numbers",
                f"What the decoder draws from {args.random_encodings} random encodings, uniform in [-1, 1]^"
                f"{args.encoding_dim}: mostly no digit at all",
                f"t-SNE maps of {n_map} test encodings, ours beside scikit-learn's exact t-SNE, coloured by the "
                f"class the autoencoder never saw",
                f"Reconstruction loss per epoch, training set and the first {EVAL_IMAGES} test images"]
    figs = list(zip(figs, captions))
    finish_run(out, "autoencoder", args, metrics, headers, rows, figs,
               title=f"dlfs convolutional autoencoder ({args.dataset})",
               notes="Test MSE per pixel is nn.MSELoss() on images scaled to [-1, 1], the book's number; the book's "
                     "notebook reports 0.069 after one epoch on MNIST (SGD lr 0.01, momentum 0.9, batch 60).")
    return metrics


if __name__ == "__main__":
    main()
