"""The README's benchmark table, made from saved runs of ``python -m benchmarks --json``.

    python -m benchmarks.table RUN.json [RUN.json ...]            print the table
    python -m benchmarks.table --write RUN.json [RUN.json ...]    also store the runs in docs/benchmark_runs.json
                                                                  and replace the table in README.md

Each row gives the range over the runs (min-max) of both times, the ratio and the peak memory, and whether the
target was met in every run. ``parity_tests/test_benchmarks.py`` checks that the README's table is the one these
functions make from the committed ``docs/benchmark_runs.json``, so the table can only come from a run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dlfs.io import atomic_write, read_json, save_json

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "docs" / "benchmark_runs.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- benchmark table: python -m benchmarks.table --write -->", "<!-- end of benchmark table -->"


def _span(values: Sequence[float], fmt: str) -> str:
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


def markdown_table(runs: Sequence[Mapping[str, Any]]) -> str:
    """One Markdown row per benchmark of the runs (the same rows in each, in order)."""
    names = [r["name"] for r in runs[0]["rows"]]
    for run in runs[1:]:
        if [r["name"] for r in run["rows"]] != names:
            raise ValueError(f"the runs hold different benchmarks: {names} vs {[r['name'] for r in run['rows']]}")
    peaks = [run["peak"] for run in runs]
    lines = [f"{len(runs)} run(s), {runs[0]['threads']} thread(s) per library, load average "
             f"{_span([run['load_average'][0] for run in runs], '{:.1f}')}; float32 matmul peak at "
             f"{peaks[0]['n']}²: NumPy {_span([p['numpy_gflops'] for p in peaks], '{:.0f}')}, torch "
             f"{_span([p['torch_gflops'] for p in peaks], '{:.0f}')} GFLOP/s; {runs[0]['machine']['torch']} torch, "
             f"{runs[0]['machine']['numpy']} NumPy.", "",
             "| benchmark | target | scratch ms | torch ms | scratch/torch | met | scratch MiB | torch MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for i, name in enumerate(names):
        rows = [run["rows"][i] for run in runs]
        target = rows[0]["target"]
        ratios = [r["ratio"] for r in rows]
        met = "-" if target is None else ("yes" if max(ratios) <= target else
                                          f"**no** ({sum(x <= target for x in ratios)} of {len(rows)})")
        mem = {k: [r[k] for r in rows if r.get(k) is not None] for k in ("scratch_peak_mib", "torch_peak_mib")}
        lines.append("| " + " | ".join([
            name, "-" if target is None else f"≤ {target:.1f}",
            _span([1e3 * r["scratch_s"] for r in rows], "{:.1f}"), _span([1e3 * r["torch_s"] for r in rows], "{:.1f}"),
            _span(ratios, "{:.2f}"), met,
            _span(mem["scratch_peak_mib"], "{:.1f}") if mem["scratch_peak_mib"] else "-",
            _span(mem["torch_peak_mib"], "{:.1f}") if mem["torch_peak_mib"] else "-"]) + " |")
    return "\n".join(lines)


def readme_with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the table's markers replaced by ``table``."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README.md has no benchmark table markers ({BEGIN!r} ... {END!r})")
    head, rest = readme.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}"


def committed_runs() -> list[dict[str, Any]]:
    """The runs the README's table was made from."""
    return json.loads(RUNS.read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.table", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN.json", help="results of python -m benchmarks --json")
    parser.add_argument("--write", action="store_true",
                        help=f"store the runs in {RUNS.relative_to(ROOT)} and replace the table in README.md")
    args = parser.parse_args(argv)
    runs = [read_json(p, "benchmarks results file (.json)", "results file") for p in args.runs]
    for p, run in zip(args.runs, runs):
        if not isinstance(run, dict) or "rows" not in run or run.get("quick"):
            parser.error(f"{p}: expected the JSON of a full `python -m benchmarks --json` run (not --quick)")
    table = markdown_table(runs)
    print(table)
    if args.write:
        save_json(RUNS, runs)
        text = readme_with_table(README.read_text(encoding="utf-8"), table)
        atomic_write(README, lambda f: f.write(text.encode("utf-8")))
        print(f"wrote {RUNS.relative_to(ROOT)} and the table in README.md")
    return table


if __name__ == "__main__":
    main()
