"""`dlfs site`: the study site, built from the concept registry into a directory that works offline.

    build_site(Path("site"))                      # every concept, the docs, the latest experiment runs
    build_site(Path("site"), only=["lstm"])       # one concept page (and the pages it links to)

The site is written into a temporary directory beside ``out`` and moved into place only when every
page is written, so a failed build leaves nothing half-written, and an existing site is replaced in one
rename. Every asset (CSS, script, images) is a file under ``out``: no CDN, nothing fetched.

Pages (relative to ``out``): ``index.html`` (the concept map by chapter, with a search box),
``concepts/<key>.html``, ``experiments/<name>.html`` (+ the run's images), ``docs/<page>.html``,
``src/<path>.html`` (every source file a page links to, highlighted, with ``#L-<n>`` line anchors).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from study import results as parity_results
from study.concepts import CONCEPTS, ROOT, doc_page, fast_objects, keys, locate
from study.site import code, content
from study.spec import Concept
from study.usage import UsageError, suggest

HERE = Path(__file__).resolve().parent
MARKER = ".dlfs-site.json"  # written into every site; only a directory holding one is ever replaced
CHAPTERS = {"1": "Foundations", "2": "Fundamentals", "3": "Deep learning from scratch", "4": "Extensions",
            "5": "Convolutional neural networks", "6": "Recurrent neural networks",
            "7": "PyTorch: the autoencoder, and t-SNE"}


@dataclass
class SiteReport:
    out: Path
    pages: int
    concept_pages: int
    experiment_pages: int
    seconds: float
    parity_source: str


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["err"] = lambda v: "-" if v is None else f"{v:.1e}"
    return env


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that would lose something: a non-empty directory without ``overwrite``, any
    non-empty directory that is not a site this command built, a file, an unwritable parent."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(f"--out {out}: the directory holds files that are not a dlfs site; "
                             "choose a new or empty directory (nothing was written)")
        if not overwrite:
            raise UsageError(f"--out {out}: holds a site already; pass --overwrite to replace it")
    probe = out.resolve().parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"--out {out}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK) or (out.is_dir() and not os.access(out, os.W_OK)):
        raise UsageError(f"--out {out}: {probe} is not writable")


def _chosen(only: list[str] | None) -> list[Concept]:
    if not only:
        return list(CONCEPTS)
    known = keys()
    for key in only:
        if key not in known:
            raise suggest(key, known, "concept")
    return [c for c in CONCEPTS if c.key in only]


class Writer:
    """Writes pages into the build directory and remembers which source files they link to."""

    def __init__(self, root: Path, env: jinja2.Environment) -> None:
        self.root, self.env = root, env
        self.pages = 0
        self.sources: set[str] = set()

    def page(self, rel: str, template: str, **context: Any) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        up = "../" * rel.count("/")
        html = self.env.get_template(template).render(
            up=up, page=rel, link=lambda file, line=None: self.link(file, line, rel), **context)
        target.write_text(html, encoding="utf-8")
        self.pages += 1

    def link(self, rel_file: str, line: int | None = None, page: str = "") -> str:
        """A link to a source file's page (from ``page``), at ``line``."""
        self.sources.add(rel_file)
        return content.site_path(page, content.source_page(rel_file)) + (f"#L-{line}" if line else "")


def concept_context(c: Concept, results: dict[str, Any], neighbours: tuple[Concept | None, Concept | None]
                    ) -> dict[str, Any]:
    """Everything a concept page shows."""
    scratch_file, scratch_line = locate(c.scratch)
    torch_file, torch_line = locate(c.torch)
    fast = None
    if c.fast:
        fast_file, fast_line = locate(c.fast)
        fast = {"file": fast_file, "line": fast_line, "ref": c.fast,
                "groups": code.comparison(fast_objects(c), c.torch_objects)}
    groups = code.single(c.scratch_objects) if c.shared else code.comparison(c.scratch_objects,
                                                                              c.torch_objects)
    doc = doc_page(c)
    row_file, row_line = content.registry_row(c)
    return {
        "c": c, "chapter_title": CHAPTERS.get(c.chapter, ""),
        "equations": [content.mathml(e) for e in c.equations], "latex": list(c.equations),
        "scratch": {"file": scratch_file, "line": scratch_line}, "torch": {"file": torch_file, "line": torch_line},
        "groups": groups, "fast": fast, "parity": content.parity_table(c, results),
        "tests": content.tests_of(c), "registry": {"file": row_file, "line": row_line},
        "doc": {"page": content.here_page(doc), "title": content.doc_title(ROOT / doc)},
        "book_code": content.render_markdown(c.book_code, "docs/x.md") if c.book_code else "",
        "prev": neighbours[0], "next": neighbours[1],
    }


def build_site(out: Path, only: list[str] | None = None, overwrite: bool = False,
               runs: Path | None = None, parity: Path | None = None,
               results: dict[str, Any] | None = None) -> SiteReport:
    """Build the study site into ``out`` (see the module docstring); returns what was written.

    ``parity``: the parity results to show (default: the user's last `dlfs parity`, else the committed
    record); ``results`` passes them directly (`dlfs site --run-parity`). ``runs``: where experiment runs
    are (default ``runs/`` of the checkout).
    """
    t0 = time.perf_counter()
    out = Path(out)
    chosen = _chosen(only)
    check_out(out, overwrite)
    if results is None:
        results, source = parity_results.latest(parity)
        parity_source = str(source)
    else:
        parity_source = "a run of the parity checks made for this build"
    try:
        out.resolve().parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-building-", dir=out.resolve().parent))
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    try:
        report = _write(tmp, chosen, results, parity_source, runs if runs is not None else ROOT / "runs")
        (tmp / MARKER).write_text(json.dumps({"pages": report["pages"], "concepts": [c.key for c in chosen],
                                              "parity": parity_source}, indent=1))
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SiteReport(out, report["pages"], len(chosen), report["experiments"], time.perf_counter() - t0,
                      parity_source)


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished build to ``out``; an old site goes aside first and is removed after."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.resolve().parent))
        os.replace(out, old / "site")
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old / "site", out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    os.chmod(out, 0o755)


def _write(root: Path, chosen: list[Concept], results: dict[str, Any], parity_source: str,
           runs: Path) -> dict[str, int]:
    env = environment()
    w = Writer(root, env)
    static = root / "static"
    static.mkdir()
    for asset in (HERE / "static").iterdir():
        shutil.copyfile(asset, static / asset.name)
    (static / "pygments.css").write_text(code.css())

    runs_by_name = content.latest_runs(runs)
    from study.compare import experiment_names

    experiments = [{"name": n, "run": runs_by_name.get(n)} for n in experiment_names()]
    tables = {c.key: content.parity_table(c, results) for c in chosen}
    chapters: dict[str, list[Concept]] = {}
    for c in chosen:
        chapters.setdefault(c.chapter, []).append(c)
    docs = [(p.stem, content.doc_title(p)) for p in content.docs_pages()]
    common = {"chapters_titles": CHAPTERS, "experiments": experiments, "docs": docs}

    w.page("index.html", "index.html", chapters=chapters, tables=tables, parity_source=parity_source,
           n_concepts=len(chosen), **common)
    for i, c in enumerate(chosen):
        neighbours = (chosen[i - 1] if i else None, chosen[i + 1] if i + 1 < len(chosen) else None)
        w.page(f"concepts/{c.key}.html", "concept.html", parity_source=parity_source,
               **concept_context(c, results, neighbours), **common)
    for e in experiments:
        run = e["run"]
        context: dict[str, Any] = {"name": e["name"], "run": run, "images": [], "metrics": [], "curves": None}
        if run is not None:
            folder = root / "experiments" / e["name"]
            folder.mkdir(parents=True, exist_ok=True)
            for img in run.images:
                shutil.copyfile(img, folder / img.name)
            context["images"] = [img.name for img in run.images]
            context["metrics"] = content.flat_metrics(run.metrics)
            context["curves"] = _curves(run, folder)
            if (run.path / "report.html").is_file():
                shutil.copyfile(run.path / "report.html", folder / "report.html")
                context["report"] = True
        w.page(f"experiments/{e['name']}.html", "experiment.html", **context, **common)
    for stem, title in docs:
        page = f"docs/{stem}.html"
        w.page(page, "doc.html", title=title,
               body=content.render_markdown((ROOT / "docs" / f"{stem}.md").read_text(), f"docs/{stem}.md"),
               source=f"docs/{stem}.md", **common)
    for rel in sorted(w.sources):  # every file a page above links to (source pages link to no other file)
        if (ROOT / rel).is_file():
            w.page(content.source_page(rel), "source.html", file=rel, body=content.source_html(rel), **common)
    return {"pages": w.pages, "experiments": len(experiments)}


def _curves(run: content.Run, folder: Path) -> str | None:
    """The training curves of every history in a run's metrics, both backends in one plot (PNG)."""
    found = content.histories(run.metrics)
    if not found:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for where, h in found.items():
        for key, values in h.items():
            if values:
                style = "-" if "scratch" in where else "--"
                ax.plot(range(1, len(values) + 1), values, style, marker="o" if len(values) < 30 else None,
                        label=f"{where or 'run'} {key.replace('_', ' ')}")
    ax.set_xlabel("evaluation (epoch or step)")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(folder / "curves.png", dpi=100)
    plt.close(fig)
    return "curves.png"
