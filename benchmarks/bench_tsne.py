"""Exact t-SNE of the 1,797 digits (``sklearn.datasets.load_digits``, 64 raw pixel values), 1,000 iterations:
dlfs's scratch and torch backends against scikit-learn's exact method and its Barnes-Hut approximation, each
run's wall time beside the trustworthiness of its embedding.

    python -m benchmarks.bench_tsne [--json PATH] [--quick] [--threads N] [--repeats R]

The four share every hyper-parameter that maps: 2 components, perplexity 30, early exaggeration 12 for the first
250 iterations (momentum 0.5, then 0.8), learning rate 200, 1,000 iterations. Where they do not map:

- sklearn stops early when the gradient norm falls below ``min_grad_norm`` or the cost stalls for
  ``n_iter_without_progress`` iterations; both are switched off here (0 and ``max_iter``), so every run takes its
  1,000 iterations (dlfs never stops early). sklearn still computes its cost every 50 iterations.
- The starting embeddings are 1e-4 N(0, 1) in all four but drawn from different generators: dlfs's from
  ``np.random.default_rng(seed)`` in float64, sklearn's (``init="random"``) from its ``RandomState`` in float32.
- sklearn's exact method casts the input distances to float32 before the perplexity search and optimises a
  float32 embedding; dlfs runs in float64 throughout.
- Barnes-Hut (``angle=0.5``) builds P from the 3 x perplexity = 90 nearest neighbours of each point only and
  approximates the repulsion with a quadtree: O(n log n) per iteration instead of O(n^2).

Each repeat runs the four in turn (scratch, torch, sklearn exact, sklearn Barnes-Hut), so load from other
processes on the machine falls on all of them alike; the table shows medians over the repeats, wall and CPU
seconds. Trustworthiness (``sklearn.manifold.trustworthiness``, ``n_neighbors=5``, sklearn's default) is of
the last repeat's embedding: 1 when every point's 5 nearest neighbours in the embedding are among its nearest in
the input. One-time costs (imports, a first call) are paid before timing by a tiny warm-up run of each.
Not part of ``python -m benchmarks`` (its rows are not scratch/torch pairs of one operation).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

TRUST_NEIGHBOURS = 5  # sklearn.manifold.trustworthiness's default n_neighbors
SEED = 0
# the targets: torch no slower than scratch; scratch at most a third of sklearn's exact time
TARGETS = {"torch / scratch": 1.0, "scratch / sklearn exact": 1.0 / 3.0}
NAMES = ("scratch", "torch", "sklearn exact", "sklearn barnes-hut")


def _runners(n_iter: int) -> dict[str, Callable[[np.ndarray], tuple[np.ndarray, float, int]]]:
    """name -> ``fit(X) -> (embedding, final KL, iterations run)`` with the shared hyper-parameters."""
    from sklearn.manifold import TSNE as SklearnTSNE

    import dlfs

    common = dict(n_components=2, perplexity=30.0, early_exaggeration=12.0, learning_rate=200.0)

    def dlfs_fit(backend: str) -> Callable[[np.ndarray], tuple[np.ndarray, float, int]]:
        def fit(X: np.ndarray) -> tuple[np.ndarray, float, int]:
            model = dlfs.backend(backend).TSNE(**common, n_iter=n_iter, seed=SEED)
            return model.fit_transform(X), float(model.kl_divergence_), int(model.n_iter_)
        return fit

    def sklearn_fit(method: str) -> Callable[[np.ndarray], tuple[np.ndarray, float, int]]:
        def fit(X: np.ndarray) -> tuple[np.ndarray, float, int]:
            model = SklearnTSNE(**common, max_iter=n_iter, n_iter_without_progress=n_iter, min_grad_norm=0.0,
                                init="random", method=method, random_state=SEED)
            return model.fit_transform(X), float(model.kl_divergence_), int(model.n_iter_) + 1
        return fit

    # sklearn's n_iter_ is the index of its last iteration: + 1 counts them
    return {"scratch": dlfs_fit("scratch"), "torch": dlfs_fit("torch"), "sklearn exact": sklearn_fit("exact"),
            "sklearn barnes-hut": sklearn_fit("barnes_hut")}


def run(quick: bool, repeats: int) -> dict[str, Any]:
    """Time every implementation ``repeats`` times, interleaved; the result dict (see ``main``)."""
    from sklearn.datasets import load_digits
    from sklearn.manifold import trustworthiness

    X = load_digits().data
    # quick: 150 digits, 300 iterations (both stages; sklearn needs max_iter >= 250), a smoke test
    n, n_iter = (150, 300) if quick else (len(X), 1000)
    X = X[:n]
    fits = _runners(n_iter)
    warm = _runners(250)
    for name in NAMES:  # imports, lazy initialisation and first calls, outside the timings
        warm[name](X[:40])
    wall: dict[str, list[float]] = {k: [] for k in NAMES}
    cpu: dict[str, list[float]] = {k: [] for k in NAMES}
    last: dict[str, tuple[np.ndarray, float, int]] = {}
    for _ in range(repeats):
        for name in NAMES:
            t0, c0 = time.perf_counter(), time.process_time()
            last[name] = fits[name](X)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    rows = []
    for name in NAMES:
        Y, kl, iters = last[name]
        rows.append({"name": name, "wall_s": float(np.median(wall[name])), "cpu_s": float(np.median(cpu[name])),
                     "wall_runs_s": wall[name], "cpu_runs_s": cpu[name], "iterations": iters,
                     "trustworthiness": float(trustworthiness(X, Y, n_neighbors=TRUST_NEIGHBOURS)),
                     "kl_divergence": kl})
    by = {r["name"]: r for r in rows}
    ratios = {"torch / scratch": by["torch"]["wall_s"] / by["scratch"]["wall_s"],
              "scratch / sklearn exact": by["scratch"]["wall_s"] / by["sklearn exact"]["wall_s"],
              "torch / sklearn exact": by["torch"]["wall_s"] / by["sklearn exact"]["wall_s"],
              "scratch / sklearn barnes-hut": by["scratch"]["wall_s"] / by["sklearn barnes-hut"]["wall_s"]}
    return {"n": n, "n_iter": n_iter, "perplexity": 30.0, "trustworthiness_n_neighbors": TRUST_NEIGHBOURS,
            "repeats": repeats, "rows": rows, "ratios": ratios,
            "targets": {k: {"at_most": v, "met": ratios[k] <= v} for k, v in TARGETS.items()}}


def format_result(result: dict[str, Any]) -> str:
    """The rows as a plain-text table, then the ratios against their targets."""
    headers = ["implementation", "wall s", "CPU s", "iterations", f"trustworthiness (k={TRUST_NEIGHBOURS})",
               "final KL"]
    lines = [[r["name"], f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}", str(r["iterations"]),
              f"{r['trustworthiness']:.4f}", f"{r['kl_divergence']:.4f}"] for r in result["rows"]]
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(x, widths)) for x in lines]
    for k, v in result["ratios"].items():
        target = result["targets"].get(k)
        verdict = "" if target is None else "met" if target["met"] else "NOT met"
        goal = "" if target is None else f"  (target <= {target['at_most']:.2f}: {verdict})"
        out.append(f"{k}: {v:.3f}{goal}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_tsne", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results here (atomic)")
    parser.add_argument("--quick", action="store_true", help="150 digits, 300 iterations, one repeat: a smoke test, "
                                                             "not a measurement")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for every library (torch.set_num_threads; BLAS and OpenMP via threadpoolctl)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each implementation (default: 3, "
                                                                  "1 with --quick)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads: expected a positive int, got {args.threads}")
    repeats = (1 if args.quick else 3) if args.repeats is None else args.repeats
    if repeats < 1:
        parser.error(f"--repeats: expected a positive int, got {repeats}")
    from benchmarks.common import machine, write_result
    from torch_impl.devices import limit_threads

    load_before = os.getloadavg()
    with limit_threads(args.threads):  # BLAS and OpenMP (sklearn's Barnes-Hut) alike
        result = run(args.quick, repeats)
    result = {"quick": args.quick, "threads": args.threads, "load_average_before": load_before,
              "load_average_after": os.getloadavg(), "machine": machine(), **result}
    print(f"exact t-SNE of {result['n']} digits, {result['n_iter']} iterations; {args.threads} thread(s) per library; "
          f"medians of {repeats} interleaved repeat(s); load average {load_before[0]:.1f} before, "
          f"{result['load_average_after'][0]:.1f} after, on {os.cpu_count()} cores")
    print(format_result(result))
    write_result(args.json, result)
    return result


if __name__ == "__main__":
    main()
