"""The layers of the house, read from the code's own imports: the ``dlfs`` core stands on nothing above it,
the backends never on each other, the experiments never on the study tools; and no source module is over
400 lines. Every import counts, top-level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dlfs", "scratch", "torch_impl", "experiments", "benchmarks", "study")
# what each package may import of the others (and of torch)
ALLOWED = {
    "dlfs": set(),
    "scratch": {"dlfs"},
    "torch_impl": {"dlfs", "torch", "torchvision"},  # torchvision: datasets, transforms, make_grid (vision.py)
    "experiments": {"dlfs", "scratch", "torch_impl", "torch"},
    "benchmarks": {"dlfs", "scratch", "torch_impl", "torch"},
    "study": {"dlfs", "scratch", "torch_impl", "torch", "experiments"},
}


def _imports(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_stands_below_it(package):
    watched = set(PACKAGES) | {"torch", "torchvision"}
    for path in _sources(package):
        bad = (_imports(path) & watched) - ALLOWED[package] - {package}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_source_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for pkg in PACKAGES for p in _sources(pkg)
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
