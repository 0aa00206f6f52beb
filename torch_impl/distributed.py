"""Data-parallel training on ``torch.distributed``: what ``Trainer(net, optim, distributed=True)``
adds to the one-process step (``docs/distributed.md``).

One process per rank, launched by ``torchrun`` (``python -m torch.distributed.run``), which sets
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. The process group is
initialised from them (gloo on the CPU, nccl on CUDA, a 60 s timeout) unless the caller has done it.

- Batches: every rank draws the same global batches from its own ``BatchOrder`` (same seed) and
  takes a contiguous slice of each (``dlfs.sharding``). Its loss, a mean over its slice, is scaled
  by ``world * rows / batch`` before ``backward``; ``DistributedDataParallel`` all-reduces the
  gradients and divides by ``world``, which leaves the gradient of the global batch's mean loss
  (whatever the split: the world size need not divide the batch). The step's loss is all-reduced
  the same way, so every rank records the global batch's loss and its divergence guard agrees.
- Dropout: each rank's (identical) NumPy stream skips to its rows of the global batch's keep-mask
  and draws those, so the masks are those of one process on the whole batch (``ShardMask``).
- Evaluation: every rank evaluates the whole validation set with the same weights; the loss is then
  broadcast from rank 0, so early stopping decides the same everywhere.
- Writes: only rank 0 writes checkpoints and shows progress (``FitLoop.is_main_process``); every
  rank resumes from the same checkpoint; ranks that would start differently (other data, another
  checkpoint) stop with an error naming what differs.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dlfs.sharding import ShardedOrder, check_shardable
from dlfs.training import BatchOrder
from torch_impl.dropout import MaskedDropout

TORCHRUN_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_S = 60.0  # a collective that waits longer than this fails (a rank that died, a hang)


class DistributedSetupError(RuntimeError):
    """A distributed run that cannot start: not launched by torchrun, or ranks that disagree."""


def torchrun_command(target: str = "train.py", nproc: int = 2) -> str:
    """The launch line for ``target`` (a script, or ``-m module args``)."""
    return f"torchrun --nproc-per-node {nproc} {target}"


def launched_by_torchrun() -> bool:
    """Whether this process has the environment torchrun gives its workers."""
    return all(k in os.environ for k in TORCHRUN_ENV)


def check_torchrun_env(command: str | None = None) -> None:
    """Raise ``DistributedSetupError`` showing ``command`` (how to launch) when torchrun's
    environment is missing."""
    missing = [k for k in TORCHRUN_ENV if k not in os.environ]
    if missing:
        raise DistributedSetupError(
            f"distributed training needs one process per rank, started by torchrun, which sets "
            f"{', '.join(TORCHRUN_ENV)} ({', '.join(missing)} not set here). Launch it as\n"
            f"    {command or torchrun_command()}\n"
            f"(or python -m torch.distributed.run ...; docs/distributed.md)")


def env_rank() -> int:
    """This process's rank from torchrun's environment (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def init_process_group(device: torch.device, timeout_s: float = TIMEOUT_S,
                       command: str | None = None) -> None:
    """The default process group from torchrun's environment: nccl for a CUDA ``device`` (made
    this process's current GPU), gloo otherwise. Nothing to do when it exists already."""
    if dist.is_initialized():
        return
    check_torchrun_env(command)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            timeout=timedelta(seconds=timeout_s))


def shutdown() -> None:
    """Destroy the default process group, if there is one (the end of a distributed run)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def fingerprint(*arrays: np.ndarray) -> int:
    """A CRC of the shapes and of up to 256 evenly spaced rows of each array (cheap on any size):
    enough to tell that two ranks were given different data."""
    crc = 0
    for a in arrays:
        a = np.asarray(a)
        sample = a[:: max(1, len(a) // 256)] if a.ndim else a
        crc = zlib.crc32(repr((a.shape, str(a.dtype))).encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(sample).tobytes(), crc)
    return crc


class ShardMask:
    """A ``MaskedDropout``'s mask source while a rank trains on its slice: the slice's rows of the
    global batch's mask; otherwise the source itself.

    The mask of a batch is ``rng.random(shape) >= p`` (``dlfs.training.dropout_mask``): one 64-bit
    draw per element, row after row. So a rank skips the rows of the ranks before it
    (``bit_generator.advance``), draws its own, and skips the rest: the stream ends where a full
    draw leaves it, and each rank draws only its share. A generator that cannot skip draws the
    whole mask and keeps its rows.
    """

    def __init__(self, source: Callable[[tuple[int, ...], np.dtype], np.ndarray],
                 parallel: DataParallel) -> None:
        self.source, self.parallel = source, parallel

    def __call__(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        order = self.parallel.order
        if not self.parallel.sharding or order is None:
            return self.source(shape, dtype)
        s = order.shard
        rng = getattr(getattr(self.source, "__self__", None), "mask_rng", None)
        advance = getattr(getattr(rng, "bit_generator", None), "advance", None)
        if advance is None:
            return self.source((s.size, *shape[1:]), dtype)[s.lo:s.hi]
        per_row = math.prod(shape[1:])
        advance(s.lo * per_row)  # the rows of the ranks before this one
        mask = self.source(shape, dtype)  # this rank's rows
        advance((s.size - s.hi) * per_row)  # the rows of the ranks after it
        return mask


class DataParallel:
    """A torch ``Trainer``'s data-parallel state: the process group's rank and size, the sharded
    batch order, the ``DistributedDataParallel`` model and the collectives of a step."""

    def __init__(self, net: Any, timeout_s: float = TIMEOUT_S) -> None:
        init_process_group(net.device, timeout_s)
        self.net, self.rank, self.world = net, dist.get_rank(), dist.get_world_size()
        nccl = dist.get_backend() == "nccl"
        if nccl and net.device.type != "cuda":
            raise DistributedSetupError(f"distributed: the process group is nccl, which needs a "
                                        f"CUDA network; this one is on {net.device}")
        self.comm = net.device if nccl else torch.device("cpu")  # where collectives' tensors live
        self.order: ShardedOrder | None = None
        self.sharding = False  # True during a training forward: dropout masks are sliced
        self._ddp: DistributedDataParallel | None = None
        self._summed = False

    def sampler(self, order: BatchOrder, y: np.ndarray) -> ShardedOrder:
        """This rank's slices of ``order``'s batches; checks that they can match one process."""
        check_shardable(order.n, order.batch_size, self.world)
        loss = self.net.loss
        if getattr(loss, "weight", None) is not None:
            raise ValueError(f"distributed: {loss!r} weights its classes, so its mean divides by "
                             f"each batch's total weight, and the slices' means do not add up to "
                             f"it; class weights are not supported in data-parallel training")
        ignore = getattr(loss, "ignore_index", None)
        if ignore is not None and np.issubdtype(y.dtype, np.integer) and bool((y == ignore).any()):
            raise ValueError(f"distributed: the targets hold ignore_index={ignore}: the mean over "
                             f"the positions left differs per slice; not supported in "
                             f"data-parallel training")
        self._summed = getattr(loss, "reduction", "mean") == "sum"
        self.order = ShardedOrder(order, self.rank, self.world)
        for m in self.net.module.modules():
            if isinstance(m, MaskedDropout) and m.mask_source is not None \
                    and not isinstance(m.mask_source, ShardMask):
                m.mask_source = ShardMask(m.mask_source, self)
        return self.order

    def model(self) -> nn.Module:
        """The network's module in ``DistributedDataParallel`` (made once; it broadcasts rank 0's
        weights when made)."""
        if self._ddp is None or self._ddp.module is not self.net.module:
            ids = [self.net.device.index] if self.net.device.type == "cuda" else None
            # no buffers to synchronise: the layers hold parameters only
            self._ddp = DistributedDataParallel(self.net.module, device_ids=ids)
        return self._ddp

    @contextmanager
    def sharded_masks(self) -> Iterator[None]:
        """Dropout masks sliced to this rank's rows (the training forward)."""
        self.sharding = True
        try:
            yield
        finally:
            self.sharding = False

    def backward(self, loss: torch.Tensor) -> float:
        """Backward of this slice's ``loss`` (a mean over its rows) weighted so that DDP's average
        is the global batch's gradient; returns the global batch's loss (all-reduced)."""
        assert self.order is not None
        weight = 1.0 if self._summed else self.order.shard.weight
        total = (loss.detach().to(torch.float64) * weight).reshape(1).to(self.comm)
        work = dist.all_reduce(total, async_op=True)  # overlaps the backward
        factor = weight * self.world
        (loss if factor == 1.0 else loss * factor).backward()
        work.wait()
        return float(total)

    def agreed(self, value: float) -> float:
        """``value`` as rank 0 has it."""
        t = torch.tensor([value], dtype=torch.float64, device=self.comm)
        dist.broadcast(t, src=0)
        return float(t)

    def check_start(self, what: Mapping[str, Any]) -> None:
        """Every rank must start the same run at the same point: ``what`` (fit arguments, epoch,
        step, data and weight fingerprints) gathered from all and compared with rank 0's."""
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, dict(what))
        for r, other in enumerate(gathered):
            diff = sorted(k for k in set(other) | set(gathered[0])
                          if other.get(k) != gathered[0].get(k))
            if diff:
                shown = "; ".join(f"{k}: {gathered[0].get(k)!r} vs {other.get(k)!r}" for k in diff)
                raise DistributedSetupError(
                    f"distributed: rank {r} would not start the same run as rank 0 ({shown}); "
                    f"every rank needs the same data and fit arguments, and a resume reads the "
                    f"same checkpoint on every rank (one file system)")

    def barrier(self) -> None:
        """Wait for every rank (a one-element all-reduce: the same on gloo and nccl)."""
        dist.all_reduce(torch.zeros(1, device=self.comm))
