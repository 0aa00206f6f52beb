"""What the study site shows beside the code: equations as MathML, the docs pages, highlighted source
files with line anchors, the parity figures of a concept and the latest run of each experiment.

Every function here returns plain data or HTML fragments; ``study/site/build.py`` writes the pages.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import latex2mathml.converter
import markdown
from markupsafe import Markup
from pygments import highlight as pyg_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from dlfs.tolerances import tolerance
from study.concepts import PARITY_TEST, ROOT
from study.spec import DTYPES, Concept


def mathml(latex: str) -> Markup:
    """One display equation, LaTeX -> MathML (latex2mathml); the LaTeX stays as the annotation."""
    return Markup(latex2mathml.converter.convert(latex, display="block"))


# --- Markdown (docs pages, the notes on the book's code) -----------------------------------------------------

def _relink(html: str, here: str) -> str:
    """Links between docs pages (``x.md``) go to their site pages; links into the repository's sources
    go to the highlighted source pages; everything else is left alone."""
    def fix(m: re.Match[str]) -> str:
        target, frag = m.group(1), m.group(2) or ""
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return m.group(0)
        resolved = (ROOT / Path(here).parent / target).resolve()
        try:
            rel = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            return m.group(0)
        if rel.endswith(".md") and rel.startswith("docs/"):
            return f'href="{site_path(here_page(here), "docs/" + Path(rel).stem + ".html")}{frag}"'
        if rel.endswith(".py") and (ROOT / rel).is_file():
            return f'href="{site_path(here_page(here), source_page(rel))}{frag}"'
        return m.group(0)

    return re.sub(r'href="([^"#]*)(#[^"]*)?"', fix, html)


def here_page(doc: str) -> str:
    """The site page a docs file becomes (``docs/dense.md`` -> ``docs/dense.html``)."""
    return f"docs/{Path(doc).stem}.html"


def site_path(from_page: str, to_page: str) -> str:
    """A relative link from one site page to another (both relative to the site's root)."""
    depth = from_page.count("/")
    return "../" * depth + to_page


def render_markdown(text: str, here: str = "docs/index.md") -> Markup:
    """Markdown (tables, fenced code) -> HTML, with links fixed as for a page at ``here``."""
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists"])
    return Markup(_relink(html, here))


def docs_pages() -> list[Path]:
    return sorted((ROOT / "docs").glob("*.md"))


def doc_title(path: Path) -> str:
    first = next((line for line in path.read_text().splitlines() if line.startswith("# ")), path.stem)
    return first.lstrip("# ").strip()


# --- source files -----------------------------------------------------------------------------------------

def source_page(rel: str) -> str:
    """The site page of a repository file (``scratch/lstm.py`` -> ``src/scratch/lstm.py.html``)."""
    return f"src/{rel}.html"


def source_html(rel: str) -> Markup:
    """A whole file, highlighted, with an anchor ``#L-<n>`` on every line."""
    formatter = HtmlFormatter(linenos="inline", lineanchors="L", anchorlinenos=True, cssclass="hl")
    return Markup(pyg_highlight((ROOT / rel).read_text(), PythonLexer(), formatter))


@cache
def _defs(rel: str) -> dict[str, int]:
    """Function and class names of a file -> their first lines."""
    tree = ast.parse((ROOT / rel).read_text())
    return {n.name: n.lineno for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


@dataclass
class TestLink:
    name: str  # as pytest names it
    file: str
    line: int


def tests_of(c: Concept) -> list[TestLink]:
    """The tests that prove a concept: the registry's own check, then its extra test-file cases, each with
    the file and line of its definition."""
    out = []
    for node in (f"{PARITY_TEST}[{c.key}-float64]", f"{PARITY_TEST}[{c.key}-float32]", *c.tests):
        file, _, name = node.partition("::")
        func = name.split("[")[0]
        out.append(TestLink(node, file, _defs(file).get(func, 1)))
    return out


def registry_row(c: Concept) -> tuple[str, int]:
    """Where the concept's registry row is (its chapter file and line)."""
    for path in sorted((ROOT / "study" / "chapters").glob("ch*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if f'Concept("{c.key}"' in line:
                return path.relative_to(ROOT).as_posix(), no
    return "study/concepts.py", 1


# --- parity figures -----------------------------------------------------------------------------------------

@dataclass
class ParityRow:
    quantity: str
    cells: dict[str, dict[str, float] | None]  # dtype -> {max_abs, max_rel, rtol, atol}


@dataclass
class ParityTable:
    passed: dict[str, bool | None]  # dtype -> passed (None: no result)
    rows: list[ParityRow]
    tolerances: list[tuple[str, str, float, float, str]]  # (op, dtype, rtol, atol, why)
    errors: dict[str, str] = field(default_factory=dict)

    def worst(self, dtype: str) -> float | None:
        """The largest relative error of any quantity at ``dtype`` (None: no result)."""
        seen = [row.cells[dtype]["max_rel"] for row in self.rows if row.cells.get(dtype)]
        return max(seen) if seen else None

    @property
    def status(self) -> str:
        seen = [p for p in self.passed.values() if p is not None]
        if not seen:
            return "unknown"
        return "pass" if all(seen) and len(seen) == len(DTYPES) else "fail" if not all(seen) else "partial"


def parity_table(c: Concept, results: dict[str, Any]) -> ParityTable:
    """The concept's measured errors per quantity (forward, input gradient, each parameter gradient, ...)
    and dtype, with the tolerances its checks are held to and their reasons."""
    by_dtype = results.get(c.key, {})
    names: list[str] = []
    for dtype in DTYPES:
        entry = by_dtype.get(dtype) or {}
        for q in entry.get("quantities") or entry.get("groups") or {}:
            if q not in names:
                names.append(q)
    rows = [ParityRow(q, {d: ((by_dtype.get(d) or {}).get("quantities") or (by_dtype.get(d) or {}).get("groups")
                              or {}).get(q) for d in DTYPES}) for q in names]
    ops = list(dict.fromkeys(spec.op for spec in c.specs))
    tols = [(op, d, t.rtol, t.atol, t.why) for op in ops for d in DTYPES for t in [tolerance(op, d)]]
    passed = {d: (by_dtype[d]["passed"] if d in by_dtype else None) for d in DTYPES}
    errors = {d: by_dtype[d]["error"] for d in DTYPES if d in by_dtype and by_dtype[d].get("error")}
    return ParityTable(passed, rows, tols, errors)


# --- experiments ----------------------------------------------------------------------------------------------

@dataclass
class Run:
    name: str
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    images: list[Path]

    @property
    def finished(self) -> str:
        return str(self.config.get("finished", ""))


def latest_runs(runs: Path) -> dict[str, Run]:
    """The newest finished run of each experiment under ``runs`` (by its config's ``finished`` time)."""
    out: dict[str, Run] = {}
    for config_path in sorted(runs.glob("*/config.json")) if runs.is_dir() else []:
        try:
            config = json.loads(config_path.read_text())
            metrics = json.loads((config_path.parent / "metrics.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a run still writing, or one that failed: not shown
        name = config.get("experiment")
        if not isinstance(name, str) or not isinstance(metrics, dict):
            continue
        run = Run(name, config_path.parent, config, metrics, sorted(config_path.parent.glob("*.png")))
        if name not in out or run.finished > out[name].finished:
            out[name] = run
    return out


def flat_metrics(metrics: Any, prefix: str = "", limit: int = 200) -> list[tuple[str, str]]:
    """Scalars of a metrics tree as (dotted key, value) rows; long lists are summarised."""
    rows: list[tuple[str, str]] = []

    def walk(x: Any, key: str) -> None:
        if len(rows) >= limit:
            return
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(x, list):
            if len(x) <= 6 and all(isinstance(v, int | float | str) or v is None for v in x):
                rows.append((key, ", ".join(_fmt(v) for v in x)))
            elif x and all(isinstance(v, int | float) for v in x):
                rows.append((key, f"{len(x)} values, last {_fmt(x[-1])}"))
        else:
            rows.append((key, _fmt(x)))

    walk(metrics, prefix)
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    text = str(v)
    return text if len(text) <= 120 else text[:117] + "..."


def histories(metrics: Any, path: str = "") -> dict[str, dict[str, list[float]]]:
    """Every training history in a run's metrics (a dict with a ``train_loss`` list), by where it sits
    (``scratch``, ``linear.torch``, ...)."""
    found: dict[str, dict[str, list[float]]] = {}
    if isinstance(metrics, dict):
        if isinstance(metrics.get("train_loss"), list):
            return {path: {k: v for k, v in metrics.items() if k in ("train_loss", "val_loss")
                           and isinstance(v, list)}}
        for k, v in metrics.items():
            found.update(histories(v, f"{path}.{k}".strip(".").removesuffix(".history")))
    elif isinstance(metrics, list):
        for i, v in enumerate(metrics):
            label = (v.get("key") or v.get("name") or v.get("backend") or i) if isinstance(v, dict) else i
            found.update(histories(v, f"{path}.{label}".strip(".")))
    return found
