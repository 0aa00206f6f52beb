"""The chapter notebooks (``notebooks/NN_*.py``, jupytext percent scripts) run cleanly in both backends.

Every notebook is executed with nbclient in a fresh ``python3`` kernel, once per backend, with its first cell
rewritten to name that backend (``notebooks/run.py`` does the rewriting and the running for these tests and for
``notebooks/build.py``). A run must raise nothing, print nothing to stderr, show every figure it makes inline,
and print key numbers (``name: value`` lines) that pass the chapter's sanity checks below. The kernel starts
in a temporary directory, so nothing is written into the checkout.

Executions are cached per test session (in memory, and on disk in the session's temporary directory, which
pytest-xdist's workers share), so the cross-backend comparison of chapter 3 normally reuses the two runs of
``test_notebook_runs`` instead of running them again.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHAPTERS = ("01_foundations", "02_fundamentals", "03_deep_learning_from_scratch", "04_extensions", "05_cnns",
            "06_rnns", "07_pytorch", "08_tsne")
BACKENDS = ("scratch", "torch")
CELL_TIMEOUT = 120  # seconds per cell; every cell takes a few at most


def _load_runner() -> ModuleType:
    """``notebooks/run.py`` by its path (``notebooks`` is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("dlfs_notebooks_run", NOTEBOOKS / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


nbrun = _load_runner()


# --- running (cached) -----------------------------------------------------------------------------------------
_RUNS: dict[tuple[str, str], nbformat.NotebookNode] = {}


@pytest.fixture(scope="session")
def run_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for executed notebooks shared by every worker of this test session."""
    base = tmp_path_factory.getbasetemp()
    # under pytest-xdist each worker's basetemp is <session dir>/popen-gwN: share the session's directory
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = root / "executed-notebooks"
    cache.mkdir(exist_ok=True)
    return cache


def executed(chapter: str, backend: str, cache: Path, cwd: Path) -> nbformat.NotebookNode:
    """``chapter`` run in ``backend`` (kernel working directory ``cwd``), from the session's cache if already
    run; an execution error fails the test with the failing cell's source and traceback."""
    key = (chapter, backend)
    if key in _RUNS:
        return _RUNS[key]
    stored = cache / f"{chapter}.{backend}.ipynb"
    if stored.is_file():
        nb = nbformat.read(stored, as_version=4)
    else:
        source = nbrun.set_backend(nbrun.read_notebook(NOTEBOOKS / f"{chapter}.py"), backend)
        try:
            nb = nbrun.execute_notebook(source, f"{chapter}.py [{backend}]", cwd=cwd, timeout=CELL_TIMEOUT).nb
        except nbrun.NotebookExecutionError as e:
            pytest.fail(str(e), pytrace=False)
        nbrun.write_notebook(nb, stored)  # atomic: another worker never reads half of it
    _RUNS[key] = nb
    return nb


# --- what each notebook must print ----------------------------------------------------------------------------
Check = tuple[str, Callable[[dict[str, float]], bool]]


def near(a: float, b: float, rel: float = 1e-6, abs_: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


CHECKS: dict[str, list[Check]] = {
    "01_foundations": [
        ("exact derivatives match the numerical ones", lambda n: n["max |exact - numerical| derivative"] < 1e-6),
        ("the chain rule matches the numerical derivative", lambda n: n["max |chain rule - numerical|"] < 1e-5),
        ("partial derivatives match", lambda n: n["max |partial derivative - numerical|"] < 1e-6),
        ("the book's L = 2.3755", lambda n: n["L"] == 2.3755),
        ("nudging x11 agrees with the chain rule",
         lambda n: abs(n["dL/dx11 by the chain rule"] - n["dL/dx11 by nudging x11"]) < 1e-4),
        ("hand-derived and autograd agree", lambda n: n["max |scratch - torch| over dL/dX and dL/dW"] < 1e-12),
    ],
    "02_fundamentals": [
        ("hand-derived gradients are the library's", lambda n: n["max |hand-derived - dlfs gradient|"] < 1e-10),
        ("the hand loop is the Trainer", lambda n: n["max |hand loop - Trainer| weights"] < 1e-10),
        ("the closed form is sklearn's", lambda n: near(n["test RMSE (closed form)"], n["test RMSE (sklearn)"], 1e-4)),
        ("SGD lands near the closed form", lambda n: n["test RMSE (SGD)"] < 1.05 * n["test RMSE (closed form)"]),
        ("a hidden layer beats linear", lambda n: n["test RMSE (13 sigmoid units)"] < n["test RMSE (closed form)"]),
    ],
    "03_deep_learning_from_scratch": [
        ("the deepest model's test loss is sane", lambda n: 5 < n["final loss"] < 20),
        ("depth helps", lambda n: n["test MAE (two hidden layers)"] < n["test MAE (linear)"]),
        ("both backends train identically", lambda n: n["max |scratch - torch| loss"] < 1e-9),
    ],
    "04_extensions": [
        ("softmax cross-entropy by hand", lambda n: near(n["softmax cross-entropy by hand"],
                                                         n["softmax cross-entropy (dlfs)"])),
        ("its gradient by hand", lambda n: n["max |gradient by hand - dlfs|"] < 1e-12),
        ("Glorot's scale", lambda n: abs(n["std of W (glorot)"] / n["Glorot's target sqrt(2 / (64 + 89))"] - 1) < 0.1),
        ("softmax beats MSE", lambda n: n["test accuracy [softmax CE]"] > n["test accuracy [MSE + sigmoid]"]),
        ("the top rung classifies", lambda n: n["test accuracy [+ dropout 0.2]"] > 0.95),
        ("early stopping keeps a good model", lambda n: n["test accuracy [early stopping]"] > 0.95),
    ],
    "05_cnns": [
        ("Conv2D is the formula", lambda n: n["max |loops - Conv2D|"] < 1e-10),
        ("MaxPool2D is the windows' maximum", lambda n: n["max |reshape-and-max - MaxPool2D|"] == 0),
        ("the CNN classifies", lambda n: n["test accuracy (CNN)"] > 0.9),
    ],
    "06_rnns": [
        ("autograd matches finite differences", lambda n: n["max |autograd - finite differences|"] < 1e-6),
        ("clipping reaches the norm asked for", lambda n: near(n["gradient norm after clipping"], 0.1, 1e-4)
         and n["gradient norm before clipping"] > 0.1),
        *[(f"{cell} learns", lambda n, cell=cell: n[f"validation loss [{cell}]"] < n["uniform guess"] - 1.0)
          for cell in ("RNNLayer", "GRULayer", "LSTMLayer")],
    ],
    "07_pytorch": [
        ("the autoencoder reconstructs", lambda n: n["test MSE per pixel"] < 0.1),
        ("the encodings keep the classes", lambda n: n["nearest-neighbour test accuracy on 16 encoded numbers"] > 0.9),
        ("weights load across backends", lambda n: n["max reconstruction difference across backends"] < 1e-4),
    ],
    "08_tsne": [
        ("every row has the perplexity asked for", lambda n: near(n["mean perplexity"], 30.0, 1e-4)),
        ("P sums to 1", lambda n: near(n["sum of P"], 1.0, 1e-6)),
        ("the KL gradient matches finite differences", lambda n: n["max |gradient - finite differences|"] < 1e-6),
        ("the map keeps neighbours", lambda n: n["trustworthiness (dlfs)"] > 0.95),
        ("the map separates the digits", lambda n: n["nearest-neighbour accuracy in the map (dlfs)"] > 0.9),
        ("as good as sklearn's", lambda n: n["trustworthiness (dlfs)"] > n["trustworthiness (sklearn)"] - 0.02),
        ("the backends agree over a short run", lambda n: n["max |scratch - torch| after 10 iterations"] < 1e-8),
    ],
}


# --- the sources ----------------------------------------------------------------------------------------------
def test_the_eight_chapter_notebooks_exist():
    assert tuple(p.stem for p in nbrun.notebook_paths()) == CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebook_source_is_percent_format_with_the_backend_cell_first(chapter: str):
    path = NOTEBOOKS / f"{chapter}.py"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ---\n# jupyter:\n"), f"{path.name}: no jupytext header"
    nb = jupytext.reads(text, fmt="py:percent")
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    # valid percent format: jupytext writes the notebook back as this very text (its version line aside)
    unversioned = lambda s: re.sub(r"(?m)^#\s+jupytext_version: .*\n", "", s)  # noqa: E731
    assert unversioned(jupytext.writes(nb, fmt="py:percent")) == unversioned(text)
    assert {c.cell_type for c in nb.cells} <= {"code", "markdown"}
    assert text.count("\n# %%") == len(nb.cells)  # every cell has its marker

    first, *rest = nb.cells
    assert first.cell_type == "code" and first.source.splitlines()[0] == nbrun.BACKEND_LINE
    code = "\n".join(c.source for c in rest if c.cell_type == "code")
    markdown = "\n".join(c.source for c in rest if c.cell_type == "markdown")
    assert "B = backend(BACKEND)" in code
    assert not re.search(r"(?m)^BACKEND\s*=", code), "only the first cell may set BACKEND"
    assert not re.search(r"""backend\(\s*["']|DLFS_BACKEND""", code), "a later cell hard-codes a backend"
    assert "$" in markdown, "the chapter's equations belong in the markdown"
    assert "plt.show()" in code and "matplotlib.use(" not in code and "savefig" not in code
    if "save_weights" in code or "open(" in code:
        assert "tempfile.mkdtemp()" in code, "files a notebook writes go to a temporary directory"


def test_set_backend_rewrites_the_first_line_only():
    nb = nbrun.read_notebook(NOTEBOOKS / f"{CHAPTERS[0]}.py")
    assert nbrun.backend_of(nb) == "scratch"
    torch_nb = nbrun.set_backend(nb, "torch")
    assert torch_nb.cells[0].source.splitlines()[0] == 'BACKEND = "torch"  # or "scratch": the same numbers either way'
    assert nbrun.set_backend(torch_nb, "scratch").cells[0].source == nb.cells[0].source  # and back
    assert torch_nb.cells[0].source.splitlines()[1:] == nb.cells[0].source.splitlines()[1:]
    assert [c.source for c in torch_nb.cells[1:]] == [c.source for c in nb.cells[1:]]
    assert nbrun.backend_of(nb) == "scratch"  # the original is untouched
    with pytest.raises(ValueError, match="backend"):
        nbrun.set_backend(nb, "jax")
    nb.cells[0].source = "import numpy as np\n" + nb.cells[0].source
    with pytest.raises(ValueError, match="must start with"):
        nbrun.set_backend(nb, "torch")


# --- the runs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebook_runs(chapter: str, backend: str, run_cache: Path, tmp_path: Path):
    nb = executed(chapter, backend, run_cache, tmp_path)
    assert nb.cells[0].source.startswith(f'BACKEND = "{backend}"'), "the backend cell was not rewritten"
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "some cells did not run"
    assert not nbrun.error_outputs(nb)
    stderr = [o.text for c in code_cells for o in c.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{chapter} [{backend}] wrote to stderr:\n" + "".join(stderr)
    shows = sum(c.source.count("plt.show()") for c in code_cells)
    images = nbrun.count_images(nb)
    assert images >= 1 and images == shows, f"{shows} plt.show() calls but {images} inline images"

    numbers = nbrun.printed_numbers(nbrun.stdout_text(nb))
    assert all(math.isfinite(v) for v in numbers.values()), numbers
    for what, check in CHECKS[chapter]:
        try:
            ok = check(numbers)
        except KeyError as e:
            pytest.fail(f"{chapter} [{backend}] printed no {e}; it printed {sorted(numbers)}", pytrace=False)
        assert ok, f"{chapter} [{backend}]: {what}; printed {numbers}"


def test_backends_print_the_same_numbers_in_chapter_3(run_cache: Path, tmp_path: Path):
    chapter = "03_deep_learning_from_scratch"
    scratch, torch = (nbrun.printed_numbers(nbrun.stdout_text(executed(chapter, b, run_cache, tmp_path)))
                      for b in BACKENDS)
    assert "final loss" in scratch and set(scratch) == set(torch)
    assert near(scratch["final loss"], torch["final loss"]), (scratch["final loss"], torch["final loss"])
    different = {k: (scratch[k], torch[k]) for k in scratch if not near(scratch[k], torch[k])}
    assert not different, f"printed differently by the two backends: {different}"
