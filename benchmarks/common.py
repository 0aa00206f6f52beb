"""What the benchmarks share: interleaved timing, the matmul peak, peak memory, result rows and the table.

Timing (``time_pair``): the median wall time over repeats after warm-up, the two backends alternating call by call
in one process, so that load from other processes hits both alike. One thread per library is the trusted setting.

Peak memory (``scratch_peak_mib``, ``torch_peak_mib``): measured apart from the timing, never while a timed call
runs, in a fresh child process per (row, backend) (``measure_in_child``). The child builds the benchmark as the
timing run does, runs the chosen backend's step a few times to load its kernels, drops it all and builds it again;
then it resets the kernel's high-water mark (``/proc/self/clear_refs`` "5"), notes the resident set size, runs the
step ``max(warmup, 1) + 1`` times and reports VmHWM minus that baseline: the resident memory the step needs above
the built layer and its inputs, gradients, caches and optimizer state made during the step included, one-time
library set-up (oneDNN's first call, about 43 MiB) excluded. Resident memory is the one measure that is fair to both
libraries: tracemalloc sees NumPy's arrays but not torch's CPU allocator. The child runs with glibc's mmap threshold
fixed at 64 KiB and NumPy's huge-page advice off (``MEMORY_ENV``), so a freed array goes back to the system at once
and RSS follows the live arrays of either library page by page; on the scratch side it agrees with tracemalloc's
peak within 1-10% for the dense step and the convolutions (docs/benchmarks.md has the LSTM, where it does not).
Linux only: elsewhere the keys are None.

Two threads (``--method processes`` in ``python -m benchmarks``): each library is timed in its own child processes
(``measure_in_child(..., mode="time")``), the two alternating over rounds, the fastest call kept, so that one
library's idle thread pool never spins on the cores the other is computing on; docs/benchmarks.md has the spread.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

ROW_KEYS = ("name", "scratch_s", "torch_s", "ratio", "gflop", "scratch_gflops", "torch_gflops", "target")
MEMORY_KEYS = ("scratch_peak_mib", "torch_peak_mib")
BACKENDS = ("scratch", "torch")
# glibc: every block of 64 KiB or more is its own mapping, returned to the system on free (a fixed threshold also
# stops glibc from raising it after the first large free); NumPy: no transparent huge pages, whose 2 MiB steps would
# blur small arrays. Both only in the memory children, never in a timed process.
MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "NUMPY_MADVISE_HUGEPAGE": "0"}
CHILD_TIME_BUDGET_S = 3.0  # timed seconds per child process in mode "time" (after warm-up)


class _Reached(BaseException):
    """Raised by time_pair in a child once its target call is measured: unwinds the rest of ``run``.

    A BaseException, so that no ``except Exception`` in a benchmark module swallows it."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class _Probe:
    """What ``time_pair`` does instead of timing both backends: set in a child process, or in a dry run.

    mode "dry": return (1.0, 1.0) and run nothing (the rows' names and work, without their timings);
    "warm": run call ``target``'s step of ``backend`` as its warm-up does, then stop; "memory": measure the peak
    resident memory of that step; "time": time that step alone.
    """

    def __init__(self, mode: str, backend: str = "scratch", target: int = -1) -> None:
        self.mode, self.backend, self.target = mode, backend, target

    def pair(self, index: int, scratch: Callable[[], Any], torch_fn: Callable[[], Any], repeats: int, warmup: int
             ) -> tuple[float, float]:
        if self.mode == "dry" or index != self.target:
            return 1.0, 1.0
        fn = scratch if self.backend == "scratch" else torch_fn
        if self.mode == "warm":
            for _ in range(max(warmup, 1)):
                fn()
            raise _Reached(None)
        if self.mode == "memory":
            raise _Reached(peak_rss_mib(fn, max(warmup, 1) + 1))
        for _ in range(warmup):
            fn()
        times: list[float] = []
        start = time.perf_counter()
        # at least 3 calls, at most ``repeats``, and no more once CHILD_TIME_BUDGET_S has passed: the caller keeps
        # the fastest call of several children, which needs many children more than many calls in each
        while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < CHILD_TIME_BUDGET_S):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        raise _Reached(times)


_probe: _Probe | None = None
# time_pair's calls within one module's run: row() claims the latest one, so that a child process can find the same
# step again by its index
_log: dict[str, Any] = {"calls": 0, "last": None}


def begin_module() -> None:
    """Start counting ``time_pair`` calls afresh: call before each module's ``run``."""
    _log["calls"], _log["last"] = 0, None


def time_pair(scratch: Callable[[], Any], torch_fn: Callable[[], Any], repeats: int, warmup: int = 2
              ) -> tuple[float, float]:
    """Median wall time (s) of ``scratch()`` and of ``torch_fn()`` over ``repeats`` calls each, after ``warmup``.

    The calls alternate (s, t, s, t, ...), so load from other processes on the machine hits both alike.
    """
    index = _log["last"] = _log["calls"]
    _log["calls"] += 1
    if _probe is not None:
        return _probe.pair(index, scratch, torch_fn, repeats, warmup)
    for _ in range(warmup):
        scratch()
        torch_fn()
    ts: dict[str, list[float]] = {"s": [], "t": []}
    for _ in range(repeats):
        for key, fn in (("s", scratch), ("t", torch_fn)):
            t0 = time.perf_counter()
            fn()
            ts[key].append(time.perf_counter() - t0)
    return float(np.median(ts["s"])), float(np.median(ts["t"]))


def layer_pair_time(s_layer: Any, t_layer: Any, x: np.ndarray, g: np.ndarray, repeats: int,
                    warmup: int = 2) -> tuple[float, float]:
    """Time one forward+backward of a built layer pair on ``x`` with upstream gradient ``g``: the scratch layer
    through its NumPy protocol, the torch layer's ``nn.Module`` directly on tensors (no adapter overhead)."""
    import torch

    module = t_layer.module
    xt, gt = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(g)

    def scratch_step() -> None:
        s_layer.forward(x)
        s_layer.backward(g)

    def torch_step() -> None:
        module.zero_grad(set_to_none=True)
        xt.grad = None
        module(xt).backward(gt)

    return time_pair(scratch_step, torch_step, repeats, warmup)


def row(name: str, scratch_s: float, torch_s: float, gflop: float, target: float | None) -> dict[str, Any]:
    """One result row: times (s), their ratio, the work (GFLOP) and the achieved GFLOP/s of each backend.

    A row made right after a ``time_pair`` call also carries ``_pair``, that call's index within the module's run
    (the runner's handle for measuring the same step again in a child process; it never reaches the JSON)."""
    r = {"name": name, "scratch_s": scratch_s, "torch_s": torch_s, "ratio": scratch_s / torch_s, "gflop": gflop,
         "scratch_gflops": gflop / scratch_s, "torch_gflops": gflop / torch_s, "target": target}
    if _log["last"] is not None:
        r["_pair"], _log["last"] = _log["last"], None
    return r


def peak_rss_mib(fn: Callable[[], Any], calls: int = 1) -> float | None:
    """Peak resident memory (MiB) of ``calls`` calls of ``fn`` above the resident set size before the first call.

    Resets the kernel's high-water mark (``/proc/self/clear_refs`` "5"), so it counts this stretch alone whatever
    ran before; None where that is not offered (not Linux). Counts NumPy's and torch's allocations alike; memory the
    process's allocator kept from earlier frees is reused unseen, hence the fresh child and ``MEMORY_ENV`` of
    ``measure_in_child``.
    """
    gc.collect()
    if not _reset_high_water_mark():
        return None
    base = _status_kib("VmRSS")
    for _ in range(calls):
        fn()
    return (_status_kib("VmHWM") - base) / 1024


def _status_kib(key: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS: resident now; VmHWM: its high-water mark)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(f"/proc/self/status has no {key} field")


def _reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where the kernel does not offer it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_in_child(module: str, pair: int, backend: str, mode: str, quick: bool, threads: int,
                     env: Mapping[str, str] | None = None, timeout: float = 600.0, function: str = "run") -> Any:
    """Run ``benchmarks.<module>.<function>(quick)`` (a module's ``run``) in a fresh Python process and measure its
    ``pair``-th ``time_pair`` step of ``backend`` alone: mode "memory" returns the peak resident MiB above the built
    benchmark (None where the kernel cannot reset the high-water mark), mode "time" the list of wall times (s) of
    its repeats.

    ``threads`` sets torch.set_num_threads and NumPy's BLAS threads in the child; ``env`` is added to its
    environment (``MEMORY_ENV`` is always added in mode "memory").
    """
    if backend not in BACKENDS:
        raise ValueError(f"measure_in_child: backend must be one of {BACKENDS}, got {backend!r}")
    if mode not in ("memory", "time"):
        raise ValueError(f"measure_in_child: mode must be 'memory' or 'time', got {mode!r}")
    child_env = {**os.environ, **(env or {}), **(MEMORY_ENV if mode == "memory" else {})}
    with tempfile.TemporaryDirectory(prefix="dlfs-bench-") as tmp:
        out = os.path.join(tmp, "result.json")
        spec = {"module": module, "function": function, "pair": pair, "backend": backend, "mode": mode,
                "quick": quick, "threads": threads, "out": out}
        proc = subprocess.run([sys.executable, "-c", "from benchmarks.common import _child_main; _child_main()",
                               json.dumps(spec)], env=child_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"benchmarks.{module}: the {mode} child for {backend}, time_pair call {pair}, exited "
                               f"with status {proc.returncode}:\n{proc.stderr[-2000:]}")
        with open(out) as f:
            return json.load(f)["value"]


def _child_main() -> None:
    """The child process of ``measure_in_child``: its spec is the JSON in ``sys.argv[1]``."""
    import importlib

    import torch
    from threadpoolctl import threadpool_limits

    global _probe
    spec = json.loads(sys.argv[1])
    run = getattr(importlib.import_module(f"benchmarks.{spec['module']}"), spec["function"])
    torch.set_num_threads(spec["threads"])
    with threadpool_limits(spec["threads"]):
        passes = ("warm", spec["mode"]) if spec["mode"] == "memory" else (spec["mode"],)
        value: Any = None
        for mode in passes:
            _probe = _Probe(mode, spec["backend"], spec["pair"])
            begin_module()
            try:
                run(spec["quick"])
            except _Reached as reached:
                value = reached.value
            else:
                raise RuntimeError(f"benchmarks.{spec['module']}.run made {_log['calls']} time_pair calls in the "
                                   f"child, expected call {spec['pair']}: its rows must not depend on the timings")
            gc.collect()  # the first pass's layers and arrays go before the second pass builds its own
    with open(spec["out"], "w") as f:  # a private temporary directory: nothing to write atomically
        json.dump({"value": value}, f)


def dry_rows(run: Callable[[bool], list[dict[str, Any]]], quick: bool) -> list[dict[str, Any]]:
    """A module's rows without running a step (every ``time_pair`` returns (1.0, 1.0)): names, work and targets, for
    a runner that times the steps elsewhere."""
    global _probe
    _probe = _Probe("dry")
    begin_module()
    try:
        return run(quick)
    finally:
        _probe = None


def matmul_peak(quick: bool = False, repeats: int = 7) -> dict[str, float]:
    """Measured float32 square-matmul GFLOP/s of NumPy's BLAS and of torch (n = 1024, or 256 with ``quick``)."""
    import torch

    n = 256 if quick else 1024
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    s, t = time_pair(lambda: a @ b, lambda: ta @ tb, 2 if quick else repeats)
    flop = 2.0 * n**3 / 1e9
    return {"n": n, "numpy_gflops": flop / s, "torch_gflops": flop / t}


def matmul_peak_in_processes(quick: bool, threads: int, rounds: int) -> dict[str, float]:
    """``matmul_peak`` as ``--method processes`` times the rows: each library alone in its own child processes,
    ``rounds`` each, alternating, the fastest call kept."""
    fastest = {b: float("inf") for b in BACKENDS}
    for k in range(rounds):
        for b in (BACKENDS if k % 2 == 0 else BACKENDS[::-1]):
            times = measure_in_child("common", 0, b, "time", quick, threads, function="matmul_peak")
            fastest[b] = min(fastest[b], *times)
    n = 256 if quick else 1024
    flop = 2.0 * n**3 / 1e9
    return {"n": n, "numpy_gflops": flop / fastest["scratch"], "torch_gflops": flop / fastest["torch"]}


def machine() -> dict[str, Any]:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor(), "cpu_model": _cpu_model(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
            "torch": torch.__version__}


def _cpu_model() -> str | None:
    """The CPU's name from /proc/cpuinfo (platform.processor() is often empty on Linux); None elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return None


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_rows(rows: Sequence[Mapping[str, Any]], peak: Mapping[str, float]) -> str:
    """The results as a plain-text table, GFLOP/s also as a percentage of the matmul peak of each library, and the
    peak resident MiB of each backend's step where measured ("-" where not)."""
    headers = ["benchmark", "scratch ms", "torch ms", "ratio", "target", "GFLOP", "scratch GFLOP/s",
               "torch GFLOP/s", "scratch MiB", "torch MiB", "met"]
    lines = []
    for r in rows:
        ok = "" if r["target"] is None else ("yes" if r["ratio"] <= r["target"] else "NO")
        lines.append([
            r["name"], f"{1e3 * r['scratch_s']:.2f}", f"{1e3 * r['torch_s']:.2f}", f"{r['ratio']:.2f}",
            "-" if r["target"] is None else f"<= {r['target']:.1f}", f"{r['gflop']:.3f}",
            f"{r['scratch_gflops']:.0f} ({100 * r['scratch_gflops'] / peak['numpy_gflops']:.0f}%)",
            f"{r['torch_gflops']:.0f} ({100 * r['torch_gflops'] / peak['torch_gflops']:.0f}%)",
            _mib(r.get("scratch_peak_mib")), _mib(r.get("torch_peak_mib")), ok])
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(x, widths)) for x in lines]
    out.append(f"peak float32 matmul {peak['n']}^2: numpy {peak['numpy_gflops']:.0f} GFLOP/s, torch "
               f"{peak['torch_gflops']:.0f} GFLOP/s (percentages above are of each library's own peak)")
    if any(r.get(k) is not None for r in rows for k in MEMORY_KEYS):
        out.append("MiB: peak resident memory of one step above the built benchmark, each backend in a fresh "
                   "process (docs/benchmarks.md)")
    return "\n".join(out)


def write_result(path: str | None, result: dict[str, Any]) -> None:
    """A benchmark's ``--json PATH``: the result written there atomically, and said, when a path is given."""
    from dlfs.io import save_json

    if path:
        save_json(path, result)
        print(f"wrote {path}")
