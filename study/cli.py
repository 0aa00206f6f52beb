"""``dlfs``: the study tools, one command.

    dlfs concepts [--json]                    the concept map: chapter, every form's source (file:line), tests
    dlfs show CONCEPT [--fast] [--full]       the book form beside the torch form, method by method
    dlfs show --stats [CONCEPT ...]           how much of what `dlfs show` prints appears on both sides
    dlfs parity [CONCEPT ...] [--dtype D]     run the parity checks; prints errors against tolerances
    dlfs regenerate [--check]                 rewrite the generated tables and the committed parity record
    dlfs site --out DIR [--serve]             the study site: every concept's two forms in the browser
    dlfs run EXPERIMENT [options]             python -m experiments.EXPERIMENT [options]; no EXPERIMENT: the list
    dlfs compare EXPERIMENT [options]         run it with --backend both; print the per-epoch divergence

Only `dlfs regenerate` writes into the checkout; `dlfs parity` keeps its results in the user's cache
(``study/results.py``). ``main(argv)`` returns the exit status (0 fine, 1 a failed check or run, 2 bad usage)
instead of exiting, so tests call it in-process; the ``dlfs`` console script exits with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study import results
from study.compare import (  # noqa: F401  (paired_histories, divergence: the API of dlfs compare)
    cmd_compare,
    cmd_run,
    divergence,
    experiment_names,
    experiment_summary,
    paired_histories,
    with_experiment_list,
)
from study.concepts import CONCEPTS, ROOT, all_tests, doc_page, fast_objects, find, keys, locate, short_test
from study.spec import DTYPES, Concept
from study.usage import UsageError, check_writable_file, suggest


def _concept(key: str) -> Concept:
    try:
        return find(key)
    except KeyError:
        raise suggest(key, keys(), "concept") from None


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    from study.tables import format_table

    return format_table(headers, rows)


def _err(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


def _last_cell(last: dict[str, Any], dtype: str) -> str:
    r = last.get(dtype)
    if not r:
        return "-"
    return _err(r.get("max_rel")) if r.get("passed") else "FAIL"


def _where(ref: str | None) -> str:
    if ref is None:
        return "same"
    file, line = locate(ref)
    return f"{file}:{line}"


# --- dlfs concepts -------------------------------------------------------------------------------------------

def concept_rows(last: dict[str, Any]) -> list[dict[str, Any]]:
    """The concept map, one dict per concept: the registry, file:line from ``inspect``, the last parity."""
    rows = []
    for c in CONCEPTS:
        forms = {}
        for form, ref in (("scratch", c.scratch), ("fast", c.fast), ("torch", c.torch)):
            if ref is not None:
                file, line = locate(ref)
                forms[form] = {"object": ref, "file": file, "line": line}
        rows.append({"concept": c.key, "title": c.title, "chapter": c.chapter, **forms,
                     "fast_is_book": c.fast is None, "tests": list(all_tests(c)), "doc": doc_page(c),
                     "tolerance_ops": sorted({s.op for s in c.specs}), "conversion": c.conversion,
                     "last_parity": last.get(c.key, {})})
    return rows


def cmd_concepts(args: argparse.Namespace) -> int:
    last, source = results.latest(args.results)
    rows = concept_rows(last)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = ["concept", "ch", "book form (scratch)", "fast form", "torch", "tests", "f64 err", "f32 err"]
    body = []
    for c, r in zip(CONCEPTS, rows):
        extra = f" +{len(c.tests)}" if c.tests else ""
        body.append([c.key, c.chapter, _where(c.scratch), _where(c.fast), _where(c.torch),
                     f"test_concepts.py[{c.key}]{extra}", _last_cell(r["last_parity"], "float64"),
                     _last_cell(r["last_parity"], "float32")])
    print(_table(headers, body))
    print(f"\n{len(rows)} concepts. Errors: the worst normwise relative error between the forms, from "
          f"{source}. `dlfs show CONCEPT` prints the book form beside the torch form.")
    return 0


# --- dlfs show -----------------------------------------------------------------------------------------------

def _show_stats(concepts: list[Concept], width: int) -> int:
    from study.show import render, whole_object

    rows = []
    for c in concepts:
        if c.shared:  # printed once, whole: nothing on two sides
            shown = sum(1 for line in whole_object(c.scratch, width)[1:] if line.strip()[4:].strip())
            rows.append([c.key, "shared", shown, 0, "0.0%", 0, "-"])
            continue
        for form, refs in (("book", c.scratch_objects), ("fast", fast_objects(c) if c.fast else None)):
            if refs is None:
                continue
            s = render(refs, c.torch_objects, width).stats
            rows.append([c.key, form, s.shown, s.twice, f"{100 * s.share:.1f}%", s.said_once,
                         f"{100 * s.share_before:.1f}%"])
    print(_table(["concept", "form", "lines shown", "shown twice", "share", "said once", "before folding"],
                 rows))
    worst = max(rows, key=lambda r: float(r[4][:-1]))
    print(f"\nshown twice: source lines printed identically on both sides (counted on each); said once: "
          f"identical lines folded into one row. Width {width}. Largest share: {worst[0]} ({worst[1]}) "
          f"{worst[4]}.")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from dlfs.tolerances import TOLERANCES, tolerance
    from study.show import equations, render, whole_files, whole_object

    width = args.width or shutil.get_terminal_size((160, 40)).columns
    if args.stats:
        return _show_stats([_concept(k) for k in args.concept] or CONCEPTS, width)
    if len(args.concept) != 1:
        raise UsageError("show: expected one concept (or --stats with any number)")
    c = _concept(args.concept[0])

    def say(text: str) -> None:  # prose wraps to the width
        print(textwrap.fill(text, width, subsequent_indent="    ", break_on_hyphens=False))

    scratch_refs = fast_objects(c) if args.fast and c.fast else c.scratch_objects
    form = "fast form" if args.fast and c.fast else "book form"
    say(f"{c.key}: {c.title} (chapter {c.chapter})")
    if not c.shared:
        say(f"left: the scratch {form} ({', '.join(r.split(':')[1] for r in scratch_refs)}, "
            f"{locate(scratch_refs[0])[0]}); right: torch ({', '.join(r.split(':')[1] for r in c.torch_objects)}"
            f", {locate(c.torch_objects[0])[0]})")
    if c.shared:
        say(f"one implementation, {_where(c.scratch)}, which both backends' Trainers run (dlfs/fit.py)")
    elif c.fast and not args.fast:
        say(f"fast form, which training uses: {_where(c.fast)} (`dlfs show {c.key} --fast`)")
    else:
        say("fast form: the same code (the book form is what training runs)")
    eqs = equations(c.scratch_objects)
    if eqs:
        print("\nequations (from the docstrings):")
        for line in eqs:
            print(textwrap.shorten(line, width, placeholder=" ...") if len(line) > width else line)
    print()
    if args.full:
        files = (locate(scratch_refs[0])[0], locate(c.torch_objects[0])[0])
        print(f"{files[0]:{(width - 3) // 2}} | {files[1]}")
        print("\n".join(whole_files(*files, width)))
    else:
        color = sys.stdout.isatty() if args.color == "auto" else args.color == "always"
        print("\n".join(render(scratch_refs, c.torch_objects, width, color).stats.rows if not c.shared
                        else whole_object(c.scratch, width)))
    print("-" * width)
    say(f"weight conversion: {c.conversion}")
    for op in sorted({s.op for s in c.specs}):
        for dtype in DTYPES:
            t = tolerance(op, dtype)
            row = op if (op, dtype) in TOLERANCES else "default"
            say(f"tolerance {dtype} ({row!r} in dlfs/tolerances.py): rtol={t.rtol:.0e} atol={t.atol:.0e} -- "
                f"{t.why}")
    last, source = results.latest()
    achieved = ", ".join(f"{d} {_last_cell(last.get(c.key, {}), d)}" for d in DTYPES
                         if d in last.get(c.key, {}))
    say(f"last parity (max rel error, {Path(source).name}): {achieved or 'not run yet'}")
    say(f"parity tests: {', '.join(short_test(t) for t in all_tests(c))}")
    docs = [doc_page(c), "docs/conventions.md", "docs/parity.md"]
    say("docs: " + ", ".join(d + ("" if (ROOT / d).exists() else " (not written yet)") for d in docs))
    return 0


# --- dlfs parity, dlfs regenerate ----------------------------------------------------------------------------

def cmd_parity(args: argparse.Namespace) -> int:
    from study.runner import run

    chosen = [_concept(k).key for k in args.concepts] or keys()
    dtypes = [args.dtype] if args.dtype else list(DTYPES)
    target = Path(args.results) if args.results else results.cache_path()
    if not args.no_save:  # refuse a path that cannot take the results before the checks run, not after
        _check_results_target(target, "--results" if args.results else "the results file")
    outcomes = [run(k, d) for k in chosen for d in dtypes]
    save_error = None
    if not args.no_save:
        try:
            results.merge({k: {o.dtype: o.summary() for o in outcomes if o.concept == k} for k in chosen}, target)
        except OSError as e:  # the disk filled up or the path went away during the checks: print them anyway
            save_error = f"the results were not saved to {str(target)!r}: {e.strerror or e}"
    failed = [o for o in outcomes if not o.passed]
    if args.json:
        print(json.dumps([{"concept": o.concept, "dtype": o.dtype, "passed": o.passed, "error": o.error,
                           "seconds": o.seconds, "rows": o.rows()} for o in outcomes], indent=2))
        if save_error:
            print(f"dlfs parity: error: {save_error}", file=sys.stderr)
        return 1 if failed or save_error else 0
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
          f"({len(chosen)} concepts x {len(dtypes)} dtypes, {sum(o.seconds for o in outcomes):.1f} s)"
          + ("" if args.no_save or save_error else f"; results in {target}"))
    if save_error:
        print(f"dlfs parity: error: {save_error}", file=sys.stderr)
    return 1 if failed or save_error else 0


def _check_results_target(target: Path, flag: str) -> None:
    """``dlfs parity``'s results file must be writable and, when it exists, a results file (merged into)."""
    check_writable_file(target, flag)
    if target.exists():
        try:
            existing = results.load(target)
        except (ValueError, UnicodeDecodeError) as e:  # the loader's message names the path and what it is not
            raise UsageError(f"{flag}: {e}") from None
        if not isinstance(existing, dict):
            raise UsageError(f"{flag} {str(target)!r} is not a parity results file (JSON holding "
                             f"{type(existing).__name__}, expected an object {{concept: {{dtype: ...}}}}); give "
                             f"another path or delete it")


def cmd_regenerate(args: argparse.Namespace) -> int:
    from study import tables
    from study.runner import run

    if args.check:
        record = results.load(results.RECORD)
        problems = [f"{p.relative_to(ROOT)} is stale" for p in tables.stale(record)]
        missing = [k for k in keys() if set(record.get(k, {})) != set(DTYPES)]
        if missing:
            problems.append(f"{results.RECORD.relative_to(ROOT)} lacks {', '.join(missing)}")
        for p in problems:
            print(f"dlfs regenerate --check: {p}", file=sys.stderr)
        if not problems:
            print("the generated tables and the parity record are current")
        return 1 if problems else 0
    outcomes = [run(k, d) for k in keys() for d in DTYPES]
    failed = [o for o in outcomes if not o.passed]
    if failed:
        for o in failed:
            print(f"FAIL {o.concept} [{o.dtype}]: {o.error}", file=sys.stderr)
        print("dlfs regenerate: not written (a parity check failed)", file=sys.stderr)
        return 1
    record = {k: {o.dtype: o.summary() for o in outcomes if o.concept == k} for k in keys()}
    results.write_record(record)
    record = results.load(results.RECORD)
    changed = tables.rewrite(record)
    print(f"{results.RECORD.relative_to(ROOT)}: {len(outcomes)} checks recorded")
    for p in (tables.README, tables.PARITY_DOC):
        print(f"{p.relative_to(ROOT)}: {'rewritten' if p in changed else 'already up to date'}")
    return 0


# --- the parser ----------------------------------------------------------------------------------------------

def _positive_width(s: str) -> int:
    """``--width``: a positive number of columns."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of columns, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of columns, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dlfs", description="Deep Learning from Scratch, twice: study the NumPy and the PyTorch "
        "implementation of every concept side by side, check that they agree, and run the book's experiments.",
        epilog="Every subcommand takes --help. Docs: docs/conventions.md (where the book, scratch and PyTorch "
        "differ), docs/parity.md (how agreement is measured).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    results_help = f"a parity results file (default: the last `dlfs parity` in {results.cache_path()}, else " \
                   f"the committed record {results.RECORD.relative_to(ROOT)})"

    c = sub.add_parser("concepts", help="the concept map: chapter, every form's source (file:line), tests",
                       description="The concept map, generated from the registry (study/chapters/) with "
                       "inspect: for each concept its book chapter, the scratch book form, the fast form where "
                       "it differs, the torch form (file:line), its tests, and the worst relative error "
                       "between the forms in the last parity run.")
    c.add_argument("--json", action="store_true", help="print the table as JSON")
    c.add_argument("--results", default=None, help=results_help)
    c.set_defaults(func=cmd_concepts)

    s = sub.add_parser("show", help="a concept's book form beside its torch form, method by method",
                       description="Print a concept's scratch book form (left) and torch form (right) method "
                       "by method (forward with forward, backward with the torch side's autograd), with the "
                       "equations, the weight conversion, the tolerance and its docs. Lines the two sides "
                       "share are said once.")
    s.add_argument("concept", nargs="*", help="a concept name from `dlfs concepts`, e.g. dense")
    s.add_argument("--fast", action="store_true", help="the fast form (what training runs) on the left")
    s.add_argument("--full", action="store_true", help="the two whole files side by side instead")
    s.add_argument("--stats", action="store_true",
                   help="measure instead of printing: per concept, the share of printed lines that appear "
                   "identically on both sides (all concepts when none is named)")
    s.add_argument("--width", type=_positive_width, default=None,
                   help="total width in columns (default: the terminal's)")
    s.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="syntax highlighting (pygments); auto: when stdout is a terminal")
    s.set_defaults(func=cmd_show)

    r = sub.add_parser("parity", help="run the parity checks and print errors against tolerances",
                       description="Run each concept's parity specification (the registry's, the same the "
                       "test suite runs) in float64 and float32 and print the forward / input-gradient / "
                       "parameter-gradient max abs and rel errors against their tolerances. Results go to the "
                       "user's cache (never into the checkout). Exit status 1 when any check fails.")
    r.add_argument("concepts", nargs="*", metavar="CONCEPT", help="concepts to check (default: all)")
    r.add_argument("--dtype", choices=("float32", "float64"), default=None, help="one dtype only (default: both)")
    r.add_argument("--json", action="store_true", help="print the results as JSON")
    r.add_argument("--results", default=None, help=f"where to record the results (default: "
                   f"{results.cache_path()})")
    r.add_argument("--no-save", action="store_true", help="do not record the results")
    r.set_defaults(func=cmd_parity)

    g = sub.add_parser("regenerate", help="rewrite the README's concept table, docs/parity.md's tolerance "
                       "table and the committed parity record",
                       description="Run every concept's parity check and rewrite what is generated from "
                       "the registry: docs/parity_results.json (no timestamps), the concept table in "
                       "README.md and the tolerance table in docs/parity.md. The only dlfs command that "
                       "writes into the checkout.")
    g.add_argument("--check", action="store_true", help="say whether they are current; write nothing")
    g.set_defaults(func=cmd_regenerate)

    from study.site.command import add_parser as add_site_parser

    add_site_parser(sub)

    for name, func, text in (
            ("run", cmd_run, "run an experiment: its options are forwarded to experiments.EXPERIMENT.main"),
            ("compare", cmd_compare, "run an experiment with --backend both and print the per-epoch "
             "divergence")):
        e = sub.add_parser(name, help=text, description=text + ". `dlfs " + name + " EXPERIMENT --help` lists "
                           "the experiment's options. Experiments: " + ", ".join(experiment_names()) + ".")
        if name == "compare":
            e.add_argument("--json", action="store_true", help="print the divergence as JSON")
        e.add_argument("experiment", metavar="EXPERIMENT", nargs="?", default=None,
                       help="an experiment module, e.g. demo or regression (none: list them)")
        e.add_argument("options", nargs=argparse.REMAINDER, help="options for the experiment")
        e.set_defaults(func=with_experiment_list(func))
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
    except BrokenPipeError:  # `dlfs show lstm | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
