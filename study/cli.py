"""``dlfs``: the study tools, one command.

    dlfs concepts [--json] [--readme]         the concept map: book chapter, both sources (file:line), tests, errors
    dlfs show CONCEPT [--width N]             the scratch and the torch implementation side by side
    dlfs parity [CONCEPT ...] [--dtype D]     run the parity checks; prints errors against tolerances
    dlfs run EXPERIMENT [options]             python -m experiments.EXPERIMENT [options]
    dlfs compare EXPERIMENT [options]         run it with --backend both; print the per-epoch divergence

``main(argv)`` returns the exit status (0 fine, 1 a failed check or run, 2 bad usage) instead of exiting, so
tests call it in-process; the ``dlfs`` console script exits with it.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import inspect
import json
import os
import pkgutil
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study import concepts as reg
from study.concepts import ROOT


class UsageError(Exception):
    """Bad input on the command line: printed as ``dlfs: error: ...``, exit status 2."""


def _suggest(name: str, known: Sequence[str], what: str) -> UsageError:
    """An unknown-name error that suggests names containing it (``softmax``), then the closest spellings."""
    part = [k for k in known if name.lower() in k.lower()]
    close = (part + [k for k in difflib.get_close_matches(name, list(known), n=3, cutoff=0.5) if k not in part])[:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UsageError(f"unknown {what} {name!r}{hint} (known: {', '.join(known)})")


def _concept(key: str) -> reg.Concept:
    try:
        return reg.find(key)
    except KeyError:
        raise _suggest(key, [c.key for c in reg.CONCEPTS], "concept") from None


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    from experiments.common import format_table

    return format_table(headers, rows)


def _err(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


# --- dlfs concepts -------------------------------------------------------------------------------------------------

def _last_cell(last: dict[str, Any], dtype: str) -> str:
    r = last.get(dtype)
    if not r:
        return "-"
    return _err(r.get("max_rel")) if r.get("passed") else "FAIL"


def cmd_concepts(args: argparse.Namespace) -> int:
    if args.readme:  # the generated tables: README's concept table, docs/parity.md's tolerance table
        for path, update, what in ((args.readme_path, reg.update_readme, "concept table"),
                                   (args.parity_doc_path, reg.update_tolerance_doc, "tolerance table")):
            changed = update(Path(path))
            print(f"{path}: {what} {'rewritten' if changed else 'already up to date'}")
        return 0
    rows = reg.table_rows(reg.load_last_parity(Path(args.results)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = ["concept", "ch", "object", "scratch", "torch", "parity tests", "f64 rel err", "f32 rel err"]
    body = []
    for r in rows:
        s_obj, t_obj = (r[b]["object"].split(":")[1] for b in ("scratch", "torch"))
        tests = [reg.short_test(t) for t in r["tests"]]
        body.append([r["concept"], r["chapter"], s_obj if s_obj == t_obj else f"{s_obj} / {t_obj}",
                     f"{r['scratch']['file']}:{r['scratch']['line']}", f"{r['torch']['file']}:{r['torch']['line']}",
                     (tests[0] + (f" +{len(tests) - 1}" if len(tests) > 1 else "")) if tests else "-",
                     _last_cell(r["last_parity"], "float64"), _last_cell(r["last_parity"], "float32")])
    print(_table(headers, body))
    print(f"\n{len(rows)} concepts. Errors: the worst normwise relative error scratch vs torch of the last "
          f"`dlfs parity` ({Path(args.results).name}). `dlfs show CONCEPT` prints both sources side by side.")
    return 0


# --- dlfs show -----------------------------------------------------------------------------------------------------

def _token_lines(source: str) -> list[list[tuple[Any, str]]]:
    """The source as lines of (token type, text), highlighted by pygments' Python lexer when importable."""
    try:
        from pygments.lexers import PythonLexer

        tokens = list(PythonLexer(stripnl=False, ensurenl=False).get_tokens(source))
    except ImportError:  # plain text: one token of no type
        tokens = [(None, source)]
    lines: list[list[tuple[Any, str]]] = [[]]
    for ttype, text in tokens:
        for i, part in enumerate(text.split("\n")):
            if i:
                lines.append([])
            if part:
                lines[-1].append((ttype, part))
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _cuts(text: str, width: int) -> tuple[int, list[tuple[int, int]]]:
    """Where to cut ``text`` into pieces that fit ``width`` columns: at a space when one is in the second half of
    the piece, else hard. Returns the indent of the continuation pieces (past the line's own indentation, so a
    wrapped line reads as one) and the (start, end) of every piece."""
    indent = min(len(text) - len(text.lstrip(" ")) + 4, width // 2)
    cuts, start, room = [], 0, width
    while len(text) - start > room:
        cut = text.rfind(" ", start + room // 2, start + room)
        end = cut + 1 if cut > start else start + room
        cuts.append((start, end))
        start, room = end, width - indent
    cuts.append((start, len(text)))
    return indent, cuts


def _slice(line: list[tuple[Any, str]], a: int, b: int) -> list[tuple[Any, str]]:
    """The tokens of ``line`` covering characters [a, b)."""
    out, pos = [], 0
    for ttype, text in line:
        lo, hi = max(a - pos, 0), min(b - pos, len(text))
        if lo < hi:
            out.append((ttype, text[lo:hi]))
        pos += len(text)
    return out


def _render(chunk: list[tuple[Any, str]], width: int, color: bool) -> str:
    plain = "".join(t for _, t in chunk)
    if color and chunk:
        from pygments import format as pyg_format
        from pygments.formatters import TerminalFormatter

        text = pyg_format(chunk, TerminalFormatter())
    else:
        text = plain
    return text + " " * (width - len(plain))


def _blocks(obj_ref: str, width: int, color: bool) -> tuple[list[str], list[list[str]]]:
    """One side: the object's source lines (plain, for alignment) and per line its rows (``lineno source``,
    wrapped to ``width`` columns)."""
    obj = reg.resolve(obj_ref)
    source_lines, first = inspect.getsourcelines(obj)  # type: ignore[arg-type]
    source = "".join(source_lines).expandtabs(4)
    gutter = len(str(first + len(source_lines))) + 1
    room = max(width - gutter, 10)
    texts, blocks = [], []
    for i, line in enumerate(_token_lines(source)):
        text = "".join(t for _, t in line)
        indent, cuts = _cuts(text, room)
        rows = []
        for j, (a, b) in enumerate(cuts):
            head = f"{first + i}".rjust(gutter - 1) + " " if j == 0 else " " * (gutter + indent)
            rows.append(head + _render(_slice(line, a, b), room - len(head) + gutter, color))
        texts.append(text.strip())
        blocks.append(rows)
    return texts, blocks


def side_by_side(left_ref: str, right_ref: str, width: int, color: bool) -> str:
    """The two objects' sources in two columns of ``(width - 3) // 2`` characters, separated by `` | ``.

    Lines are aligned as a diff aligns them (``difflib``): a line both sides share sits on one row, a line only
    one side has faces a blank."""
    col = max((width - 3) // 2, 30)
    (lt, left), (rt, right) = _blocks(left_ref, col, color), _blocks(right_ref, col, color)
    blank = " " * col
    pairs: list[tuple[list[str], list[str]]] = []
    for _, i1, i2, j1, j2 in difflib.SequenceMatcher(None, lt, rt, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):  # equal: pairs; replace: side by side; insert/delete: one side
            pairs.append((left[i1 + k] if i1 + k < i2 else [], right[j1 + k] if j1 + k < j2 else []))
    rows = []
    for lb, rb in pairs:
        for i in range(max(len(lb), len(rb))):
            rows.append(((lb[i] if i < len(lb) else blank) + " | " + (rb[i] if i < len(rb) else "")).rstrip())
    return "\n".join(rows)


def cmd_show(args: argparse.Namespace) -> int:
    from dlfs.tolerances import TOLERANCES, tolerance

    c = _concept(args.concept)
    width = args.width or shutil.get_terminal_size((160, 40)).columns
    color = sys.stdout.isatty() if args.color == "auto" else args.color == "always"
    if color:
        try:
            import pygments  # noqa: F401
        except ImportError:
            color = False
    col = max((width - 3) // 2, 30)
    width = 2 * col + 3

    def say(text: str) -> None:  # prose lines wrap to the same width as the two columns
        print(textwrap.fill(text, width, subsequent_indent="    ", break_on_hyphens=False))

    (sf, sl), (tf, tl) = reg.locate(c.scratch), reg.locate(c.torch)
    say(f"{c.key}: {c.title} (chapter {c.chapter})")
    print(f"{'scratch  ' + c.scratch + '  ' + sf + ':' + str(sl):{col}.{col}} | "
          f"{'torch  ' + c.torch + '  ' + tf + ':' + str(tl):.{col}}")
    print("-" * col + "-+-" + "-" * col)
    print(side_by_side(c.scratch, c.torch, width, color))
    print("-" * col + "-+-" + "-" * col)
    say(f"weight conversion: {c.conversion}")
    for dtype in ("float64", "float32"):
        t = tolerance(c.tolerance_op, dtype)
        op = c.tolerance_op if (c.tolerance_op, dtype) in TOLERANCES else "default"
        say(f"tolerance {dtype} ({op!r} in dlfs/tolerances.py): rtol={t.rtol:.0e} atol={t.atol:.0e} -- {t.why}")
    last = reg.load_last_parity().get(c.key, {})
    achieved = ", ".join(f"{d} {_last_cell(last, d)}" for d in ("float64", "float32") if d in last)
    say(f"last `dlfs parity {c.key}` (max rel error): {achieved or 'not run yet'}")
    say(f"parity tests: {', '.join(c.tests) or '-'}")
    docs = [c.doc_page, "docs/conventions.md", "docs/parity.md"]
    say("docs: " + ", ".join(d + ("" if (ROOT / d).exists() else " (not written yet)") for d in docs))
    return 0


# --- dlfs parity ---------------------------------------------------------------------------------------------------

def cmd_parity(args: argparse.Namespace) -> int:
    from study import parity_suite

    keys = [_concept(k).key for k in args.concepts] or [c.key for c in reg.CONCEPTS]
    missing = [k for k in keys if k not in parity_suite.CHECKS]
    if missing:
        raise UsageError(f"no parity check registered for {', '.join(missing)} (study/parity_suite.py)")
    dtypes = [args.dtype] if args.dtype else list(parity_suite.DTYPES)
    outcomes = [parity_suite.run(k, d) for k in keys for d in dtypes]
    if not args.no_save:
        reg.save_last_parity({k: {o.dtype: o.summary() for o in outcomes if o.concept == k} for k in keys},
                             Path(args.results))
    failed = [o for o in outcomes if not o.passed]
    if args.json:
        print(json.dumps([{"concept": o.concept, "dtype": o.dtype, "passed": o.passed, "error": o.error,
                           "seconds": o.seconds, "rows": o.rows()} for o in outcomes], indent=2))
        return 1 if failed else 0
    headers = ["concept", "dtype", "check", "quantity", "max abs", "max rel", "rtol", "atol", "status"]
    rows = []
    for o in outcomes:
        for r in o.rows():
            rows.append([o.concept, o.dtype, r["check"], r["quantity"], _err(r["max_abs"]), _err(r["max_rel"]),
                         f"{r['rtol']:.0e}", f"{r['atol']:.0e}", "ok"])
        if not o.passed:
            rows.append([o.concept, o.dtype, "-", "-", "-", "-", "-", "-", "FAIL"])
    print(_table(headers, rows))
    for o in failed:
        print(f"\nFAIL {o.concept} [{o.dtype}]: {o.error}")
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} checks passed "
          f"({len(keys)} concepts x {len(dtypes)} dtypes, {sum(o.seconds for o in outcomes):.1f} s)"
          + ("" if args.no_save else f"; results in {args.results}"))
    return 1 if failed else 0


# --- dlfs run / dlfs compare ---------------------------------------------------------------------------------------

def experiment_names() -> list[str]:
    """The runnable experiments: the modules of the ``experiments`` package, but its shared helpers."""
    import experiments

    return sorted(m.name for m in pkgutil.iter_modules(experiments.__path__)
                  if not m.name.startswith("_") and m.name != "common")


def _run_experiment(name: str, argv: list[str]) -> dict[str, Any] | int:
    """``experiments.<name>.main(argv)``; an exit inside it (``--help``, a refused ``--out``) becomes a status."""
    known = experiment_names()
    if name not in known:
        raise _suggest(name, known, "experiment")
    module = importlib.import_module(f"experiments.{name}")
    if not hasattr(module, "main"):
        raise UsageError(f"experiments.{name} has no main(argv)")
    try:
        return module.main(argv)
    except SystemExit as e:
        if isinstance(e.code, str):  # prepare_out's refusals: "error: --out ... exists and is not empty ..."
            print(f"dlfs {name}: {e.code}", file=sys.stderr)
            return 1
        return int(e.code or 0)
    except (ValueError, OSError) as e:  # bad data or arguments (a missing dataset says how to get it): no traceback
        print(f"dlfs {name}: error: {e}", file=sys.stderr)
        return 1


def cmd_run(args: argparse.Namespace) -> int:
    result = _run_experiment(args.experiment, list(args.options))
    return result if isinstance(result, int) else 0


def _is_history(d: Any) -> bool:
    return isinstance(d, dict) and isinstance(d.get("train_loss"), list)


def paired_histories(metrics: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Every pair of per-epoch histories (``History.to_dict()``) the two backends report at the same place in an
    experiment's metrics: ``metrics[...]["scratch"][...]`` beside ``metrics[...]["torch"][...]``.

    Returns ``{label: (scratch_history, torch_history)}``; the label is the path without ``history`` (a list
    item is named by its ``"key"``, as the ladder's rungs are, else by its index).
    """
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def pairs(a: Any, b: Any, path: tuple[str, ...]) -> None:
        if _is_history(a) and _is_history(b):
            found["/".join(p for p in path if p != "history") or "loss"] = (a, b)
        elif isinstance(a, dict) and isinstance(b, dict):
            for k in a:
                if k in b:
                    pairs(a[k], b[k], (*path, str(k)))

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, list):  # e.g. the ladder's rungs: named by their "key" when they have one
            for i, item in enumerate(node):
                walk(item, (*path, str(item.get("key", i)) if isinstance(item, dict) else str(i)))
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("scratch"), dict) and isinstance(node.get("torch"), dict):
            pairs(node["scratch"], node["torch"], path)
        for k, v in node.items():
            if k not in ("scratch", "torch"):
                walk(v, (*path, str(k)))

    walk(metrics, ())
    heads = {k.split("/")[0] for k in found}
    if len(heads) == 1 and all("/" in k for k in found):  # "rungs/mse", "rungs/momentum": say "mse", "momentum"
        found = {k.split("/", 1)[1]: v for k, v in found.items()}
    return found


def divergence(metrics: dict[str, Any]) -> dict[str, Any]:
    """Per epoch, ``|scratch - torch|`` of every paired series: training loss (every epoch), validation loss
    (evaluated epochs), learning rate."""
    import numpy as np

    out: dict[str, Any] = {}
    for label, (hs, ht) in paired_histories(metrics).items():
        series = {}
        for key in ("train_loss", "val_loss", "lr"):
            a, b = hs.get(key) or [], ht.get(key) or []
            n = min(len(a), len(b))
            if n == 0:
                continue
            # validation losses are recorded at the evaluated epochs (History) or steps (char_lstm)
            at = (hs.get("eval_epochs") or hs.get("val_steps") or []) if key == "val_loss" else []
            epochs = list(at[:n]) if at else list(range(1, n + 1))
            if len(epochs) != n:
                epochs = list(range(1, n + 1))
            diff = np.abs(np.asarray(a[:n], dtype=float) - np.asarray(b[:n], dtype=float))
            series[key] = {"epochs": epochs, "scratch": a[:n], "torch": b[:n], "abs_diff": diff.tolist(),
                           "max_abs_diff": float(diff.max())}
        out[label] = series
    return out


def divergence_table(div: dict[str, Any], max_rows: int = 200) -> tuple[list[str], list[list[Any]]]:
    """One row per epoch. With one or two paired runs, one column per series (the learning rate only where the two
    differ); with more (the ladder's rungs), one column per run holding the largest of its series at that epoch,
    so the table stays readable. Beyond ``max_rows`` epochs only the evaluated ones (and the first and last) are
    shown."""
    per_series = len(div) <= 2
    cols = [(label, [key for key in series if key != "lr" or series[key]["max_abs_diff"] > 0] if per_series
             else list(series)) for label, series in div.items()]
    if per_series:
        cols = [(label, [key]) for label, keys in cols for key in keys]
    epochs = sorted({e for label, keys in cols for key in keys for e in div[label][key]["epochs"]})
    if per_series:
        headers = ["epoch", *[f"{label} {keys[0]}" if label != "loss" else keys[0] for label, keys in cols]]
    else:
        headers = ["epoch", *[label for label, _ in cols]]
    if len(epochs) > max_rows:  # e.g. a loss per step: keep the evaluated ones, the first and the last
        evaluated = {e for label, keys in cols for key in keys if key == "val_loss" for e in div[label][key]["epochs"]}
        epochs = [e for i, e in enumerate(epochs) if e in evaluated or i in (0, len(epochs) - 1)][:max_rows]
    rows = []
    for e in epochs:
        row: list[Any] = [e]
        for label, keys in cols:
            vals = [div[label][k]["abs_diff"][div[label][k]["epochs"].index(e)] for k in keys
                    if e in div[label][k]["epochs"]]
            row.append(_err(max(vals)) if vals else "")
        rows.append(row)
    return headers, rows


def _option(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def cmd_compare(args: argparse.Namespace) -> int:
    from experiments.common import default_out

    argv = list(args.options)
    if "-h" in argv or "--help" in argv:
        return cmd_run(args)
    backend = _option(argv, "--backend")
    if backend not in (None, "both"):
        raise UsageError(f"compare trains both backends; got --backend {backend} (leave --backend out, or use "
                         f"`dlfs run {args.experiment} --backend {backend}`)")
    if args.experiment not in experiment_names():
        raise _suggest(args.experiment, experiment_names(), "experiment")
    out = _option(argv, "--out")
    if out is None:
        out = str(default_out(args.experiment))
        argv += ["--out", out]
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        metrics = _run_experiment(args.experiment, [*argv, "--backend", "both"])  # --json: stdout is JSON only
    if isinstance(metrics, int):
        return metrics
    div = divergence(metrics)
    if not div:
        print(f"dlfs compare: experiments.{args.experiment} reports no per-epoch histories per backend "
              f"(metrics[...]['scratch'|'torch'][...]['train_loss']); nothing to compare", file=sys.stderr)
        return 1
    from dlfs.io import save_json

    save_json(Path(out) / "divergence.json", div)
    if args.json:
        print(json.dumps(div, indent=2))
        return 0
    headers, rows = divergence_table(div)
    what = "" if len(div) <= 2 else " (per run: the largest of its training loss, validation loss and lr)"
    print(f"\nPer-epoch divergence |scratch - torch| ({args.experiment}, both backends from the same weights){what}:")
    print(_table(headers, rows))
    worst = max(s["max_abs_diff"] for series in div.values() for s in series.values())
    print(f"largest: {worst:.2e}; every value in {Path(out) / 'divergence.json'}")
    return 0


# --- the parser ----------------------------------------------------------------------------------------------------

def _positive_width(s: str) -> int:
    """``--width``: a positive number of columns (0 or less used to fall back silently to the minimum)."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of columns, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of columns, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dlfs", description="Deep Learning from Scratch, twice: study the NumPy and the PyTorch implementation "
        "of every concept side by side, check that they agree, and run the book's experiments.",
        epilog="Every subcommand takes --help. Docs: docs/conventions.md (where the book, scratch and PyTorch "
        "differ), docs/parity.md (how agreement is measured).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    results_help = "the last-results file of `dlfs parity` (default: parity_tests/last_parity.json)"

    c = sub.add_parser("concepts", help="the concept map: chapter, both sources (file:line), tests, last errors",
                       description="The concept map, generated from the registry (study/concepts.py) with inspect: "
                       "for each concept its book chapter, the scratch and the torch object with file:line, its "
                       "parity tests, and the worst relative error scratch vs torch of the last `dlfs parity`.")
    c.add_argument("--json", action="store_true", help="print the table as JSON")
    c.add_argument("--readme", action="store_true",
                   help="rewrite the generated tables instead of printing: the concept table in README.md and the "
                   "tolerance table in docs/parity.md (between their markers)")
    c.add_argument("--readme-path", default=str(ROOT / "README.md"), help=argparse.SUPPRESS)
    c.add_argument("--parity-doc-path", default=str(reg.PARITY_DOC), help=argparse.SUPPRESS)
    c.add_argument("--results", default=str(reg.LAST_PARITY), help=results_help)
    c.set_defaults(func=cmd_concepts)

    s = sub.add_parser("show", help="the scratch and torch implementations of a concept side by side",
                       description="Print the scratch (left) and torch (right) source of a concept side by side, "
                       "with the weight conversion between them, the tolerance they are held to, and its docs.")
    s.add_argument("concept", help="a concept name from `dlfs concepts`, e.g. dense")
    s.add_argument("--width", type=_positive_width, default=None,
                   help="total width in columns (default: the terminal's)")
    s.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="syntax highlighting (pygments); auto: when stdout is a terminal")
    s.set_defaults(func=cmd_show)

    r = sub.add_parser("parity", help="run the parity checks and print errors against tolerances",
                       description="Run each concept's parity check (study/parity_suite.py) in float64 and float32 "
                       "and print, per concept, the forward / input-gradient / parameter-gradient max abs and rel "
                       "errors against their tolerances. Exit status 1 when any check fails.")
    r.add_argument("concepts", nargs="*", metavar="CONCEPT", help="concepts to check (default: all)")
    r.add_argument("--dtype", choices=("float32", "float64"), default=None, help="one dtype only (default: both)")
    r.add_argument("--json", action="store_true", help="print the results as JSON")
    r.add_argument("--results", default=str(reg.LAST_PARITY), help=results_help)
    r.add_argument("--no-save", action="store_true", help="do not record the results")
    r.set_defaults(func=cmd_parity)

    for name, func, text in (
            ("run", cmd_run, "run an experiment: its options are forwarded to experiments.EXPERIMENT.main"),
            ("compare", cmd_compare, "run an experiment with --backend both and print the per-epoch divergence")):
        e = sub.add_parser(name, help=text, description=text + ". `dlfs " + name + " EXPERIMENT --help` lists the "
                           "experiment's options. Experiments: " + ", ".join(experiment_names()) + ".")
        if name == "compare":
            e.add_argument("--json", action="store_true", help="print the divergence as JSON")
        e.add_argument("experiment", metavar="EXPERIMENT", help="an experiment module, e.g. demo or regression")
        e.add_argument("options", nargs=argparse.REMAINDER, help="options for the experiment")
        e.set_defaults(func=func)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dlfs`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2, already printed)
        return int(e.code or 0)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"dlfs: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `dlfs show lstm | head`: the reader left; say nothing more (Python docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
