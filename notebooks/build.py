"""Convert the chapter notebooks (jupytext percent scripts, ``notebooks/NN_*.py``) to ``.ipynb``, optionally
executed so that their printed numbers and plots are stored inline.

    python notebooks/build.py                          # notebooks/build/NN_*.ipynb, no outputs
    python notebooks/build.py --execute                # run each one (scratch backend) and keep the outputs
    python notebooks/build.py --execute --backend torch --out /tmp/nb 03 05

Each notebook is written atomically (a temporary file in the output directory, then ``os.replace``). With
``--execute`` a notebook that fails is reported with its failing cell and traceback, is not written, and
makes the exit status 1; the others are still built.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run.py, beside this file, however this was started
import run as notebook_run  # noqa: E402

DEFAULT_OUT = notebook_run.NOTEBOOKS_DIR / "build"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python notebooks/build.py",
        description="Convert notebooks/NN_*.py (jupytext percent format) to .ipynb, optionally executed.",
        epilog="Examples: `python notebooks/build.py --execute` (all eight, run in the scratch backend); "
               "`python notebooks/build.py --execute --backend torch 03 05` (two of them, in torch).")
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                        help="build only these: a chapter number (03) or a file name (03_deep_learning_from_scratch"
                             ".py); default: every notebooks/NN_*.py")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory, created if missing (default: notebooks/build, which git ignores)")
    parser.add_argument("--execute", action="store_true",
                        help="run every cell in a fresh python3 kernel (in a temporary working directory) and store "
                             "the outputs, plots included")
    parser.add_argument("--backend", choices=notebook_run.BACKENDS, default=None,
                        help="the backend the first cell names (default: as written, scratch); the numbers are the "
                             "same either way")
    parser.add_argument("--timeout", type=int, default=120, help="seconds one cell may run (default: 120)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/torch threads in the kernel; 0 keeps the libraries' defaults (default: 1: the "
                             "models are tiny and extra threads mostly wait)")
    args = parser.parse_args(argv)
    if args.timeout < 1:
        parser.error(f"--timeout: expected a positive number of seconds, got {args.timeout}")
    if args.threads < 0:
        parser.error(f"--threads: expected 0 or more, got {args.threads}")
    return args


def select(names: Sequence[str]) -> list[Path]:
    """The notebooks to build: all, or those named by chapter number or file name."""
    available = notebook_run.notebook_paths()
    if not available:
        raise SystemExit(f"error: no notebooks matching {notebook_run.NOTEBOOK_GLOB} in {notebook_run.NOTEBOOKS_DIR}")
    if not names:
        return available
    chosen = []
    for name in names:
        stem = Path(name).name.removesuffix(".py").removesuffix(".ipynb")
        matches = [p for p in available if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if not matches:
            known = ", ".join(p.stem for p in available)
            raise SystemExit(f"error: no notebook {name!r}; expected a chapter number or one of: {known}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def prepare_out(out: Path) -> Path:
    """Create ``out`` if needed and prove it writable now, before minutes are spent executing notebooks."""
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --out {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SystemExit(f"error: --out {str(out)!r} is not writable: {e.strerror or e}") from None
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sources = select(args.notebooks)
    out = prepare_out(args.out)
    failures = 0
    for source in sources:
        try:
            nb = notebook_run.read_notebook(source)
            if args.backend is not None:
                nb = notebook_run.set_backend(nb, args.backend)
        except (OSError, ValueError) as e:
            print(f"error: {source.name}: {e}", file=sys.stderr)
            failures += 1
            continue
        # a plain notebook: without jupytext's pairing metadata, saving it in Jupyter writes no NN_*.py beside it
        nb.metadata.pop("jupytext", None)
        target = out / f"{source.stem}.ipynb"
        note = ""
        if args.execute:
            try:
                run = notebook_run.execute_notebook(nb, source.name, timeout=args.timeout,
                                                    threads=args.threads or None)
            except notebook_run.NotebookExecutionError as e:
                print(f"error: {e}", file=sys.stderr)
                failures += 1
                continue
            nb = run.nb
            plots = notebook_run.count_images(nb)
            note = f" (executed in {run.seconds:.1f} s, {plots} plot{'' if plots == 1 else 's'})"
        try:
            notebook_run.write_notebook(nb, target)
        except OSError as e:
            print(f"error: cannot write {target}: {e.strerror or e}", file=sys.stderr)
            failures += 1
            continue
        print(f"wrote {target}{note}")
    if failures:
        print(f"{failures} of {len(sources)} notebooks failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
