"""What every experiment shares: the command line, the output directory, the results table and the run report.

Every run writes, under ``--out`` (default ``runs/<time>-<name>``): ``metrics.json`` (results per backend),
``config.json`` (every argument, seed, library versions, backends), its PNG plots, and a self-contained
``report.html`` (see ``experiments/report.py``).

``--device`` puts the torch backend's networks on a device (``cpu``, ``cuda``); ``--distributed`` (the CNN and the
character LSTM) trains the torch backend on ``torch.distributed``, one process per rank under ``torchrun``, and only
rank 0 prints and writes (``docs/distributed.md``).

``--threads N`` (default 1, ``DEFAULT_THREADS``) limits torch (``torch.set_num_threads``) and NumPy's BLAS
(``threadpoolctl``) to N threads each while the experiment runs, and restores both afterwards: one thread per
library is the setting whose timings we trust on a small, shared machine (two libraries' thread pools on two busy
cores wait on each other and make small steps many times slower; see the README's benchmarks).

``--checkpoint-dir DIR`` checkpoints every training run of an experiment (``Trainer.fit(checkpoint_dir=...)``) under
``DIR/<backend>/`` (``DIR/<backend>/<model>/`` for an experiment that trains several models), and ``--resume``
continues an interrupted run from there with the same arguments; ``--overwrite`` also lets a fresh run replace the
checkpoints of an earlier one (``fit(overwrite_checkpoint=True)``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from dlfs.checkpoint import CHECKPOINT_FILE
from dlfs.io import save_json

BACKEND_CHOICES = ("scratch", "torch", "both")
DEFAULT_THREADS = 1  # threads per library (torch, NumPy's BLAS): the setting whose timings we trust (README)


HELP = {
    "--backend": "which implementation to train; 'both' trains the pair from identical weights and compares",
    "--dataset": "dataset to train on (see docs/data.md)",
    "--data-dir": "data directory (default: $DLFS_DATA, then ../shared/data)",
    "--epochs": "training epochs",
    "--seed": "seed for weights, batch order and dropout masks",
    "--out": "output directory (default runs/<time>-<name>)",
    "--overwrite": "allow writing into a non-empty --out directory (and replacing the checkpoints in "
                   "--checkpoint-dir of an earlier run)",
    "--no-progress": "hide the progress bars",
    "--device": "where the torch backend trains: cpu, cuda or cuda:N (default: $DLFS_TORCH_DEVICE, else cpu); the "
                "scratch backend is NumPy and runs on the CPU",
    "--distributed": "data-parallel training of the torch backend on torch.distributed, one process per rank "
                     "(gloo on the CPU, nccl on CUDA), launched by torchrun: {command} (docs/distributed.md); only "
                     "rank 0 prints and writes",
    "--threads": "threads for torch and for NumPy's BLAS each (torch.set_num_threads, threadpoolctl); 1 is the "
                 "setting whose timings we trust: on a small or busy machine two libraries' thread pools wait on "
                 "each other",
    "--checkpoint-dir": "save a checkpoint of every training run under DIR/<backend>/ after every epoch (atomically; "
                        "a fresh run refuses a directory that holds another run's checkpoints unless --overwrite)",
    "--resume": "continue the interrupted run whose checkpoints are in --checkpoint-dir (give the same arguments); "
                "it ends with the numbers of an uninterrupted run",
    "--download": "fetch a missing dataset (MNIST, md5-checked; Tiny Shakespeare, sha256-checked) from its public "
                  "mirror; without it nothing is ever downloaded",
}


def base_parser(name: str, description: str, datasets: Sequence[str] | None = None,
                default_dataset: str | None = None, epochs: int | None = 50, seed: int = 20190119,
                helps: Mapping[str, str] | None = None, device: bool = True,
                distributed: bool = False, checkpoints: bool = True,
                download: bool = False) -> argparse.ArgumentParser:
    """An ``argparse`` parser with the arguments every experiment takes.

    ``helps`` replaces the help text of any of these flags (keys as in ``HELP``, e.g. ``"--epochs"``), for an
    experiment whose flags mean something more specific; ``epochs=None`` leaves ``--epochs`` out; ``device=False``
    leaves ``--device`` out (an experiment that builds no network); ``distributed=True`` adds ``--distributed``;
    ``checkpoints=False`` leaves ``--checkpoint-dir`` and ``--resume`` out (an experiment that trains nothing);
    ``download=True`` adds ``--download`` (an experiment whose data may be fetched). ``--threads`` is always there
    (default ``DEFAULT_THREADS``); the experiment applies it with ``limit_threads``.
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
    if device:
        p.add_argument("--device", type=_device, default=None, help=text["--device"])
    if distributed:
        p.add_argument("--distributed", action="store_true",
                       help=text["--distributed"].format(command=torchrun_line(name).replace("%", "%%")))
    p.add_argument("--threads", type=_positive_int, default=DEFAULT_THREADS, help=text["--threads"])
    if checkpoints:
        p.add_argument("--checkpoint-dir", default=None, metavar="DIR", help=text["--checkpoint-dir"])
        p.add_argument("--resume", action="store_true", help=text["--resume"])
    if download:
        p.add_argument("--download", action="store_true", help=text["--download"])
    return p


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)`` and the checks between the shared flags, before any work: ``--resume`` needs a
    ``--checkpoint-dir`` that holds a checkpoint, and that directory must not be a file."""
    args = parser.parse_args(argv)
    directory = getattr(args, "checkpoint_dir", None)
    if getattr(args, "resume", False):
        if directory is None:
            parser.error("--resume needs --checkpoint-dir DIR (the directory the interrupted run saved to)")
        if not any(Path(directory).rglob(CHECKPOINT_FILE)):
            parser.error(f"--resume: no checkpoint ({CHECKPOINT_FILE}) under --checkpoint-dir {directory!r}; run "
                         f"without --resume to start afresh, or give the directory the interrupted run saved to")
    if directory is not None:
        path = Path(directory)
        if path.exists() and not path.is_dir():
            parser.error(f"--checkpoint-dir {directory!r} exists and is not a directory")
        existing = next(p for p in (path, *path.absolute().parents) if p.exists())
        if not existing.is_dir():
            parser.error(f"--checkpoint-dir {directory!r} cannot be created: {str(existing)!r} is a file, not a "
                         f"directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            parser.error(f"--checkpoint-dir {directory!r} is not writable ({str(existing)!r} does not let this user "
                         f"create files); choose another directory")
        found = sorted(path.rglob(CHECKPOINT_FILE)) if path.is_dir() else []
        if found and not args.resume and not args.overwrite:  # fit would refuse it too, but after loading the data
            parser.error(f"--checkpoint-dir {directory!r} holds the checkpoints of an earlier run ({len(found)}, e.g. "
                         f"{str(found[0])!r}); pass --resume to continue that run, --overwrite to replace its "
                         f"checkpoints, or choose another directory")
    return args


def checkpoint_options(args: argparse.Namespace, backend_name: str, *model: str) -> dict[str, Any]:
    """``Trainer.fit``'s checkpoint keywords for one training run: ``checkpoint_dir`` is
    ``--checkpoint-dir/<backend>[/<model>...]`` (each backend, and each model of an experiment that trains several,
    a directory of its own), ``resume`` is ``--resume`` where that directory holds a checkpoint (a model the
    interrupted run had not reached starts afresh), and ``overwrite_checkpoint`` is ``--overwrite`` for a fresh
    run. Empty without ``--checkpoint-dir``."""
    if getattr(args, "checkpoint_dir", None) is None:
        return {}
    directory = Path(args.checkpoint_dir, backend_name, *model)
    resume = bool(args.resume) and (directory / CHECKPOINT_FILE).is_file()
    return {"checkpoint_dir": directory, "resume": resume, "overwrite_checkpoint": bool(args.overwrite) and not resume}


def limit_threads(threads: int) -> AbstractContextManager[None]:
    """``torch_impl.devices.limit_threads``: torch and NumPy's BLAS at ``threads`` threads in the body,
    restored after; imported when called, so that importing this module does not import torch."""
    from torch_impl.devices import limit_threads as limit

    return limit(threads)


def _device(s: str) -> str:
    """``--device``: a device this machine has (a missing GPU is a usage error, not a traceback later)."""
    from torch_impl.devices import resolve_device

    try:
        resolve_device(s, "--device")
    except (ValueError, RuntimeError, TypeError) as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--device: ")) from None
    return s


def torchrun_line(name: str, nproc: int = 2) -> str:
    """How to launch experiment ``name`` on ``nproc`` processes."""
    return f"torchrun --nproc-per-node {nproc} -m experiments.{name} --backend torch --distributed"


def start_distributed(parser: argparse.ArgumentParser, args: argparse.Namespace, name: str) -> int:
    """Check ``--distributed`` (the torch backend only, under torchrun) before any work; this process's rank
    (0 without ``--distributed``)."""
    if not getattr(args, "distributed", False):
        return 0
    if args.backend != "torch":
        parser.error(f"--distributed trains the torch backend only (got --backend {args.backend}): the scratch "
                     f"backend is one process on purpose, it is the reference; pass --backend torch")
    from torch_impl.distributed import DistributedSetupError, check_torchrun_env, env_rank

    try:
        check_torchrun_env(torchrun_line(name))
    except DistributedSetupError as e:
        parser.error(f"--distributed: {e}")
    return env_rank()


def network_device(args: argparse.Namespace, backend_name: str) -> str | None:
    """The ``device`` of a network of ``backend_name``: ``--device`` (else the default) for the torch backend, where
    a bare ``cuda`` under torchrun is this rank's GPU and a CUDA run switches TF32 off, for parity; None for
    scratch."""
    if backend_name != "torch":
        return None
    from torch_impl.devices import cuda_parity_mode, default_device

    device = getattr(args, "device", None) or default_device()
    if device.startswith("cuda"):
        cuda_parity_mode()
    return device


def quiet_unless_main(rank: int) -> None:
    """Rank 0 prints; the other ranks of a distributed run (processes of their own) keep quiet: they compute the
    same numbers."""
    if rank != 0:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the rest of this worker process)


def entry_point(main: Callable[[], Any]) -> None:
    """Run an experiment's ``main`` as a script; under torchrun through ``torch``'s ``record``, so the exception
    of a failing rank appears in torchrun's summary."""
    from torch_impl.distributed import launched_by_torchrun

    if not launched_by_torchrun():
        main()
        return
    from torch.distributed.elastic.multiprocessing.errors import record

    record(main)()


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
               headers: Sequence[str], rows: Sequence[Sequence[Any]],
               figures: Sequence[str | os.PathLike | tuple[str | os.PathLike, str]] = (),
               title: str | None = None, notes: str = "", highlights: Mapping[str, str] | None = None) -> None:
    """Write ``metrics.json``, ``config.json`` and ``report.html`` into ``out`` and print where they are.

    ``figures``: PNG paths, or (path, caption) pairs whose caption says what the plot shows; ``highlights``:
    labelled facts listed above the results table (``experiments.report.write_report``)."""
    config = {"experiment": name, "args": {k: v for k, v in vars(args).items()}, "versions": versions(),
              "backends": backends(getattr(args, "backend", "both")), "seed": getattr(args, "seed", None),
              "out": str(out), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "platform": platform.platform()}
    save_json(out / "metrics.json", metrics)
    save_json(out / "config.json", config)
    from experiments.report import write_report

    write_report(out / "report.html", title or f"dlfs {name}", config, headers, rows, list(figures), notes,
                 highlights)
    print(f"wrote {out / 'metrics.json'}, {out / 'config.json'}, {out / 'report.html'}")
