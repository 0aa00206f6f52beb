"""The generated tables: README.md's concept table (from the registry, study/concepts.py) and docs/parity.md's
tolerance table (from dlfs/tolerances.py). A stale copy fails here; `dlfs concepts --readme` rewrites both."""

from __future__ import annotations

import difflib

from dlfs.tolerances import TOLERANCES
from study.cli import main
from study.concepts import (
    CONCEPTS,
    PARITY_DOC,
    README_BEGIN,
    README_END,
    ROOT,
    TOLERANCE_BEGIN,
    TOLERANCE_END,
    readme_table,
    tolerance_table,
    update_readme,
)

README = ROOT / "README.md"


def _table(text: str, begin: str = README_BEGIN, end: str = README_END) -> str:
    return text[text.index(begin) + len(begin): text.index(end)].strip()


def _assert_current(path, current: str, expected: str, what: str) -> None:
    diff = "\n".join(difflib.unified_diff(current.splitlines(), expected.splitlines(), path.name, "generated",
                                          lineterm="", n=0))
    assert current == expected, f"{path.name}'s {what} is stale: run `dlfs concepts --readme`.\n{diff}"


def test_readme_concept_table_is_current():
    expected = readme_table()
    _assert_current(README, _table(README.read_text()), expected, "concept table")
    assert len(expected.splitlines()) == 2 + len(CONCEPTS)


def test_parity_doc_tolerance_table_is_current():
    expected = tolerance_table()
    _assert_current(PARITY_DOC, _table(PARITY_DOC.read_text(), TOLERANCE_BEGIN, TOLERANCE_END), expected,
                    "tolerance table")
    assert len(expected.splitlines()) == 2 + len(TOLERANCES)


def test_readme_mentions_the_study_commands():
    text = README.read_text()
    for cmd in ("dlfs concepts", "dlfs show", "dlfs parity", "dlfs run", "dlfs compare", "make demo", "make test"):
        assert cmd in text, cmd


def test_update_readme_rewrites_only_the_table(tmp_path, capsys):
    text = README.read_text()
    stale = text.replace(_table(text), "| concept |\n|---|\n| a stale row |")
    copy, doc = tmp_path / "README.md", tmp_path / "parity.md"
    copy.write_text(stale)
    doc.write_text(f"prose\n{TOLERANCE_BEGIN}\n{TOLERANCE_END}\nmore prose\n")
    assert main(["concepts", "--readme", "--readme-path", str(copy), "--parity-doc-path", str(doc)]) == 0
    out = capsys.readouterr().out
    assert "README.md: concept table rewritten" in out and "parity.md: tolerance table rewritten" in out
    assert doc.read_text() == f"prose\n{TOLERANCE_BEGIN}\n{tolerance_table()}\n{TOLERANCE_END}\nmore prose\n"
    assert copy.read_text() == text.replace(_table(text), readme_table())  # the prose around it is untouched
    assert update_readme(copy) is False  # already current: nothing to write
