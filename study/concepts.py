"""The concept registry: every concept of the book, where each form of it lives, its parity specification
and its tests, chapter by chapter (``study/chapters/``).

The README's concept table, `dlfs concepts`, `dlfs show` and `dlfs parity` are generated from this list, and
file:line locations come from ``inspect``, so none of them can drift from the code.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from pathlib import Path

from study.chapters import ch1, ch2_3, ch4, ch5, ch6, ch7
from study.spec import Concept

ROOT = Path(__file__).resolve().parent.parent
CONCEPTS: list[Concept] = [*ch1.CONCEPTS, *ch2_3.CONCEPTS, *ch4.CONCEPTS, *ch5.CONCEPTS, *ch6.CONCEPTS,
                           *ch7.CONCEPTS]
DOCS = {  # one page per concept family; dlfs show links it
    "1": "docs/foundations.md", "2": "docs/dense.md", "3": "docs/dense.md", "4": "docs/chapter4.md",
    "5": "docs/convolutions.md", "6": "docs/recurrent.md", "7": "docs/tsne.md",
}
PARITY_TEST = "parity_tests/test_concepts.py::test_concept_parity"  # the registry's own check, per concept


def doc_page(c: Concept) -> str:
    """The docs page of a concept: its own, else its chapter's."""
    return c.doc or DOCS.get(c.chapter, "docs/conventions.md")


def resolve(ref: str) -> object:
    """``"module:qualname"`` -> the object."""
    module, _, qual = ref.partition(":")
    obj: object = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def locate(ref: str) -> tuple[str, int]:
    """``"module:qualname"`` -> (repo-relative file, first line)."""
    obj = resolve(ref)
    path = Path(inspect.getsourcefile(obj)).resolve()  # type: ignore[arg-type]
    line = inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    return path.relative_to(ROOT).as_posix(), line


def keys() -> list[str]:
    return [c.key for c in CONCEPTS]


def find(key: str) -> Concept:
    """The concept named ``key``; an unknown name suggests the closest ones."""
    for c in CONCEPTS:
        if c.key == key:
            return c
    close = difflib.get_close_matches(key, keys(), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(keys())}"
    raise KeyError(f"unknown concept {key!r}{hint}")


def short_test(node: str) -> str:
    """``parity_tests/test_dense.py::test_x`` -> ``test_dense.py::test_x``."""
    path, sep, name = node.partition("::")
    return Path(path).name + sep + name


def all_tests(c: Concept) -> tuple[str, ...]:
    """The registry's own parity test of ``c`` (``test_concept_parity[<key>-float64]`` and ``-float32``)
    followed by its extra test-file cases."""
    return (f"{PARITY_TEST}[{c.key}-*]", *c.tests)


def fast_objects(c: Concept) -> tuple[str, ...]:
    """The fast form's twins of the objects `dlfs show` pairs (``scratch.lstm:X`` -> ``scratch.fast.lstm:X``),
    those that have one (the book's teaching steps, ``conv_1d`` and the like, have none)."""
    out = []
    for ref in c.scratch_objects:
        module, _, name = ref.partition(":")
        fast = f"scratch.fast.{module.removeprefix('scratch.')}:{name}"
        try:
            locate(fast)
            out.append(fast)
        except (ImportError, AttributeError):
            continue
    return tuple(out) or ((c.fast,) if c.fast else c.scratch_objects)
