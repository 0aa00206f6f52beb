"""What every experiment shares: the command line, the output directory, the results table and the run report.

Every run writes, under ``--out`` (default ``runs/<time>-<name>``): ``metrics.json`` (results per backend),
``config.json`` (every argument, seed, library versions, backends), its PNG plots, and a self-contained
``report.html`` (see ``experiments/report.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlfs.io import save_json

BACKEND_CHOICES = ("scratch", "torch", "both")


HELP = {
    "--backend": "which implementation to train; 'both' trains the pair from identical weights and compares",
    "--dataset": "dataset to train on (see docs/data.md)",
    "--data-dir": "data directory (default: $DLFS_DATA, then ../shared/data)",
    "--epochs": "training epochs",
    "--seed": "seed for weights, batch order and dropout masks",
    "--out": "output directory (default runs/<time>-<name>)",
    "--overwrite": "allow writing into a non-empty --out directory",
    "--no-progress": "hide the progress bars",
}


def base_parser(name: str, description: str, datasets: Sequence[str] | None = None,
                default_dataset: str | None = None, epochs: int | None = 50, seed: int = 20190119,
                helps: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """An ``argparse`` parser with the arguments every experiment takes.

    ``helps`` replaces the help text of any of these flags (keys as in ``HELP``, e.g. ``"--epochs"``), for an
    experiment whose flags mean something more specific; ``epochs=None`` leaves ``--epochs`` out.
    """
    unknown = sorted(set(helps or ()) - set(HELP))
    if unknown:
        raise ValueError(f"base_parser helps: unknown flags {unknown}; expected some of {list(HELP)}")
    text = {**HELP, **(helps or {})}
    p = argparse.ArgumentParser(prog=f"python -m experiments.{name}", description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="both", help=text["--backend"])
    if datasets:
        p.add_argument("--dataset", choices=list(datasets), default=default_dataset or datasets[0],
                       help=text["--dataset"])
    p.add_argument("--data-dir", default=None, help=text["--data-dir"])
    if epochs is not None:
        p.add_argument("--epochs", type=_positive_int, default=epochs, help=text["--epochs"])
    p.add_argument("--seed", type=_nonnegative_int, default=seed, help=text["--seed"])
    p.add_argument("--out", default=None, help=text["--out"])
    p.add_argument("--overwrite", action="store_true", help=text["--overwrite"])
    p.add_argument("--no-progress", action="store_true", help=text["--no-progress"])
    return p


def _nonnegative_int(s: str) -> int:
    """A seed: NumPy's generators take ints >= 0 (a negative one fails deep inside ``default_rng``)."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {v}")
    return v


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def backends(choice: str) -> list[str]:
    """``"both"`` -> ``["scratch", "torch"]``."""
    return ["scratch", "torch"] if choice == "both" else [choice]


def default_out(name: str) -> Path:
    """``runs/<time>-<name>``: where a run writes when no ``--out`` is given."""
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def prepare_out(out: str | None, name: str, overwrite: bool = False) -> Path:
    """Create the output directory; refuse a non-empty one unless ``overwrite``; fail early if unwritable."""
    path = Path(out) if out else default_out(name)
    if path.exists() and not path.is_dir():
        raise SystemExit(f"error: --out {str(path)!r} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise SystemExit(f"error: --out {str(path)!r} exists and is not empty; pass --overwrite to write into it "
                         f"(files of the same name are replaced) or choose another directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SystemExit(f"error: --out {str(path)!r} is not writable: {e.strerror or e}") from None
    return path


def versions() -> dict[str, str]:
    import matplotlib
    import numpy
    import scipy
    import sklearn
    import torch

    return {"python": platform.python_version(), "numpy": numpy.__version__, "torch": torch.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__}


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table; floats to 4 decimals."""
    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))

    cells = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join([line, sep, *body])


def finish_run(out: Path, name: str, args: argparse.Namespace, metrics: dict[str, Any],
               headers: Sequence[str], rows: Sequence[Sequence[Any]], figures: Sequence[str | os.PathLike] = (),
               title: str | None = None, notes: str = "") -> None:
    """Write ``metrics.json``, ``config.json`` and ``report.html`` into ``out`` and print where they are."""
    config = {"experiment": name, "args": {k: v for k, v in vars(args).items()}, "versions": versions(),
              "backends": backends(getattr(args, "backend", "both")), "seed": getattr(args, "seed", None),
              "out": str(out), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "platform": platform.platform()}
    save_json(out / "metrics.json", metrics)
    save_json(out / "config.json", config)
    from experiments.report import write_report

    write_report(out / "report.html", title or f"dlfs {name}", config, headers, rows, [Path(f) for f in figures],
                 notes)
    print(f"wrote {out / 'metrics.json'}, {out / 'config.json'}, {out / 'report.html'}")
