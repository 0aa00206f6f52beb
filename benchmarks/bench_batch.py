"""Per-sample time against batch size, 1 to 512: the dense step and both Conv2D shapes, scratch beside torch.

    python -m benchmarks.bench_batch [--json PATH] [--png PATH] [--threads N] [--quick]

Each point is a row of the table's own benchmark (``bench_dense.bench_dense``, ``bench_conv.bench_conv``: the
same step, the two backends interleaved call by call in one process) at that batch size, divided by the batch.
Repeats shrink as the batch grows (about ``BUDGET_S`` of timed calls per point, 3 to ``MAX_REPEATS``), the
estimate taken from the previous point. ``make bench`` writes runs/bench-batch.json and its plot
runs/bench-batch.png (log-log, one panel per benchmark). Not part of ``python -m benchmarks``: a series, not rows.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks import bench_conv, bench_dense
from benchmarks.common import machine, write_result
from dlfs.io import save_figure

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
QUICK_BATCHES = (1, 4, 16)
BUDGET_S = 1.5  # timed seconds per point, both backends together
MAX_REPEATS = 100

# name -> (batch, repeats) -> a row of the table's benchmark at that batch
Bench = Callable[[int, int], dict[str, Any]]
SERIES: dict[str, Bench] = {
    "dense step 784->256->10": lambda n, reps: bench_dense.bench_dense("dense", n, 784, 256, 10, reps),
    "conv2d 1->32 28x28 k5": lambda n, reps: bench_conv.bench_conv("conv", n, 1, 32, 28, 5, reps),
    "conv2d 32->64 28x28 k5": lambda n, reps: bench_conv.bench_conv("conv", n, 32, 64, 28, 5, reps),
}
QUICK_SERIES: dict[str, Bench] = {
    "dense step 20->8->3 (quick)": lambda n, reps: bench_dense.bench_dense("dense", n, 20, 8, 3, reps),
    "conv2d 1->4 8x8 k3 (quick)": lambda n, reps: bench_conv.bench_conv("conv", n, 1, 4, 8, 3, reps),
}


def series(name: str, bench: Bench, batches: Sequence[int], budget_s: float, max_repeats: int) -> dict[str, Any]:
    """One benchmark over ``batches``: step times (s), per-sample times (s) and the repeats used, per backend."""
    out: dict[str, Any] = {"name": name, "batch": list(batches), "repeats": [], "scratch_s": [], "torch_s": []}
    step_s = None  # both backends' step time at the previous batch
    for i, n in enumerate(batches):
        # a step's cost grows at most linearly with the batch: the previous point scaled is a safe upper estimate
        guess = None if step_s is None else step_s * n / batches[i - 1]
        repeats = max_repeats if guess is None else int(min(max_repeats, max(3, budget_s / guess)))
        r = bench(n, repeats)
        step_s = r["scratch_s"] + r["torch_s"]
        out["repeats"].append(repeats)
        out["scratch_s"].append(r["scratch_s"])
        out["torch_s"].append(r["torch_s"])
    out["scratch_per_sample_s"] = [s / n for s, n in zip(out["scratch_s"], batches)]
    out["torch_per_sample_s"] = [t / n for t, n in zip(out["torch_s"], batches)]
    return out


def run_series(quick: bool, threads: int) -> dict[str, Any]:
    """Every series at ``threads`` threads per library (torch.set_num_threads, threadpoolctl), restored after."""
    benches, batches = (QUICK_SERIES, QUICK_BATCHES) if quick else (SERIES, BATCHES)
    load_before = os.getloadavg()
    from torch_impl.devices import limit_threads  # imported here: --help does not import torch

    with limit_threads(threads):
        results = [series(name, bench, batches, 0.05 if quick else BUDGET_S, 3 if quick else MAX_REPEATS)
                   for name, bench in benches.items()]
    return {"quick": quick, "threads": threads, "method": "interleaved", "load_average": [load_before,
            os.getloadavg()], "machine": machine(), "batches": list(batches), "series": results}


def plot(result: dict[str, Any], path: str | os.PathLike) -> None:
    """Per-sample time (µs) against batch, log-log, both backends, one panel per benchmark, as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = result["series"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, s in zip(axes[0], panels):
        for key, label, style in (("scratch", "scratch (NumPy)", "o-"), ("torch", "torch", "s--")):
            ax.plot(s["batch"], [1e6 * t for t in s[f"{key}_per_sample_s"]], style, label=label, markersize=4)
        ax.set(xscale="log", yscale="log", title=s["name"], xlabel="batch size", ylabel="time per sample (µs)")
        ax.set_xscale("log", base=2)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    m = result["machine"]
    load = result["load_average"][0][0]
    fig.suptitle(f"Per-sample forward+backward time against batch: {result['threads']} thread(s) per library, "
                 f"interleaved in one process\n{m.get('cpu_model') or m['processor'] or m['platform']}, "
                 f"{m['cpus']} cores, load average {load:.1f}; numpy {m['numpy']}, torch {m['torch']}",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _table(result: dict[str, Any]) -> str:
    lines = []
    for s in result["series"]:
        lines.append(f"{s['name']}: per-sample µs (scratch / torch)")
        lines += [f"  batch {n:>4}: {1e6 * a:10.2f} / {1e6 * b:10.2f}  ratio {a / b:.2f}"
                  for n, a, b in zip(s["batch"], s["scratch_per_sample_s"], s["torch_per_sample_s"])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_batch", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--json", default=None, metavar="PATH", help="write the series here (atomic)")
    parser.add_argument("--png", default=None, metavar="PATH", help="plot the series here (atomic)")
    parser.add_argument("--threads", type=int, default=1, help="threads per library (one is the trusted setting)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, three batches: a smoke test")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads: expected a positive int, got {args.threads}")
    result = run_series(args.quick, args.threads)
    print(f"{args.threads} thread(s) per backend; load average {result['load_average'][0][0]:.1f} -> "
          f"{result['load_average'][1][0]:.1f} on {os.cpu_count()} cores")
    print(_table(result))
    write_result(args.json, result)
    if args.png:
        plot(result, args.png)
        print(f"wrote {args.png}")
    return result


if __name__ == "__main__":
    main()
