"""What the benchmarks share: interleaved timing, the matmul peak, result rows and the table."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

ROW_KEYS = ("name", "scratch_s", "torch_s", "ratio", "gflop", "scratch_gflops", "torch_gflops", "target")


def time_pair(scratch: Callable[[], Any], torch_fn: Callable[[], Any], repeats: int, warmup: int = 2
              ) -> tuple[float, float]:
    """Median wall time (s) of ``scratch()`` and of ``torch_fn()`` over ``repeats`` calls each, after ``warmup``.

    The calls alternate (s, t, s, t, ...), so load from other processes on the machine hits both alike.
    """
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
    """One result row: times (s), their ratio, the work (GFLOP) and the achieved GFLOP/s of each backend."""
    return {"name": name, "scratch_s": scratch_s, "torch_s": torch_s, "ratio": scratch_s / torch_s, "gflop": gflop,
            "scratch_gflops": gflop / scratch_s, "torch_gflops": gflop / torch_s, "target": target}


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


def machine() -> dict[str, Any]:
    import os

    import torch

    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__, "torch": torch.__version__}


def format_rows(rows: Sequence[Mapping[str, Any]], peak: Mapping[str, float]) -> str:
    """The results as a plain-text table, GFLOP/s also as a percentage of the matmul peak of each library."""
    headers = ["benchmark", "scratch ms", "torch ms", "ratio", "target", "GFLOP", "scratch GFLOP/s",
               "torch GFLOP/s", "met"]
    lines = []
    for r in rows:
        ok = "" if r["target"] is None else ("yes" if r["ratio"] <= r["target"] else "NO")
        lines.append([
            r["name"], f"{1e3 * r['scratch_s']:.2f}", f"{1e3 * r['torch_s']:.2f}", f"{r['ratio']:.2f}",
            "-" if r["target"] is None else f"<= {r['target']:.1f}", f"{r['gflop']:.3f}",
            f"{r['scratch_gflops']:.0f} ({100 * r['scratch_gflops'] / peak['numpy_gflops']:.0f}%)",
            f"{r['torch_gflops']:.0f} ({100 * r['torch_gflops'] / peak['torch_gflops']:.0f}%)", ok])
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(x, widths)) for x in lines]
    out.append(f"peak float32 matmul {peak['n']}^2: numpy {peak['numpy_gflops']:.0f} GFLOP/s, torch "
               f"{peak['torch_gflops']:.0f} GFLOP/s (percentages above are of each library's own peak)")
    return "\n".join(out)
