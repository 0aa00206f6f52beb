"""Every command the README shows runs as written.

The commands are read from the README itself: each ``sh`` code block (its lines run in order, in one working
directory: the second of the checkpoint example resumes the first) and each inline code span that starts like a
command (``dlfs ``, ``python -m ``, ``make ``, ``torchrun ``, ``.venv/bin/``). A usage synopsis
(``dlfs parity [CONCEPT ...] [--dtype ...]``) is checked without its optional ``[...]`` parts. The quick commands
run for real, in-process, in a temporary working directory (so ``runs/`` and ``site/`` land there) with a
temporary ``$DLFS_CACHE_DIR``; the ones that take minutes, serve, or write into the checkout are parsed by their own
``argparse`` parser (an experiment's, ``dlfs``'s, the benchmarks', the notebook builder's) and the files and
directories they name must exist; a ``make`` target must exist, and every command of its recipe is parsed the same
way. A command of a kind the test does not know fails it, so a new README command cannot go unchecked.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shlex
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
PREFIXES = ("dlfs ", "python -m ", "python notebooks/", "make ", "torchrun ", ".venv/bin/")

# `dlfs` commands run for real (seconds each); any other `dlfs` command is parsed only
RUN_DLFS = {("concepts",), ("show", "lstm"), ("show", "--stats"), ("run",), ("compare", "demo"),
            ("run", "regression", "--backend", "both"), ("site", "--out", "site")}
# experiment command lines run for real (the demo: seconds); the others are parsed only
RUN_EXPERIMENTS = {"demo"}


def readme_commands(text: str) -> list[tuple[str, ...]]:
    """The commands of the README in groups run in order: one per ``sh`` block, one per inline command."""
    groups: list[tuple[str, ...]] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()]  # comments after commands
        groups.append(tuple(line for line in lines if line))
    for span in re.findall(r"`([^`\n]+)`", text):
        span = span.replace("\\|", "|")
        if span.startswith(PREFIXES) or span in ("dlfs run", "dlfs compare"):
            groups.append((span,))
    return list(dict.fromkeys(groups))


def without_options(command: str) -> str:
    """A usage synopsis without its optional ``[...]`` parts: what runs as written."""
    while True:
        shorter = re.sub(r"\s*\[[^\[\]]*\]", "", command)
        if shorter == command:
            return command.strip()
        command = shorter


class Parsed(Exception):
    """Raised by the patched ``parse_args``: the command line parsed; nothing more runs."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__("parsed")
        self.namespace = namespace


def parse_only(main: Callable[[Sequence[str]], Any], argv: Sequence[str]) -> argparse.Namespace:
    """Run ``main(argv)`` until its parser has parsed ``argv``; a usage error fails (``SystemExit`` 2)."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        ns = original(self, args, namespace)
        ns.parser_prog = self.prog  # which parser took it (the experiment's own)
        raise Parsed(ns)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse_then_stop):
        try:
            main(list(argv))
        except Parsed as p:
            return p.namespace
        except SystemExit as e:
            pytest.fail(f"{list(argv)}: argparse refused it (exit {e.code})")
    pytest.fail(f"{list(argv)}: the command line was never parsed")


def check_named_paths(ns: argparse.Namespace, command: str) -> None:
    """The input files and directories a parsed command names exist (outputs need not)."""
    for key in ("data_dir", "text"):
        value = getattr(ns, key, None)
        if value is not None:
            assert (ROOT / value).exists(), f"{command}: --{key.replace('_', '-')} {value} does not exist"


def check_module(module: str, argv: list[str], command: str, run: bool) -> None:
    """``python -m MODULE ARGV``: an experiment or the benchmarks, parsed (or run, in the temporary cwd)."""
    name = module.removeprefix("experiments.")
    mod = importlib.import_module(module if module != "benchmarks" else "benchmarks.__main__")
    assert hasattr(mod, "main"), f"{command}: {module} has no main(argv)"
    if run:
        metrics = mod.main([*argv, "--no-progress"])
        assert isinstance(metrics, dict) and metrics, command
        return
    ns = parse_only(mod.main, argv)
    if module.startswith("experiments."):
        assert ns.parser_prog == f"python -m experiments.{name}", (command, ns)
    check_named_paths(ns, command)


def check_dlfs(argv: list[str], command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from study.cli import build_parser, main

    if tuple(argv) in RUN_DLFS:
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 0, f"{command}: exit {code}: {err[-2000:]}"
        assert out.strip(), f"{command}: printed nothing"
        return
    ns = build_parser().parse_args(argv)  # a usage error raises SystemExit and fails the test
    if argv and argv[0] in ("run", "compare") and ns.experiment:
        exp = importlib.import_module(f"experiments.{ns.experiment}")
        check_named_paths(parse_only(exp.main, list(ns.options)), command)


def make_targets() -> dict[str, list[str]]:
    """The Makefile's targets and their recipe lines."""
    targets: dict[str, list[str]] = {}
    current = None
    for line in MAKEFILE.read_text().splitlines():
        m = re.match(r"^([A-Za-z][\w-]*)\s*:(?!=)", line)
        if m:
            current = m.group(1)
            targets[current] = []
        elif line.startswith("\t") and current:
            targets[current].append(line.strip())
    return targets


def check_make(target: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    targets = make_targets()
    assert target in targets, f"{command}: no target {target!r} in the Makefile"
    for line in targets[target]:
        line = line.lstrip("@")
        m = re.search(r"\$\(BIN\)/python -m ([\w.]+)(.*)$", line)
        if m and m.group(1).startswith(("experiments.", "benchmarks")):
            check_module(m.group(1), shlex.split(m.group(2)), f"make {target}: {line}", run=False)
        m = re.search(r"\$\(BIN\)/python (notebooks/\S+)(.*)$", line)
        if m:
            check_command(f"python {m.group(1)}{m.group(2)}", capsys)
        m = re.search(r"\$\(BIN\)/dlfs (.*)$", line)
        if m:
            check_dlfs(shlex.split(m.group(1)), f"make {target}: {line}", capsys)


def check_command(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Check one README command; returns how ("ran", "parsed", "exists")."""
    words = shlex.split(without_options(command))
    if words[0].startswith(".venv/bin/"):
        assert (ROOT / words[0]).exists(), f"{command}: {words[0]} is not installed"
        words[0] = words[0].removeprefix(".venv/bin/")
    head = words[0]
    if head == "dlfs":
        check_dlfs(words[1:], command, capsys)
        return "ran" if tuple(words[1:]) in RUN_DLFS else "parsed"
    if head == "make":
        check_make(words[1], command, capsys)
        return "parsed"
    if head == "python" and words[1:] == ["-m", "study"]:  # the dlfs command's other name
        assert importlib.util.find_spec("study.__main__") is not None, command
        return "exists"
    if head == "python" and words[1] == "-m":
        name = words[2].removeprefix("experiments.")
        run = words[2].startswith("experiments.") and name in RUN_EXPERIMENTS
        check_module(words[2], words[3:], command, run)
        return "ran" if run else "parsed"
    if head == "python" and words[1].startswith("notebooks/"):
        spec = importlib.util.spec_from_file_location("notebook_build", ROOT / words[1])
        assert spec and spec.loader, command
        builder = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(builder)
        parse_only(builder.main, words[2:])
        return "parsed"
    if head == "torchrun":
        assert (ROOT / ".venv/bin/torchrun").exists(), command
        i = words.index("-m")
        check_module(words[i + 1], words[i + 2:], command, run=False)
        return "parsed"
    if head == "pip" and words[1] == "install":
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        assert (ROOT / words[words.index("-c") + 1]).is_file(), command
        extra = re.search(r"\[(\w+)\]", command)
        assert extra and extra.group(1) in extras, f"{command}: pyproject.toml has no extra {extra}"
        return "exists"
    if head == "jupyter":
        assert words[1] == "lab" and (ROOT / words[2]).is_dir(), command
        # the README installs it just before (`pip install -e '.[notebooks]'`); `make test` installs only the dev
        # extra, so a fresh checkout has no jupyter-lab: the extra must bring it
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        assert any(req.startswith("jupyterlab") for req in extras["notebooks"]), extras["notebooks"]
        return "exists"
    pytest.fail(f"the README shows a command this test does not know how to check: {command!r}")


GROUPS = readme_commands(README.read_text())
COMMANDS = [c for group in GROUPS for c in group]


def test_the_readme_shows_the_commands_this_test_checks():
    """The extraction finds what a reader sees (so an empty list cannot pass the test below)."""
    assert len(COMMANDS) >= 25, COMMANDS
    assert any(len(g) == 2 and "--resume" in g[1] for g in GROUPS)  # the checkpoint example, in order
    for expected in ("make demo", "make test", "dlfs run", "python -m experiments.demo",
                     "python -m experiments.regression --dataset boston",
                     "python -m experiments.char_lstm --cell lstm",
                     ".venv/bin/dlfs site --out site", "dlfs parity [CONCEPT ...] [--dtype float32|float64] [--json]",
                     "torchrun --nproc-per-node 2 -m experiments.cnn --backend torch --distributed --epochs 1"):
        assert expected in COMMANDS, expected
    assert without_options("dlfs parity [CONCEPT ...] [--dtype float32|float64] [--json]") == "dlfs parity"


@pytest.mark.parametrize("group", GROUPS, ids=[" && ".join(g)[:90] for g in GROUPS])
def test_readme_command_runs_as_written(group: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # runs/, site/ and any default output land here, never in the checkout
    monkeypatch.setenv("DLFS_CACHE_DIR", str(tmp_path / "cache"))
    for command in group:
        assert check_command(command, capsys) in ("ran", "parsed", "exists"), command


def test_a_wrong_command_fails_the_check(capsys, tmp_path, monkeypatch):
    """The checks can fail: a flag no experiment has, a missing make target, an unknown kind of command."""
    monkeypatch.chdir(tmp_path)
    for bad in ("python -m experiments.demo --no-such-flag", "make no-such-target", "dlfs no-such-command",
                "curl https://example.org"):
        with pytest.raises((pytest.fail.Exception, SystemExit, AssertionError)):
            check_command(bad, capsys)
