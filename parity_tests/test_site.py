"""`dlfs site`: the pages it builds, the links between them, and what it refuses.

The browser's view of the same site is in ``test_site_browser.py``; here the HTML is read as text.
"""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from study import results
from study.cli import main
from study.concepts import CONCEPTS, ROOT
from study.site import build as site_build
from study.site import build_site
from study.site.command import make_server
from study.usage import UsageError


class Links(html.parser.HTMLParser):
    """Every href/src of a page, and every id it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.refs.append((tag, name, value))
            if name == "id" and value:
                self.ids.add(value)


def parse(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text())
    return p


def test_one_page_per_concept_as_dlfs_concepts_lists(site, capsys):
    assert main(["concepts", "--json"]) == 0
    listed = [row["concept"] for row in json.loads(capsys.readouterr().out)]
    pages = sorted(p.stem for p in (site / "concepts").glob("*.html"))
    assert pages == sorted(listed) == sorted(c.key for c in CONCEPTS)
    assert len(pages) == 36
    index = (site / "index.html").read_text()
    assert index.count('<li class="concept"') == len(CONCEPTS)
    assert 'id="search"' in index


def test_every_link_and_anchor_resolves_inside_the_site(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 100
    anchors = {page: parse(page) for page in pages}
    checked = 0
    for page, links in anchors.items():
        for tag, attr, ref in links.refs:
            if ref.startswith("data:"):  # inline (the run report's embedded plots): nothing fetched
                continue
            if re.match(r"^[a-z]+:", ref):  # an absolute URL: only plain links to the web, never an asset
                assert tag == "a" and attr == "href", f"{page.relative_to(site)} loads {ref[:80]} from outside"
                continue
            target, _, frag = ref.partition("#")
            dest = (page.parent / target).resolve() if target else page
            assert dest.is_file(), f"{page.relative_to(site)}: {ref} -> missing {dest}"
            assert site.resolve() in dest.parents or dest == site.resolve(), f"{ref} leaves the site"
            if frag and dest.suffix == ".html":
                assert frag in (anchors.get(dest) or parse(dest)).ids, f"{page.relative_to(site)}: no #{frag}"
            checked += 1
    assert checked > 2000


def test_a_concept_page_holds_its_equations_code_parity_and_tests(site):
    for c in CONCEPTS:
        text = (site / "concepts" / f"{c.key}.html").read_text()
        assert text.count("<math") == len(c.equations) > 0, c.key
        assert 'id="parity"' in text and "max rel" in text
        assert text.count('class="cell scratch"') > 0 or c.shared, c.key
        assert ('class="cell torch"' in text) != c.shared, c.key
        assert f"test_concept_parity[{c.key}-float64]" in text
        for test in c.tests:
            assert test in text, (c.key, test)
        assert ('id="fast-form"' in text) == (c.fast is not None), c.key
        assert "Not yet written" not in text, c.key
    lstm = (site / "concepts" / "lstm.html").read_text()
    record = results.load(results.RECORD)["lstm"]["float64"]["quantities"]
    for quantity in ("forward", "input grad", "grad W_f", "grad B_o"):
        assert f'<th scope="row">{quantity}</th>' in lstm
        assert f"{record[quantity]['max_rel']:.1e}" in lstm
    assert '<span class="k">def</span>' in lstm  # Pygments' classes: highlighted, not plain text


def test_the_experiment_page_shows_the_latest_run(site):
    demo = (site / "experiments" / "demo.html").read_text()
    assert 'id="metrics"' in demo and "dlfs run demo --backend both" in demo
    assert (site / "experiments" / "demo" / "loss_curves.png").is_file()
    assert (site / "experiments" / "demo" / "curves.png").is_file()
    never = (site / "experiments" / "regression.html").read_text()
    assert 'id="norun"' in never and "dlfs run regression --backend both" in never


def test_only_builds_the_named_concepts_and_overwrite_replaces_the_site(tmp_path):
    out = tmp_path / "site"
    build_site(out, only=["lstm", "dense"], parity=results.RECORD, runs=tmp_path / "none")
    assert sorted(p.stem for p in (out / "concepts").glob("*.html")) == ["dense", "lstm"]
    with pytest.raises(UsageError, match="pass --overwrite"):
        build_site(out, only=["relu"], parity=results.RECORD, runs=tmp_path / "none")
    assert sorted(p.stem for p in (out / "concepts").glob("*.html")) == ["dense", "lstm"]
    build_site(out, only=["relu"], overwrite=True, parity=results.RECORD, runs=tmp_path / "none")
    assert sorted(p.stem for p in (out / "concepts").glob("*.html")) == ["relu"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no building or old directories left


def test_bad_input_gets_a_clear_error_and_nothing_is_written(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    for argv, message in (
            (["site", "--out", str(mine)], "holds files that are not a dlfs site"),
            (["site", "--out", str(mine), "--overwrite"], "holds files that are not a dlfs site"),
            (["site", "--only", "lstn", "--out", str(tmp_path / "a")], "unknown concept 'lstn'; did you mean"),
            (["site", "--out", str(mine / "notes.txt" / "x")], "is a file, not a directory"),
            (["site", "--out", str(mine / "notes.txt")], "is a file, not a directory"),
            (["site", "--out", "/proc/dlfs-site"], "cannot write there")):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "a user's file"


def test_a_build_that_fails_half_way_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "site"
    build_site(out, only=["relu"], parity=results.RECORD, runs=tmp_path / "none")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def broken(rel: str):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(site_build.content, "source_html", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_site(out, only=["lstm"], overwrite=True, parity=results.RECORD, runs=tmp_path / "none")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # the old site, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_the_site_is_served_on_localhost(tmp_path):
    out = tmp_path / "site"
    build_site(out, only=["dense"], parity=results.RECORD, runs=tmp_path / "none")
    with make_server(out, 0) as httpd:
        host, port = httpd.server_address[:2]
        assert host == "127.0.0.1"
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/concepts/dense.html", timeout=10) as r:
                assert r.status == 200 and b"<math" in r.read()
        finally:
            httpd.shutdown()
            thread.join(10)


def test_dlfs_site_serve_prints_its_url_and_stops_by_itself(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "study", "site", "--serve", "--port", "0", "--only", "relu",
                             "--serve-seconds", "20", "--runs", str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("serving "):
                url = line.split(" at ")[1].split()[0]
                break
        assert url and url.startswith("http://127.0.0.1:"), url
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b'id="search"' in r.read()
        assert proc.wait(timeout=60) == 0  # --serve-seconds: it stops by itself
    finally:
        proc.kill()
        proc.wait(timeout=10)
