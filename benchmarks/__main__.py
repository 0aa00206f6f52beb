"""``python -m benchmarks [--json PATH] [--quick] [--threads N] [--method M] [--no-memory] [--only MODULE ...]``.

Runs every ``bench_*.py`` (but the standalone ones): the timings, then each row's peak memory per backend in fresh
child processes (benchmarks/common.py and docs/benchmarks.md say how either is measured).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import benchmarks
from benchmarks.common import (
    BACKENDS,
    MEMORY_KEYS,
    ROW_KEYS,
    begin_module,
    dry_rows,
    format_rows,
    machine,
    matmul_peak,
    matmul_peak_in_processes,
    measure_in_child,
    row,
    write_result,
)

# run on their own (``python -m benchmarks.<name>``, ``make bench-ddp``): they launch processes of their own, and
# their rows are not scratch/torch pairs
STANDALONE = ("bench_ddp", "bench_tsne", "bench_trainer")
# series over a parameter rather than rows of the table: ``python -m benchmarks.bench_batch`` (``make bench``)
SERIES = ("bench_batch",)
METHODS = ("interleaved", "processes")
MEMORY_METHOD = ("peak RSS above the built benchmark, one fresh process per row and backend "
                 "(/proc/self/clear_refs + VmHWM; glibc mmap threshold 64 KiB)")


def discover() -> list[str]:
    """The benchmark modules: every ``benchmarks/bench_*.py`` but the standalone ones, sorted by name."""
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if m.name.startswith("bench_") and m.name not in STANDALONE + SERIES)


def _time_in_processes(name: str, r: dict[str, Any], quick: bool, threads: int, rounds: int) -> dict[str, Any]:
    """Time row ``r`` of module ``name`` with each backend alone in its own child process, ``rounds`` children per
    backend, the two alternating (s, t, t, s, s, t, ...): the row with each backend's fastest call of all (min-of-N:
    on a shared machine a call can only be slowed by others, never sped up), and the fastest of each child."""
    fastest: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for k in range(rounds):
        for b in (BACKENDS if k % 2 == 0 else BACKENDS[::-1]):
            fastest[b].append(min(measure_in_child(name, r["_pair"], b, "time", quick, threads)))
    out = row(r["name"], min(fastest["scratch"]), min(fastest["torch"]), r["gflop"], r["target"])
    return {**out, "_pair": r["_pair"], "scratch_rounds_s": fastest["scratch"], "torch_rounds_s": fastest["torch"]}


def _add_memory(name: str, rows: list[dict[str, Any]], quick: bool, threads: int) -> None:
    """Fill each row's ``scratch_peak_mib``/``torch_peak_mib`` (where the module did not) from child processes, two
    at a time: no timing runs meanwhile, and resident memory does not depend on what else the machine runs."""
    jobs = [(r, b) for r in rows if "_pair" in r for b in BACKENDS if r.get(f"{b}_peak_mib") is None]
    with ThreadPoolExecutor(max_workers=2) as pool:
        peaks = list(pool.map(lambda job: measure_in_child(name, job[0]["_pair"], job[1], "memory", quick, threads),
                              jobs))
    for (r, b), mib in zip(jobs, peaks):
        r[f"{b}_peak_mib"] = mib


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
    parser.add_argument("--method", choices=METHODS, default="interleaved",
                        help="interleaved: both backends in this process, call by call (the trusted setting at one "
                             "thread); processes: each backend alone in its own child processes, alternating over "
                             "--rounds, the fastest call kept (the stable setting at two threads)")
    parser.add_argument("--rounds", type=int, default=3, help="--method processes: child processes per backend and "
                                                              "row")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    parser.add_argument("--only", nargs="+", default=None, metavar="MODULE",
                        help=f"run only these modules (of {discover()})")
    args = parser.parse_args(argv)
    names = discover() if args.only is None else args.only
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"--only: unknown benchmark modules {unknown}; expected some of {discover()}")
    if args.threads < 1:
        parser.error(f"--threads: expected a positive int, got {args.threads}")
    if args.rounds < 1:
        parser.error(f"--rounds: expected a positive int, got {args.rounds}")
    rows: list[dict[str, Any]] = []
    keys = ROW_KEYS + MEMORY_KEYS + (("scratch_rounds_s", "torch_rounds_s") if args.method == "processes" else ())
    from torch_impl.devices import limit_threads  # imported here: --help does not import torch

    with limit_threads(args.threads):
        peak = (matmul_peak(args.quick) if args.method == "interleaved"
                else matmul_peak_in_processes(args.quick, args.threads, args.rounds))
        for name in names:
            module = importlib.import_module(f"benchmarks.{name}")
            begin_module()
            got = module.run(args.quick) if args.method == "interleaved" else dry_rows(module.run, args.quick)
            for r in got:
                missing = [k for k in ROW_KEYS if k not in r]
                if missing:
                    raise ValueError(f"benchmarks.{name}.run returned a row without {missing}: {r}")
            if args.method == "processes":
                got = [_time_in_processes(name, r, args.quick, args.threads, args.rounds) if "_pair" in r
                       else r for r in got]
            if not args.no_memory:
                _add_memory(name, got, args.quick, args.threads)
            rows += [{"module": name, **{k: r.get(k) for k in keys}} for r in got]
    result = {"quick": args.quick, "threads": args.threads, "method": args.method,
              "rounds": args.rounds if args.method == "processes" else None,
              "memory_method": None if args.no_memory else MEMORY_METHOD, "load_average": os.getloadavg(),
              "machine": machine(), "peak": peak, "rows": rows}
    how = "each in its own processes" if args.method == "processes" else "interleaved in one process"
    print(f"{args.threads} thread(s) per backend, {how}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          "cores")
    print(format_rows(rows, peak))
    write_result(args.json, result)
    return result


if __name__ == "__main__":
    main()
