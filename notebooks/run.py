"""Read a chapter notebook, point it at a backend, execute it: the logic ``build.py`` and the tests share.

The notebooks live here as jupytext *percent* scripts (``NN_name.py``). Their first cell is the backend knob,

    BACKEND = "scratch"  # or "torch": the same numbers either way

and every later cell asks ``dlfs.backend(BACKEND)`` for its layers, so one text runs in either backend:
``set_backend`` rewrites that one string. ``execute_notebook`` runs the cells in a fresh ``python3`` kernel
whose working directory is a temporary directory (nothing is written into the checkout), with matplotlib's
inline backend (so every ``plt.show()`` becomes an ``image/png`` output) and, by default, one BLAS/torch thread
(the models are tiny: extra threads mostly wait for each other, and two kernels side by side would fight).

    run = execute_notebook(set_backend(read_notebook(notebook_paths()[2]), "torch"))
    print(printed_numbers(stdout_text(run.nb)), count_images(run.nb), run.seconds)

``notebooks/`` is a folder of scripts, not a package: ``build.py`` imports this file as its neighbour and the
test (``parity_tests/test_notebooks.py``) loads it by path. ``python notebooks/run.py NN_name.py [backend]``
executes one notebook and prints what it printed.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

NOTEBOOKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOKS_DIR.parent
#: The chapter notebooks: two digits, an underscore, a name (``03_deep_learning_from_scratch.py``).
NOTEBOOK_GLOB = "[0-9][0-9]_*.py"
BACKENDS = ("scratch", "torch")  # dlfs.BACKENDS, without importing dlfs (and so torch) into the caller
#: The first line every notebook starts with, as committed.
BACKEND_LINE = 'BACKEND = "scratch"  # or "torch": the same numbers either way'
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# `BACKEND = "scratch"` (either quote) at the very start of the first cell; the rest of the line is kept, but for
# the comment's `# or "torch"`, which then names the other backend.
_BACKEND_RE = re.compile(r"""\ABACKEND = (["'])([A-Za-z0-9_-]*)\1""")
_OTHER_RE = re.compile(r"""\A(BACKEND = .*?# or )(["'])([A-Za-z0-9_-]*)\2""")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A printed key number: "final loss: 0.123456", "test accuracy [lstm]: 0.9533" (one per line).
_NUMBER_RE = re.compile(r"^([A-Za-z][^:\n]*?):\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$", re.MULTILINE)


class NotebookExecutionError(RuntimeError):
    """A cell failed (error, timeout or dead kernel). The message names the notebook and the cell and holds the
    cell's source and the traceback."""

    def __init__(self, name: str, index: int, source: str, detail: str) -> None:
        self.name, self.index, self.source, self.detail = name, index, source, detail
        super().__init__(f"{name}: cell {index} failed\n--- cell source ---\n{source}\n--- error ---\n{detail}")


@dataclass
class Execution:
    """An executed notebook and how long it took.

    Attributes
    ----------
    nb : NotebookNode
        The notebook with its outputs (streams, images, results).
    seconds : float
        Wall time from starting the kernel to the end of the last cell.
    cell_seconds : list[float]
        Wall time of each cell, in order (0 for markdown cells).
    """

    nb: NotebookNode
    seconds: float
    cell_seconds: list[float]


def notebook_paths(directory: str | os.PathLike = NOTEBOOKS_DIR) -> list[Path]:
    """The chapter notebooks' sources in ``directory``, sorted by chapter number."""
    return sorted(Path(directory).glob(NOTEBOOK_GLOB))


def read_notebook(path: str | os.PathLike) -> NotebookNode:
    """Read a jupytext percent script into an nbformat v4 notebook (no outputs yet)."""
    return jupytext.read(Path(path), fmt="py:percent")


def backend_of(nb: NotebookNode) -> str:
    """The backend the first cell names. Raises ``ValueError`` unless the first cell is a code cell that starts
    with ``BACKEND = "<name>"``."""
    if not nb.cells or nb.cells[0].cell_type != "code":
        kind = nb.cells[0].cell_type if nb.cells else "nothing"
        raise ValueError(f"the first cell must be the code cell `{BACKEND_LINE}`; found {kind}")
    match = _BACKEND_RE.match(nb.cells[0].source)
    if match is None:
        first = nb.cells[0].source.splitlines()[0] if nb.cells[0].source else ""
        raise ValueError(f"the first cell must start with `BACKEND = \"scratch\"` or `BACKEND = \"torch\"`; "
                         f"its first line is {first!r}")
    return match.group(2)


def set_backend(nb: NotebookNode, backend: str) -> NotebookNode:
    """A copy of ``nb`` whose first cell names ``backend`` instead (and its ``# or "..."`` comment the other one).

    Raises ``ValueError`` for an unknown backend or a first cell that is not the backend cell, so a notebook
    that would silently run its own default is caught.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {list(BACKENDS)}, got {backend!r}")
    backend_of(nb)  # the checks
    out = copy.deepcopy(nb)
    cell = out.cells[0]
    cell.source = _BACKEND_RE.sub(lambda m: f"BACKEND = {m.group(1)}{backend}{m.group(1)}", cell.source, count=1)
    other = next(b for b in BACKENDS if b != backend)
    cell.source = _OTHER_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{other}{m.group(2)}", cell.source, count=1)
    assert backend_of(out) == backend
    return out


def kernel_env(threads: int | None = 1, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: ``base`` (default ``os.environ``) with matplotlib's inline backend, the
    repository on ``PYTHONPATH`` (the kernel starts in a temporary directory) and, unless ``threads`` is None,
    that many BLAS/OpenMP threads (torch reads ``OMP_NUM_THREADS`` at import)."""
    env = dict(os.environ if base is None else base)
    env["MPLBACKEND"] = INLINE_BACKEND  # an inherited MPLBACKEND=Agg would swallow every plt.show()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("DLFS_BACKEND", None)  # the notebook names its backend itself
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads: expected a positive number or None, got {threads}")
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env


def _clean(text: str) -> str:
    return _ANSI_RE.sub("", text)


def execute_notebook(
    nb: NotebookNode,
    name: str = "notebook",
    cwd: str | os.PathLike | None = None,
    timeout: int = 120,
    kernel_name: str = "python3",
    threads: int | None = 1,
) -> Execution:
    """Run every code cell of ``nb`` (a copy; ``nb`` is left as it was) in a fresh kernel, in order.

    Parameters
    ----------
    nb : NotebookNode
        The notebook, e.g. ``set_backend(read_notebook(path), "torch")``.
    name : str
        What error messages call the notebook (its file name, say).
    cwd : path or None
        The kernel's working directory; None: a fresh temporary directory, removed afterwards.
    timeout : int
        Seconds any one cell may run before it counts as failed.
    kernel_name : str
        The kernelspec (``python3``: the ipykernel of the Python running this).
    threads : int or None
        BLAS/torch threads in the kernel (see ``kernel_env``).

    Returns
    -------
    Execution
        The executed notebook and its timings.

    Raises
    ------
    NotebookExecutionError
        At the first cell that raises, times out or kills the kernel; the kernel is shut down either way.
    """
    nb = copy.deepcopy(nb)
    with tempfile.TemporaryDirectory(prefix="dlfs-notebook-") as tmp:
        workdir = str(Path(cwd).resolve()) if cwd is not None else tmp
        # log_level: no start-up chatter from the kernel (its warnings about plain-TCP transport, say); what a cell
        # prints or warns still lands in that cell's outputs
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                resources={"metadata": {"path": workdir}},
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        if kernel_name == "python3":  # this interpreter's ipykernel, whatever other python3 kernelspecs exist
            client.km = client.create_kernel_manager()
            client.km.kernel_spec_manager = KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)
        cell_seconds = [0.0] * len(nb.cells)
        start = time.perf_counter()
        index = -1
        try:
            with client.setup_kernel(env=kernel_env(threads), cwd=workdir):
                info = client.wait_for_reply(client.kc.kernel_info())
                if info is not None and "language_info" in info["content"]:
                    nb.metadata["language_info"] = info["content"]["language_info"]
                for index, cell in enumerate(nb.cells):
                    t0 = time.perf_counter()
                    client.execute_cell(cell, index)
                    cell_seconds[index] = time.perf_counter() - t0
        except CellExecutionError as e:
            cell = nb.cells[index]
            tracebacks = ["\n".join(out.traceback) for out in cell.get("outputs", []) if out.output_type == "error"]
            detail = "\n".join(tracebacks) or e.traceback  # the kernel's traceback, without nbclient's preamble
            raise NotebookExecutionError(name, index, cell.source, _clean(detail)) from None
        except (CellTimeoutError, DeadKernelError) as e:
            source = nb.cells[index].source if 0 <= index < len(nb.cells) else "(before the first cell)"
            raise NotebookExecutionError(name, index, source, f"{type(e).__name__}: {_clean(str(e))}") from None
        return Execution(nb, time.perf_counter() - start, cell_seconds)


def stdout_text(nb: NotebookNode) -> str:
    """Everything the code cells printed to stdout, in order."""
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.output_type == "stream" and out.name == "stdout")


def error_outputs(nb: NotebookNode) -> list[NotebookNode]:
    """The ``error`` outputs of every cell (empty for a notebook that ran cleanly)."""
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.output_type == "error"]


def count_images(nb: NotebookNode, mime: str = "image/png") -> int:
    """How many displayed outputs carry ``mime`` (a figure shown inline is one ``image/png``)."""
    return sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
               if out.output_type in ("display_data", "execute_result") and mime in out.get("data", {}))


def printed_numbers(text: str) -> dict[str, float]:
    """The ``name: number`` lines of ``text`` (what the notebooks print for their key results), as a dict; a
    name printed twice keeps its last value."""
    return {m.group(1).strip(): float(m.group(2)) for m in _NUMBER_RE.finditer(text)}


def write_notebook(nb: NotebookNode, path: str | os.PathLike) -> Path:
    """Write ``nb`` as ``.ipynb`` atomically: a temporary file in the same directory, then ``os.replace``, so a
    reader never sees half a notebook and a failure leaves the old file in place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the notebook private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


if __name__ == "__main__":  # `python notebooks/run.py NN_name.py [backend]`: execute one, print its stdout
    source = Path(sys.argv[1])
    run = execute_notebook(set_backend(read_notebook(source), sys.argv[2] if len(sys.argv) > 2 else "scratch"),
                           source.name)
    print(stdout_text(run.nb), end="", flush=True)
    print(f"\n[{source.name}: {run.seconds:.1f} s, {count_images(run.nb)} inline image(s)]", file=sys.stderr)
