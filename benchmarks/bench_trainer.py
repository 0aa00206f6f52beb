"""The torch ``Trainer``'s overhead: its per-step time against a bare PyTorch loop on the same model and batches.

    python -m benchmarks.bench_trainer [--json PATH] [--quick] [--threads N] [--repeats R]

Two models, float32, ``SGDMomentum(lr=0.01, momentum=0.9)``, softmax cross-entropy, random data:

- dense: ``benchmarks/bench_dense.py``'s network, 784 -> 256 (tanh) -> 10, batch 128, 40 batches an epoch;
- cnn: a small CNN, Conv2D(8 channels, 3x3, "same", tanh, flattened) -> Dense(10) on 1 x 28 x 28 images,
  batch 64, 20 batches an epoch.

The Trainer side is ``Trainer(net, optim).fit(X, y, epochs=E, batch_size=B, seed=1)`` with no validation set:
its ``DataLoader`` over ``BatchOrder``, the criterion, ``backward``, ``torch.optim.SGD.step``, and everything
``dlfs.fit.FitLoop`` does per step (loss to float, the finite check, the history). The bare side is a second
network built from the same seed, its leaf modules in one ``nn.Sequential`` (the same layers), a fresh
``torch.optim.SGD(lr=0.01, momentum=0.9)`` per fit (as ``fit`` makes one), and the very batches that fit's
``BatchOrder`` gives, gathered beforehand:

    for xb, yb in batches:
        opt.zero_grad(); F.cross_entropy(model(xb), yb).backward(); opt.step()

Each side runs a short fit (1 epoch) and a long one (1 + E epochs, E = 3), the four alternating (R repeats,
medians), so load from other processes falls on both sides alike. The per-step time is the slope between the
short and the long fit, (long - short) / (E x steps per epoch): what a fit costs once (argument checks, the
dataset's tensors, the optimiser, the progress bar) drops out of it and is shown apart as "fit set-up", the
intercept; "whole-fit ratio" is the long fits' times divided, set-up included. CPU seconds (``process_time``)
give a second ratio, less disturbed by other processes than wall time. The one-time costs are reported apart:
the first ``Trainer(...)`` (it imports ``torch._dynamo``), the first fit (it builds the network), the bare side's
first epoch, and the import of the torch backend with its first Trainer in a fresh interpreter. Both sides train
alike from the same weights, so their final weights must be equal, bit for bit: ``same_weights`` says whether
they are.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

TARGET = 1.10  # the Trainer's per-step time at most 10% above the bare loop's
LR, MOMENTUM, SEED, ORDER_SEED = 0.01, 0.9, 1, 1


def _cases(quick: bool) -> dict[str, dict[str, Any]]:
    """name -> the network's layers (a function of the backend), input shape, batch size, batches per epoch."""
    def dense(T: Any) -> list[Any]:
        return [T.Dense(256, "tanh", weight_init="glorot"), T.Dense(10, weight_init="glorot")]

    def cnn(T: Any) -> list[Any]:
        return [T.Conv2D(8, 3, activation="tanh", weight_init="glorot", flatten=True),
                T.Dense(10, weight_init="glorot")]

    if quick:
        return {"dense (quick)": dict(layers=dense, shape=(20,), batch=16, steps=4, epochs=1),
                "cnn (quick)": dict(layers=cnn, shape=(1, 8, 8), batch=8, steps=3, epochs=1)}
    return {"dense 784->256->10 b128": dict(layers=dense, shape=(784,), batch=128, steps=40, epochs=3),
            "cnn conv8 3x3 28x28 -> 10 b64": dict(layers=cnn, shape=(1, 28, 28), batch=64, steps=20, epochs=3)}


def _median(xs: list[float]) -> float:
    return float(np.median(xs))


def bench_case(name: str, case: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Time the Trainer and the bare loop on one case; the result row."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    import dlfs
    from dlfs.training import BatchOrder

    T = dlfs.backend("torch")
    batch, steps, epochs = case["batch"], case["steps"], case["epochs"]
    n = batch * steps
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, *case["shape"]), dtype=np.float32)
    y = rng.integers(0, 10, n)

    def network() -> Any:
        return T.NeuralNetwork(case["layers"](T), T.SoftmaxCrossEntropy(), seed=SEED, dtype="float32")

    # --- one-time costs ---------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    net = network()
    trainer = T.Trainer(net, T.SGDMomentum(lr=LR, momentum=MOMENTUM))
    trainer_init_s = time.perf_counter() - t0

    def trainer_fit(n_epochs: int = epochs, max_steps: int | None = None) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.fit(X, y, epochs=n_epochs, batch_size=batch, seed=ORDER_SEED, max_steps=max_steps)
        return time.perf_counter() - t0, time.process_time() - c0

    bare_net = network()
    bare_net.forward(X[:1], training=False)  # build: the same initial weights as net's
    model = nn.Sequential(*[m for m in bare_net.module.modules() if not list(m.children())])
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def gather(n_epochs: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of a fit of ``n_epochs`` epochs: a fresh BatchOrder(seed) each fit, as Trainer.fit."""
        order = BatchOrder(n, batch, ORDER_SEED)
        return [(Xt[idx], yt[idx]) for _ in range(n_epochs) for idx in order]

    def bare_fit(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        for xb, yb in batches:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    from torch_impl.trainer import gather as take_rows

    gathering_net = network()  # a third copy, trained by the bare loop that gathers its own batches
    gathering_net.forward(X[:1], training=False)
    gathering_model = nn.Sequential(*[m for m in gathering_net.module.modules() if not list(m.children())])

    def bare_gather_fit(n_epochs: int) -> tuple[float, float]:
        """The bare loop making its batches as it goes, with the Trainer's gather: what is left of the gap is
        the Trainer's own (its DataLoader and its loop)."""
        t0, c0 = time.perf_counter(), time.process_time()
        gathering_model.train()
        opt = torch.optim.SGD(gathering_model.parameters(), lr=LR, momentum=MOMENTUM)
        order = BatchOrder(n, batch, ORDER_SEED)  # one per fit, as Trainer.fit: a new permutation every epoch
        for _ in range(n_epochs):
            for idx in order:
                opt.zero_grad()
                F.cross_entropy(gathering_model(take_rows(Xt, idx)), take_rows(yt, idx)).backward()
                opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    first_fit_s = trainer_fit(1)[0]  # builds the network, the first torch.optim optimiser, the first steps
    first_bare_s = bare_fit(gather(1))[0]
    bare_gather_fit(1)
    # --- per step ---------------------------------------------------------------------------------------------
    # a short fit (1 epoch) and a long one (1 + E epochs) of each side; the marginal per-step time is the slope
    # between them, so what a fit costs once (its set-up) drops out and is reported as the intercept
    long_batches = gather(1 + epochs)
    short_batches = long_batches[:steps]  # a fresh BatchOrder's first epoch: the short fit's batches
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in ("trainer long", "bare long", "gathering long",
                                                                  "trainer short", "bare short", "gathering short")}
    for _ in range(repeats):  # interleaved: load from other processes falls on both sides alike
        runs["trainer long"].append(trainer_fit(1 + epochs))
        runs["bare long"].append(bare_fit(long_batches))
        runs["gathering long"].append(bare_gather_fit(1 + epochs))
        runs["trainer short"].append(trainer_fit(1))
        runs["bare short"].append(bare_fit(short_batches))
        runs["gathering short"].append(bare_gather_fit(1))
    wall = {k: _median([w for w, _ in v]) for k, v in runs.items()}
    cpu = {k: _median([c for _, c in v]) for k, v in runs.items()}
    extra = epochs * steps

    def slope(d: dict[str, float], side: str) -> float:
        return (d[f"{side} long"] - d[f"{side} short"]) / extra

    trainer_step, bare_step = slope(wall, "trainer"), slope(wall, "bare")
    same = all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(
        net.state_dict().values(), bare_net.state_dict().values(), gathering_net.state_dict().values()))
    return {"name": name, "batch": batch, "steps_per_epoch": steps, "long_fit_epochs": 1 + epochs,
            "trainer_step_s": trainer_step, "bare_step_s": bare_step, "ratio": trainer_step / bare_step,
            "target": TARGET, "met": 0 < trainer_step / bare_step <= TARGET,
            "trainer_step_cpu_s": slope(cpu, "trainer"), "bare_step_cpu_s": slope(cpu, "bare"),
            "cpu_ratio": slope(cpu, "trainer") / slope(cpu, "bare"),
            # against the bare loop that gathers its batches as the Trainer does
            "gathering_step_s": slope(wall, "gathering"), "ratio_to_gathering": trainer_step / slope(wall, "gathering"),
            # fit time / steps of the long fits: the set-up included
            "whole_fit_ratio": wall["trainer long"] / wall["bare long"],
            "fit_setup_s": wall["trainer short"] - steps * trainer_step,
            "runs_s": runs, "trainer_init_s": trainer_init_s, "first_fit_s": first_fit_s,
            "first_bare_epoch_s": first_bare_s, "same_weights": same}


def import_time_s() -> float:
    """Seconds to import the torch backend and make its first Trainer, in a fresh interpreter (the one-time cost
    a user pays once per process)."""
    import subprocess
    import sys

    code = ("import time; t0 = time.perf_counter(); import dlfs; T = dlfs.backend('torch'); "
            "net = T.NeuralNetwork([T.Dense(2)], T.MeanSquaredError()); T.Trainer(net, T.SGD()); "
            "print(time.perf_counter() - t0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def run(quick: bool, repeats: int) -> dict[str, Any]:
    rows = [bench_case(name, case, repeats) for name, case in _cases(quick).items()]
    return {"import_and_first_trainer_s": import_time_s(), "rows": rows}


def format_result(result: dict[str, Any]) -> str:
    headers = ["model", "Trainer ms/step", "bare ms/step", "ratio", "target", "met", "CPU ratio", "whole-fit ratio",
               "vs gathering loop", "fit set-up ms", "same weights"]
    fmt: Callable[[float], str] = lambda s: f"{1e3 * s:.3f}"  # noqa: E731
    lines = [[r["name"], fmt(r["trainer_step_s"]), fmt(r["bare_step_s"]), f"{r['ratio']:.3f}",
              f"<= {r['target']:.2f}", "yes" if r["met"] else "NO", f"{r['cpu_ratio']:.3f}",
              f"{r['whole_fit_ratio']:.3f}", f"{r['ratio_to_gathering']:.3f}", f"{1e3 * r['fit_setup_s']:.2f}",
              "yes" if r["same_weights"] else "NO"]
             for r in result["rows"]]
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(x, widths)) for x in lines]
    out.append(f"one-time: import + first Trainer in a fresh process {result['import_and_first_trainer_s']:.2f} s; "
               + "; ".join(f"{r['name']}: first fit (1 epoch) {1e3 * r['first_fit_s']:.0f} ms, bare first epoch "
                           f"{1e3 * r['first_bare_epoch_s']:.0f} ms" for r in result["rows"]))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_trainer", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results here (atomic)")
    parser.add_argument("--quick", action="store_true", help="tiny models, one repeat: a smoke test, not a "
                                                             "measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (torch.set_num_threads)")
    parser.add_argument("--repeats", type=int, default=None, help="timed fits of each side (default: 15, 1 with "
                                                                  "--quick)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads: expected a positive int, got {args.threads}")
    repeats = (1 if args.quick else 15) if args.repeats is None else args.repeats
    if repeats < 1:
        parser.error(f"--repeats: expected a positive int, got {repeats}")
    from benchmarks.common import machine, write_result
    from torch_impl.devices import limit_threads

    load_before = os.getloadavg()
    with limit_threads(args.threads):
        result = run(args.quick, repeats)
    result = {"quick": args.quick, "threads": args.threads, "repeats": repeats, "load_average_before": load_before,
              "load_average_after": os.getloadavg(), "machine": machine(), **result}
    print(f"torch Trainer vs a bare loop; {args.threads} thread(s); medians of {repeats} interleaved fits; load "
          f"average {load_before[0]:.1f} before, {result['load_average_after'][0]:.1f} after, on {os.cpu_count()} "
          f"cores")
    print(format_result(result))
    write_result(args.json, result)
    return result


if __name__ == "__main__":
    main()
