"""The worker ``parity_tests/test_distributed.py`` launches on every rank, and the runs it is held to.

    python -m torch.distributed.run --nproc-per-node 2 --master-addr 127.0.0.1 --master-port PORT \\
        -m parity_tests.distributed_worker --out DIR [--fail-at-step K]

Each rank trains, with ``Trainer(..., distributed=True)``, on fixed float64 data (SGD momentum, a decaying
learning rate, dropout): a dense network whose batch of 7 the two ranks split 4/3 (and the epoch's last batch of
3, 2/1); a small CNN whose batch of 8 they split 4/4; the dense run again, interrupted in its third epoch and
resumed from its checkpoint by a new network and Trainer; and a run that rank 1 starts with another seed
(refused on every rank). Every rank writes ``rank<r>.npz`` (its weights, histories and the refusal's message);
rank 0 also writes ``checkpoints/`` (the only writer). With
``--fail-at-step K`` rank 1 raises at step K instead, and the job must end promptly with its message.
``single_process(B, name)`` is the same run in one process of backend ``B``: the reference.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import dlfs

RNG = np.random.default_rng(20240601)
X_DENSE, Y_DENSE = RNG.standard_normal((45, 6)), RNG.integers(0, 3, 45)
XV_DENSE, YV_DENSE = RNG.standard_normal((11, 6)), RNG.integers(0, 3, 11)
X_CNN, Y_CNN = RNG.standard_normal((24, 1, 6, 6)), RNG.integers(0, 4, 24)
XV_CNN, YV_CNN = RNG.standard_normal((6, 1, 6, 6)), RNG.integers(0, 4, 6)
FAIL_MESSAGE = "rank 1 fails on purpose at step"


def build(B: Any, name: str) -> tuple[Any, Any]:
    """The network and optimiser of run ``name`` ("dense" or "cnn") in backend ``B``, float64."""
    if name == "cnn":
        layers = [B.Conv2D(3, 3, activation="tanh", weight_init="glorot", dropout=0.2, flatten=True),
                  B.Dense(4, weight_init="glorot")]
    else:
        layers = [B.Dense(5, "tanh", weight_init="glorot", dropout=0.25), B.Dense(3, weight_init="glorot")]
    net = B.NeuralNetwork(layers, B.SoftmaxCrossEntropy(), seed=11, dtype="float64")
    return net, B.SGDMomentum(lr=0.1, momentum=0.9, final_lr=0.03, decay_type="linear")


def fit_args(name: str) -> dict[str, Any]:
    """``fit``'s arguments for run ``name``: data, epochs, batch size, seed."""
    if name == "cnn":
        return dict(X_train=X_CNN, y_train=Y_CNN, X_test=XV_CNN, y_test=YV_CNN, epochs=3, batch_size=8, seed=5,
                    eval_every=1)
    return dict(X_train=X_DENSE, y_train=Y_DENSE, X_test=XV_DENSE, y_test=YV_DENSE, epochs=4, batch_size=7, seed=5,
                eval_every=1)


def single_process(B: Any, name: str) -> tuple[dict[str, np.ndarray], Any]:
    """Run ``name`` in one process of backend ``B``: final weights and History."""
    net, opt = build(B, name)
    hist = B.Trainer(net, opt).fit(**fit_args(name))
    return net.state_dict(), hist


def _record(out: dict[str, np.ndarray], key: str, net: Any, hist: Any) -> None:
    out.update({f"{key}/{k}": v for k, v in net.state_dict().items()})
    for h in ("train_loss", "val_loss", "step_loss", "lr"):
        out[f"{key}/history/{h}"] = np.asarray(getattr(hist, h))


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m parity_tests.distributed_worker")
    p.add_argument("--out", required=True)
    p.add_argument("--fail-at-step", type=int, default=None)
    args = p.parse_args(argv)
    import torch

    from torch_impl.distributed import DistributedSetupError, shutdown

    torch.set_num_threads(1)
    T = dlfs.backend("torch")
    out_dir = Path(args.out)
    try:
        if args.fail_at_step is not None:
            _fail(T, args.fail_at_step)
            return
        results: dict[str, np.ndarray] = {}
        for name in ("dense", "cnn"):
            net, opt = build(T, name)
            trainer = T.Trainer(net, opt, distributed=True)
            _record(results, name, net, trainer.fit(**fit_args(name)))
        # resume under torchrun: every rank stops in epoch 3 (rank 0 has written epoch 2's checkpoint),
        # then a new network and Trainer on every rank read that checkpoint and finish the run
        ckpt = out_dir / "checkpoints"
        net, opt = build(T, "dense")
        try:
            _interrupted(T)(net, opt, distributed=True).fit(**fit_args("dense"), checkpoint_dir=ckpt)
        except Interrupted:
            torch.distributed.barrier()  # as a new launch would: the checkpoint is on disk
        net, opt = build(T, "dense")
        trainer = T.Trainer(net, opt, distributed=True)
        _record(results, "resumed", net, trainer.fit(**fit_args("dense"), checkpoint_dir=ckpt, resume=True))
        results["main_process"] = np.array([trainer.is_main_process])
        rank = torch.distributed.get_rank()
        # ranks that would not train the same run (another seed on rank 1) stop, every one, with the difference
        net, opt = build(T, "dense")
        try:
            T.Trainer(net, opt, distributed=True).fit(**{**fit_args("dense"), "seed": 5 + rank})
        except DistributedSetupError as e:
            results["mismatch"] = np.array(str(e))
        results["world_size"] = np.array([torch.distributed.get_world_size()])
        np.savez(out_dir / f"rank{rank}.npz", **results)
    finally:
        shutdown()


class Interrupted(Exception):
    """A run stopped on purpose (the resume check)."""


def _interrupted(T: Any, at_step: int = 2 * 7 + 1) -> type:
    """A torch Trainer that stops every rank at ``at_step`` (the first step of epoch 3)."""

    class Stopping(T.Trainer):
        steps = 0

        def _forward_backward(self, xb: Any, yb: Any) -> float:
            self.steps += 1
            if self.steps == at_step:
                raise Interrupted
            return super()._forward_backward(xb, yb)

    return Stopping


def _fail(T: Any, at_step: int) -> None:
    """Train the dense run with rank 1 raising at step ``at_step``."""
    net, opt = build(T, "dense")

    class Failing(T.Trainer):
        steps = 0

        def _forward_backward(self, xb: Any, yb: Any) -> float:
            self.steps += 1
            if self.steps == at_step and not self.is_main_process:
                raise RuntimeError(f"{FAIL_MESSAGE} {at_step}")
            return super()._forward_backward(xb, yb)

    Failing(net, opt, distributed=True).fit(**{**fit_args("dense"), "epochs": 50})


if __name__ == "__main__":
    from torch.distributed.elastic.multiprocessing.errors import record

    record(main)()  # the failing rank's exception goes into torchrun's summary
