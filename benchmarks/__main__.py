"""``python -m benchmarks [--json PATH] [--quick] [--threads N] [--only MODULE ...]``: every ``bench_*.py``."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
from collections.abc import Sequence
from typing import Any

import benchmarks
from benchmarks.common import ROW_KEYS, format_rows, machine, matmul_peak
from dlfs.io import save_json

# run on their own (``python -m benchmarks.<name>``, ``make bench-ddp``): they launch processes of their own, and
# their rows are not scratch/torch pairs
STANDALONE = ("bench_ddp",)


def discover() -> list[str]:
    """The benchmark modules: every ``benchmarks/bench_*.py`` but the standalone ones, sorted by name."""
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if m.name.startswith("bench_") and m.name not in STANDALONE)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=benchmarks.__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results table here (atomic)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: a smoke test, not a "
                                                             "measurement")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for both backends (torch.set_num_threads and NumPy's BLAS via threadpoolctl); "
                             "on a machine shared with other jobs, --threads 1 avoids BLAS threads waiting on each "
                             "other")
    parser.add_argument("--only", nargs="+", default=None, metavar="MODULE",
                        help=f"run only these modules (of {discover()})")
    args = parser.parse_args(argv)
    names = discover() if args.only is None else args.only
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"--only: unknown benchmark modules {unknown}; expected some of {discover()}")
    if args.threads < 1:
        parser.error(f"--threads: expected a positive int, got {args.threads}")
    import torch
    from threadpoolctl import threadpool_limits

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    try:
        with threadpool_limits(args.threads):
            peak = matmul_peak(args.quick)
            for name in names:
                module = importlib.import_module(f"benchmarks.{name}")
                for r in module.run(args.quick):
                    missing = [k for k in ROW_KEYS if k not in r]
                    if missing:
                        raise ValueError(f"benchmarks.{name}.run returned a row without {missing}: {r}")
                    rows.append({"module": name, **{k: r[k] for k in ROW_KEYS}})
    finally:
        torch.set_num_threads(torch_threads)  # main() may run inside a test process: leave it as found
    result = {"quick": args.quick, "threads": args.threads, "load_average": os.getloadavg(), "machine": machine(),
              "peak": peak, "rows": rows}
    print(f"{args.threads} thread(s) per backend; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(format_rows(rows, peak))
    if args.json:
        save_json(args.json, result)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
