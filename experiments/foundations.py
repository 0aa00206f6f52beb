"""Chapter 1, foundations: the chapter's pictures, drawn from dlfs's functions, and the book's printed numbers.

    python -m experiments.foundations --out runs/foundations            # both backends, the book's seeds
    python -m experiments.foundations --backend scratch --dataset random --seed 3 --out runs/f3

Figures: each elementary function beside its derivative (hand-derived or autograd, with the book's numerical
derivative overlaid); the chain rule for sigma(square(x)) and sigma(square(leaky_relu(x))); and
L = sum(sigma(X @ W)) as one element of X moves, with the tangent whose slope is the computed dL/dX.
Nothing is trained: ``--epochs`` is accepted (every experiment takes it) and ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import dlfs  # noqa: E402
from dlfs.io import save_figure  # noqa: E402
from experiments.common import (  # noqa: E402
    backends,
    base_parser,
    finish_run,
    format_table,
    limit_threads,
    parse_args,
    prepare_out,
)

NAME = "foundations"
FUNCTIONS = ("square", "relu", "leaky_relu", "sigmoid")
BOOK_DELTA = 0.001  # the book's step for its numerical derivative
# What the book prints in chapter 1 (4 decimals), and which of its functions prints it.
BOOK = {
    "matmul_backward_first (seed 190203)": [0.9282, -0.6075, -1.2214],
    "matrix_function_backward_1 (seed 190203)": [0.0852, -0.0557, -0.1121],
    "matrix_function_forward_sum (seed 190204)": 2.3755,
    "matrix_function_backward_sum_1 row 0 (seed 190204)": [0.2489, -0.3748, 0.0112],
}


def book_matrices(dataset: str, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The chapter's two (X, W) pairs: the book's seeded draws, or fresh ones of the same shapes."""
    out = {}
    for key, book_seed, (n, d_in, d_out) in (("vector", 190203, (1, 3, 1)), ("matrix", 190204, (3, 3, 2))):
        if dataset == "book":
            np.random.seed(book_seed)  # the book's legacy global stream, so its printed numbers come out
            X, W = np.random.randn(n, d_in), np.random.randn(d_in, d_out)
        else:
            rng = np.random.default_rng(seed + book_seed)
            X, W = rng.standard_normal((n, d_in)), rng.standard_normal((d_in, d_out))
        out[key] = (X, W)
    return out


def compute(F: Any, mats: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Every curve and number of the chapter with one backend's ``foundations`` module ``F``."""
    x = np.linspace(-3, 3, 600)  # an even count: no grid point sits on the kink at 0
    r: dict[str, Any] = {"x": x, "functions": {}, "chains": {}}
    for name in FUNCTIONS:
        f = getattr(F, name)
        r["functions"][name] = {"f": f(x), "analytic": getattr(F, name + "_deriv")(x),
                                "numerical": F.deriv(f, x, BOOK_DELTA)}
    for key, funcs in (("chain_2", [F.square, F.sigmoid]), ("chain_3", [F.leaky_relu, F.square, F.sigmoid])):
        rule = F.chain_deriv_2 if len(funcs) == 2 else F.chain_deriv_3
        r["chains"][key] = {"f": F.chain(funcs)(x), "analytic": rule(funcs, x),
                            "numerical": F.deriv(F.chain(funcs), x, BOOK_DELTA)}
    Xv, Wv = mats["vector"]
    X, W = mats["matrix"]
    dLdX, dLdW = F.matrix_function_backward_sum(X, W, F.sigmoid)
    x11 = X[0, 0] + np.linspace(-4, 4, 161)
    L_curve = []
    for v in x11:
        X1 = X.copy()
        X1[0, 0] = v
        L_curve.append(F.matrix_function_forward_sum(X1, W, F.sigmoid))
    X1 = X.copy()
    X1[0, 0] += BOOK_DELTA  # the book's check: a forward difference of L in x11
    r["book"] = {
        "matmul_backward_first (seed 190203)": F.matmul_backward_first(Xv, Wv)[0],
        "matrix_function_backward_1 (seed 190203)": F.matrix_function_backward_1(Xv, Wv, F.sigmoid)[0],
        "matrix_function_forward_sum (seed 190204)": F.matrix_function_forward_sum(X, W, F.sigmoid),
        "matrix_function_backward_sum_1 row 0 (seed 190204)": dLdX[0],
    }
    r["L"] = {"x11": x11, "L": np.array(L_curve), "x0": X[0, 0], "L0": F.matrix_function_forward_sum(X, W, F.sigmoid),
              "slope": dLdX[0, 0], "dLdX": dLdX, "dLdW": dLdW,
              "forward_difference": (F.matrix_function_forward_sum(X1, W, F.sigmoid) - F.matrix_function_forward_sum(
                  X, W, F.sigmoid)) / BOOK_DELTA}
    return r


def errors(r: dict[str, Any]) -> dict[str, float]:
    """Max |analytic - numerical (delta = 0.001)| per function and per chain."""
    out = {name: float(np.max(np.abs(v["analytic"] - v["numerical"]))) for name, v in r["functions"].items()}
    out.update({k: float(np.max(np.abs(v["analytic"] - v["numerical"]))) for k, v in r["chains"].items()})
    return out


def divergence(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """Max |scratch - torch| for every curve and gradient (hand-derived vs autograd)."""
    out = {}
    for group in ("functions", "chains"):
        for name in a[group]:
            for part in ("f", "analytic", "numerical"):
                out[f"{name}.{part}"] = float(np.max(np.abs(a[group][name][part] - b[group][name][part])))
    for k in ("dLdX", "dLdW", "L"):
        out[f"L.{k}"] = float(np.max(np.abs(np.asarray(a["L"][k]) - np.asarray(b["L"][k]))))
    return out


def _plot_pair(ax_f: Any, ax_d: Any, x: np.ndarray, v: dict[str, np.ndarray], title: str, label: str,
               extra: dict[str, np.ndarray] | None = None) -> None:
    ax_f.plot(x, v["f"], color="C0")
    ax_f.set_title(title)
    ax_d.plot(x, v["analytic"], color="C1", lw=2.5, label=label)
    ax_d.plot(x, v["numerical"], "k--", lw=1, label=f"numerical, delta={BOOK_DELTA}")
    if extra is not None:
        ax_d.plot(x, extra["analytic"], ":", color="C2", lw=2, label="torch autograd")
    ax_d.set_title(f"derivative of {title}")
    ax_d.legend(fontsize=7)
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.8", lw=0.5)
        ax.axvline(0, color="0.8", lw=0.5)


def plot_functions(r: dict[str, Any], path: Path, label: str, other: dict[str, Any] | None) -> Path:
    fig, axes = plt.subplots(len(FUNCTIONS), 2, figsize=(9, 2.6 * len(FUNCTIONS)))
    for i, name in enumerate(FUNCTIONS):
        extra = other["functions"][name] if other else None
        _plot_pair(axes[i, 0], axes[i, 1], r["x"], r["functions"][name], f"{name}(x)", label, extra)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_chains(r: dict[str, Any], path: Path, label: str, other: dict[str, Any] | None) -> Path:
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.5))
    titles = {"chain_2": "sigmoid(square(x))", "chain_3": "sigmoid(square(leaky_relu(x)))"}
    for i, key in enumerate(("chain_2", "chain_3")):
        extra = other["chains"][key] if other else None
        _plot_pair(axes[i, 0], axes[i, 1], r["x"], r["chains"][key], titles[key], f"chain rule ({label})", extra)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_L(r: dict[str, Any], path: Path) -> Path:
    L = r["L"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(L["x11"], L["L"], label="L = sum(sigma(X @ W))")
    near = np.abs(L["x11"] - L["x0"]) <= 1.0
    ax.plot(L["x11"][near], L["L0"] + L["slope"] * (L["x11"][near] - L["x0"]), "r--",
            label=f"tangent, slope dL/dx11 = {L['slope']:.4f}")
    ax.plot([L["x0"]], [L["L0"]], "ko")
    ax.set_xlabel("x11 (X[0, 0])")
    ax.set_ylabel("L")
    ax.set_title("L as one element of X moves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    helps = {"--backend": "which implementation computes the derivatives: scratch (hand-derived), torch (autograd) "
                          "or both (and their divergence)",
             "--dataset": "book: the book's seeded X and W (seeds 190203, 190204), whose printed numbers we check; "
                          "random: fresh X and W of the same shapes drawn with --seed",
             "--epochs": "ignored: chapter 1 trains nothing (accepted like every experiment)",
             "--seed": "seed for --dataset random"}  # base_parser's own texts speak of training
    p = base_parser(NAME, __doc__.split("\n\n")[0], datasets=("book", "random"), default_dataset="book",
                    epochs=1, seed=190204, helps=helps, device=False, checkpoints=False)
    args = parse_args(p, argv)
    out = prepare_out(args.out, NAME, args.overwrite)
    mats = book_matrices(args.dataset, args.seed)
    names = backends(args.backend)
    results: dict[str, dict[str, Any]] = {}
    with limit_threads(args.threads), tqdm(total=len(names) + 3, desc=NAME, disable=args.no_progress) as bar:
        for b in names:
            results[b] = compute(dlfs.backend(b).foundations, mats)
            bar.update()
        main_b = names[0]
        label = "hand-derived" if main_b == "scratch" else "autograd"
        other = results["torch"] if len(names) == 2 else None
        figures = [plot_functions(results[main_b], out / "functions_and_derivatives.png", label, other)]
        bar.update()
        figures.append(plot_chains(results[main_b], out / "chain_rule.png", label, other))
        bar.update()
        figures.append(plot_L(results[main_b], out / "L_vs_x11.png"))
        bar.update()

    metrics: dict[str, Any] = {"dataset": args.dataset, "delta": BOOK_DELTA, "backends": {}}
    for b, r in results.items():
        metrics["backends"][b] = {
            "max_abs_error_analytic_vs_numerical": errors(r),
            "book_quantities": {k: np.round(np.asarray(v, dtype=float), 4).tolist() for k, v in r["book"].items()},
            "L": r["L"]["L0"], "dLdx11": float(r["L"]["slope"]),
            "dLdx11_forward_difference": float(r["L"]["forward_difference"]),
        }
    if args.dataset == "book":
        metrics["book_printed"] = BOOK
        for b, r in results.items():
            metrics["backends"][b]["matches_book"] = {
                k: bool(np.allclose(np.round(np.asarray(r["book"][k], dtype=float), 4), BOOK[k], atol=1e-12))
                for k in BOOK}
    if len(names) == 2:
        metrics["scratch_vs_torch_max_abs"] = divergence(results["scratch"], results["torch"])

    headers = ["quantity", "book", *names]
    rows: list[list[Any]] = []
    for k in results[main_b]["book"]:
        book = BOOK.get(k) if args.dataset == "book" else None
        rows.append([k, _fmt(book), *(_fmt(results[b]["book"][k]) for b in names)])
    for name in (*FUNCTIONS, "chain_2", "chain_3"):
        rows.append([f"max |analytic - numerical| {name}", None,
                     *(f"{metrics['backends'][b]['max_abs_error_analytic_vs_numerical'][name]:.2e}" for b in names)])
    print(format_table(headers, rows))
    if len(names) == 2:
        print(f"max |scratch - torch| over every curve and gradient: "
              f"{max(metrics['scratch_vs_torch_max_abs'].values()):.2e}")
    how = "hand-derived (scratch)" if main_b == "scratch" else "autograd (torch)"
    captions = [f"square, relu, leaky_relu and sigmoid (left) and their derivatives (right): {how}"
                + (", torch's autograd dotted" if other else "") + ", the book's numerical derivative dashed",
                f"The chain rule: sigmoid(square(x)) and sigmoid(square(leaky_relu(x))) beside their derivatives, "
                f"{how}, against the numerical derivative",
                "L = sum(sigmoid(X @ W)) as the element X[0, 0] moves, with the tangent whose slope is the "
                "computed dL/dX[0, 0]"]
    finish_run(out, NAME, args, metrics, headers, rows, list(zip(figures, captions)),
               title="dlfs chapter 1: foundations",
               notes="Derivatives: hand-derived (scratch) or autograd (torch), against the book's centred "
                     f"difference with delta = {BOOK_DELTA}.")
    return metrics


def _fmt(v: Any) -> Any:
    if v is None:
        return None
    if np.ndim(v) == 0:
        return float(v)
    return "[" + ", ".join(f"{float(a):.4f}" for a in np.ravel(v)) + "]"


if __name__ == "__main__":
    main()
