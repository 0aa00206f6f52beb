"""`dlfs run` and `dlfs compare`: an experiment by name, and its per-epoch divergence when trained in both
backends from the same weights.

An experiment's ``metrics.json`` holds, per backend, the ``History`` of each model it trained;
``paired_histories`` finds every scratch/torch pair, ``divergence`` takes ``|scratch - torch|`` per epoch of
each series, and ``divergence_table`` lays it out for the terminal.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from study.concepts import ROOT
from study.tables import format_table
from study.usage import UsageError, suggest


def _err(v: float | None) -> str:
    return "-" if v is None else f"{v:.1e}"


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


def experiment_names() -> list[str]:
    """The runnable experiments: the modules of ``experiments/`` that have a ``main`` (helpers aside)."""
    folder = ROOT / "experiments"
    return sorted(p.stem for p in folder.glob("*.py")
                  if not p.stem.startswith("_") and p.stem not in ("common", "report"))


def _run_experiment(name: str, argv: list[str]) -> dict[str, Any] | int:
    """``experiments.<name>.main(argv)``; an exit inside it (``--help``, a refused ``--out``) is a status."""
    known = experiment_names()
    if name not in known:
        raise suggest(name, known, "experiment")
    module = importlib.import_module(f"experiments.{name}")
    if not hasattr(module, "main"):
        raise UsageError(f"experiments.{name} has no main(argv)")
    try:
        return module.main(argv)
    except SystemExit as e:
        if isinstance(e.code, str):  # prepare_out's refusals: "error: --out ... exists and is not empty"
            print(f"dlfs {name}: {e.code}", file=sys.stderr)
            return 1
        return int(e.code or 0)
    except (ValueError, OSError) as e:  # bad data or arguments (a missing dataset says how to get it)
        print(f"dlfs {name}: error: {e}", file=sys.stderr)
        return 1


def cmd_run(args: argparse.Namespace) -> int:
    result = _run_experiment(args.experiment, list(args.options))
    return result if isinstance(result, int) else 0


def _option(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def cmd_compare(args: argparse.Namespace) -> int:
    from dlfs.io import save_json
    from experiments.common import default_out

    argv = list(args.options)
    if "-h" in argv or "--help" in argv:
        return cmd_run(args)
    backend = _option(argv, "--backend")
    if backend not in (None, "both"):
        raise UsageError(f"compare trains both backends; got --backend {backend} (leave --backend out, or "
                         f"use `dlfs run {args.experiment} --backend {backend}`)")
    if args.experiment not in experiment_names():
        raise suggest(args.experiment, experiment_names(), "experiment")
    out = _option(argv, "--out")
    if out is None:
        out = str(default_out(args.experiment))
        argv += ["--out", out]
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        metrics = _run_experiment(args.experiment, [*argv, "--backend", "both"])  # --json: stdout is JSON
    if isinstance(metrics, int):
        return metrics
    div = divergence(metrics)
    if not div:
        print(f"dlfs compare: experiments.{args.experiment} reports no per-epoch histories per backend "
              f"(metrics[...]['scratch'|'torch'][...]['train_loss']); nothing to compare", file=sys.stderr)
        return 1
    save_json(Path(out) / "divergence.json", div)
    if args.json:
        print(json.dumps(div, indent=2))
        return 0
    headers, rows = divergence_table(div)
    what = "" if len(div) <= 2 else " (per run: the largest of its training loss, validation loss and lr)"
    print(f"\nPer-epoch divergence |scratch - torch| ({args.experiment}, both backends from the same "
          f"weights){what}:")
    print(format_table(headers, rows))
    worst = max(s["max_abs_diff"] for series in div.values() for s in series.values())
    print(f"largest: {worst:.2e}; every value in {Path(out) / 'divergence.json'}")
    return 0


# --- dlfs run / dlfs compare without an experiment ----------------------------------------------------------

def experiment_summary(name: str) -> str:
    """The first paragraph of ``experiments/<name>.py``'s docstring, on one line (read, not imported: importing
    loads torch)."""
    doc = ast.get_docstring(ast.parse((ROOT / "experiments" / f"{name}.py").read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split())


def with_experiment_list(func: Any) -> Any:
    """``dlfs run`` / ``dlfs compare`` with no EXPERIMENT print the experiments instead of a usage error."""
    def run(args: argparse.Namespace) -> int:
        if args.experiment is None:
            print(f"dlfs {args.command} EXPERIMENT [options]; `dlfs {args.command} EXPERIMENT --help` lists an "
                  f"experiment's options. Experiments:\n")
            names = experiment_names()
            width = max(len(n) for n in names)
            for n in names:
                print(f"  {n:{width}}  {experiment_summary(n)}")
            return 0
        return func(args)
    return run
