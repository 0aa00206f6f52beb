"""The generated tables: README.md's concept table (from the registry and the committed parity record) and
docs/parity.md's tolerance table (from dlfs/tolerances.py). A stale copy fails here; `dlfs regenerate`
rewrites both, and nothing else writes them."""

from __future__ import annotations

import difflib

from dlfs.tolerances import TOLERANCES
from study import results, tables
from study.concepts import CONCEPTS


def _table(text: str, markers: tuple[str, str]) -> str:
    begin, end = markers
    return text[text.index(begin) + len(begin): text.index(end)].strip()


def _assert_current(path, current: str, expected: str, what: str) -> None:
    diff = "\n".join(difflib.unified_diff(current.splitlines(), expected.splitlines(), path.name, "generated",
                                          lineterm="", n=0))
    assert current == expected, f"{path.name}'s {what} is stale: run `dlfs regenerate`.\n{diff}"


def test_readme_concept_table_is_current():
    expected = tables.readme_table(results.load(results.RECORD))
    _assert_current(tables.README, _table(tables.README.read_text(), tables.README_MARKERS), expected,
                    "concept table")
    assert len(expected.splitlines()) == 2 + len(CONCEPTS)
    lstm = next(line for line in expected.splitlines() if line.startswith("| LSTM"))
    assert "(scratch/lstm.py#L" in lstm and "(scratch/fast/lstm.py#L" in lstm and "(torch_impl/lstm.py#L" in lstm


def test_parity_doc_tolerance_table_is_current():
    expected = tables.tolerance_table()
    _assert_current(tables.PARITY_DOC, _table(tables.PARITY_DOC.read_text(), tables.TOLERANCE_MARKERS), expected,
                    "tolerance table")
    assert len(expected.splitlines()) == 2 + len(TOLERANCES)


def test_readme_mentions_the_study_commands():
    text = tables.README.read_text()
    for cmd in ("dlfs concepts", "dlfs show", "dlfs parity", "dlfs regenerate", "dlfs run", "dlfs compare",
                "make demo", "make test"):
        assert cmd in text, cmd


def test_rewrite_changes_only_the_tables(tmp_path, monkeypatch):
    text = tables.README.read_text()
    copy, doc = tmp_path / "README.md", tmp_path / "parity.md"
    copy.write_text(text.replace(_table(text, tables.README_MARKERS), "| concept |\n|---|\n| a stale row |"))
    begin, end = tables.TOLERANCE_MARKERS
    doc.write_text(f"prose\n{begin}\n{end}\nmore prose\n")
    monkeypatch.setattr(tables, "README", copy)
    monkeypatch.setattr(tables, "PARITY_DOC", doc)
    record = results.load(results.RECORD)
    assert tables.stale(record) == [copy, doc]
    assert tables.rewrite(record) == [copy, doc]
    assert doc.read_text() == f"prose\n{begin}\n{tables.tolerance_table()}\n{end}\nmore prose\n"
    assert copy.read_text() == text  # the prose around the table is untouched
    assert tables.stale(record) == [] and tables.rewrite(record) == []  # current: nothing to write
