"""Data-parallel training throughput: chapter 5's CNN (``experiments.cnn``'s ch5 network, its Fashion-MNIST
recipe) trained by the torch ``Trainer`` in one process and on ``torch.distributed`` (torchrun, gloo on 127.0.0.1),
samples per second.

    python -m benchmarks.bench_ddp [--dataset fashion-mnist] [--train-size 24000] [--epochs 1] [--json PATH]
    make bench-ddp

Every case is a fresh process (or torchrun job) that loads the data with ``dlfs.data``, builds the network from
the same seed and times ``Trainer.fit`` (no validation set: training only; the data sit in memory), after a
warm-up fit of 5 steps (a process's first ``DistributedDataParallel`` imports much of torch). The cases:
one process with one thread, one process with as many threads as the ranks have in all, and torchrun with
N ranks of one thread each, so the rows compare the same cores used two ways. samples/s counts the samples of
the global batches: N ranks take the steps of one process, each on 1/N of every batch. Not part of
``python -m benchmarks`` (its rows are not scratch/torch pairs) nor of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import write_result
from dlfs.io import save_json

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 900


def work(args: argparse.Namespace) -> None:
    """One case, in this process (a rank of a torchrun job with ``--distributed``): train, time, write the result."""
    import numpy as np
    import torch

    import dlfs
    from dlfs.data import load_dataset, standardize
    from dlfs.metrics import accuracy
    from torch_impl.distributed import shutdown

    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, None)
    X, y = data.X_train[:args.train_size], data.y_train[:args.train_size]
    X, X_test = standardize(X, data.X_test[:2000])
    T = dlfs.backend("torch")

    def make() -> Any:
        """experiments.cnn's ch5 network, recipe "fashion": Conv2D(16, 5x5, tanh, N(0, 1) with bias, dropout 0.2,
        flatten) -> Dense(10, Glorot); SGD momentum 0.9, lr 5e-4."""
        layers = [T.Conv2D(16, 5, activation="tanh", weight_init="standard", dropout=0.2, flatten=True),
                  T.Dense(data.num_classes, "linear", weight_init="glorot")]
        net = T.NeuralNetwork(layers, T.SoftmaxCrossEntropy(), seed=20190402, dtype="float32")
        return T.Trainer(net, T.SGDMomentum(lr=5e-4, momentum=0.9), distributed=args.distributed)

    # warm-up: the first DistributedDataParallel of a process imports much of torch (about 1.5 s here), once
    make().fit(X, y, epochs=1, batch_size=args.batch_size[0], seed=1, max_steps=5)
    trainer = make()
    net = trainer.net
    t0 = time.perf_counter()
    trainer.fit(X, y, epochs=args.epochs, batch_size=args.batch_size[0], seed=20190402)
    seconds = time.perf_counter() - t0
    logits = np.concatenate([net.forward(X_test[i:i + 500], training=False) for i in range(0, len(X_test), 500)])
    acc = 100.0 * accuracy(logits, data.y_test[:2000])
    if trainer.is_main_process:
        save_json(args.result, {"seconds": seconds, "samples_per_s": len(X) * args.epochs / seconds,
                                "accuracy": acc, "processes": trainer.world_size, "threads": args.threads})
    shutdown()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_case(args: argparse.Namespace, batch: int, nproc: int, threads: int, torchrun: bool) -> dict[str, Any]:
    """One case as a subprocess: ``nproc`` ranks under torchrun, or one plain process of ``threads`` threads,
    batches of ``batch``."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        worker = ["-m", "benchmarks.bench_ddp", "--worker", "--result", str(result), "--dataset", args.dataset,
                  "--train-size", str(args.train_size), "--epochs", str(args.epochs), "--threads", str(threads),
                  "--batch-size", str(batch)]
        if torchrun:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                   "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *worker, "--distributed"]
        else:
            cmd = [sys.executable, *worker]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"bench_ddp: {' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
        row = json.loads(result.read_text())
    name = f"torchrun {nproc} x {threads} thread" if torchrun else f"1 process, {threads} thread(s)"
    return {"name": name, "batch_size": batch, **row, "job_s": time.perf_counter() - t0}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ddp", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="fashion-mnist", choices=("digits", "fashion-mnist", "mnist"))
    p.add_argument("--train-size", type=int, default=24000, help="training images (the first N)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--nproc", type=int, nargs="+", default=[2], help="torchrun world sizes to measure")
    p.add_argument("--batch-size", type=int, nargs="+", default=[60, 240],
                   help="global batch sizes (60: the book's; a larger batch has more work per gradient all-reduce)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the rows here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        work(args)
        return {}
    rows = []
    for batch in args.batch_size:
        rows.append(run_case(args, batch, 1, 1, torchrun=False))
        for n in args.nproc:
            if n > 1:
                rows.append(run_case(args, batch, 1, n, torchrun=False))
            rows.append(run_case(args, batch, n, 1, torchrun=True))
    print(f"ch5 CNN on {args.dataset}: {args.train_size} images x {args.epochs} epoch(s), float32; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':28s} {'batch':>5s} {'samples/s':>10s} {'x 1 proc':>8s} {'fit s':>7s} {'job s':>7s} {'acc %':>6s}")
    for r in rows:
        base = next(b["samples_per_s"] for b in rows if b["batch_size"] == r["batch_size"])
        print(f"{r['name']:28s} {r['batch_size']:5d} {r['samples_per_s']:10.0f} {r['samples_per_s'] / base:8.2f} "
              f"{r['seconds']:7.2f} {r['job_s']:7.1f} {r['accuracy']:6.2f}")
    result = {"dataset": args.dataset, "train_size": args.train_size, "epochs": args.epochs,
              "cpus": os.cpu_count(), "rows": rows}
    write_result(args.json, result)
    return result


if __name__ == "__main__":
    main()
