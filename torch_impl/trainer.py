"""The ``Trainer``: ``dlfs.fit.FitLoop``'s loop (evaluation, early stopping, checkpoints, the
divergence guard) around an idiomatic PyTorch step: ``zero_grad``, criterion, ``backward``,
``step``, over a ``DataLoader`` whose sampler is dlfs's seeded ``BatchOrder``, so both backends see
the same batches in the same order. Checkpoints carry the optimiser's state through
``torch.optim``'s and the scheduler's ``state_dict``, and torch's global RNG state.

``distributed=True``: one process per rank under ``torchrun``, the module in
``DistributedDataParallel``, each rank on its slice of every global batch
(``torch_impl/distributed.py``); the batches go to the network's ``device``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from dlfs.fit import FitLoop, Transform
from dlfs.training import BatchOrder
from torch_impl.base import to_tensor
from torch_impl.distributed import DataParallel, ShardMask, fingerprint
from torch_impl.dropout import MaskedDropout
from torch_impl.network import NeuralNetwork
from torch_impl.optimizers import Optimizer


def mask_streams(net: NeuralNetwork) -> list[np.random.Generator]:
    """The network's dropout mask streams, in layer order (a checkpoint saves their states). Each
    ``MaskedDropout``'s mask source is its ``Dropout`` layer's bound ``_mask``; that layer holds the
    generator."""
    sources = [m.mask_source for m in net.module.modules() if isinstance(m, MaskedDropout)]
    # under data parallelism a ShardMask wraps the layer's own source
    owners = [getattr(s.source if isinstance(s, ShardMask) else s, "__self__", None)
              for s in sources]
    return [o.mask_rng for o in owners if getattr(o, "mask_rng", None) is not None]


def global_grad_norm(grads: list[torch.Tensor]) -> float:
    """The 2-norm of all parameter gradients taken as one vector (``clip_grad_norm_``'s total
    norm)."""
    return float(torch.nn.utils.get_total_norm(grads))


def gather(t: torch.Tensor, idx: list[int]) -> torch.Tensor:
    """The rows ``idx`` of ``t``, a new tensor. On the CPU through NumPy's ``take`` (37 us for 128
    random rows of 784 floats here, where ``index_select`` takes 140 us and ``t[idx]``, advanced
    indexing with a list, 300 us: the difference is 13% of the dense benchmark's step); on
    another device by ``index_select`` there."""
    i = np.asarray(idx, dtype=np.int64)
    if t.device.type == "cpu":
        return torch.from_numpy(np.take(t.numpy(), i, axis=0))
    return t.index_select(0, torch.from_numpy(i).to(t.device))


class BatchDataset(Dataset):
    """``(X[idx], targets[idx])`` for a whole batch of indices ``idx`` at once (the loader's
    sampler yields index batches), each gathered by ``gather``."""

    def __init__(self, X: torch.Tensor, targets: torch.Tensor) -> None:
        self.X, self.targets = X, targets

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return gather(self.X, idx), gather(self.targets, idx)


class RingBatches(IterableDataset):
    """One epoch of batches each time it is iterated, in ``order``'s order: each batch's rows are
    gathered from X and the targets (NumPy's ``take``) into one of two pairs of buffers kept for
    the whole fit, and handed out as tensors over them. The same batches as ``BatchDataset``'s,
    value for value, without an allocation per step. A batch stays valid until the batch after
    the next is drawn (``fit`` is done with it by then). For data on the CPU.

    Why not one gather of the whole epoch, then slices: it writes the epoch's copy out to memory
    and reads it back in the steps, three times the memory traffic of reading X's rows into a
    buffer that stays in cache (dense benchmark: a whole fit 1.1% slower, 40 paired runs).
    """

    def __init__(self, X: torch.Tensor, targets: torch.Tensor, order: BatchOrder) -> None:
        self.X, self.targets, self.order = X.numpy(), targets.numpy(), order
        b = order.batch_size
        self._ring = [(np.empty((b, *self.X.shape[1:]), self.X.dtype),
                       np.empty((b, *self.targets.shape[1:]), self.targets.dtype))
                      for _ in range(2)]
        self._tensors = [(torch.from_numpy(bx), torch.from_numpy(bt)) for bx, bt in self._ring]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rows, b = self.order.permutation(), self.order.batch_size  # the sampler's order
        for k, start in enumerate(range(0, len(rows), b)):
            idx = rows[start:start + b]
            (bx, bt), (tx, tt) = self._ring[k % 2], self._tensors[k % 2]
            m = len(idx)  # b, or fewer in the last batch
            # mode="clip": with mode="raise" NumPy gathers into a temporary first; the rows are
            # a permutation of range(n), so nothing is clipped
            np.take(self.X, idx, axis=0, out=bx[:m], mode="clip")
            np.take(self.targets, idx, axis=0, out=bt[:m], mode="clip")
            yield (tx, tt) if m == b else (tx[:m], tt[:m])


class TransformedDataset(Dataset):
    """``(transform(X[idx]), targets[idx])`` for a whole batch of indices ``idx`` at once (the
    loader's sampler yields index batches): X stays as stored (NumPy), ``transform`` returns the
    input tensor."""

    def __init__(self, X: np.ndarray, targets: torch.Tensor,
                 transform: Callable[[np.ndarray], torch.Tensor]) -> None:
        self.X, self.targets, self.transform = X, targets, transform

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.X[idx]), gather(self.targets, idx)


class Trainer(FitLoop):
    """Trains ``net`` with ``optim``; ``fit``, ``evaluate`` and their arguments:
    ``dlfs.fit.FitLoop``."""

    backend = "torch"
    network_class = NeuralNetwork
    optimizer_class = Optimizer

    def __init__(self, net: NeuralNetwork, optim: Optimizer, distributed: bool = False) -> None:
        """``distributed=True`` joins the process group torchrun's environment describes (a clear
        error showing the torchrun command when there is none; see ``torch_impl/distributed.py``).
        """
        super().__init__(net, optim, distributed)
        # the first torch.optim optimiser (and DistributedDataParallel) of a process imports
        # torch._dynamo, 1.3 s here: paid now, so that fit's time (samples/s) is training time
        importlib.import_module("torch._dynamo")
        self._model: torch.nn.Module = net.module
        self._parallel = DataParallel(net) if self.distributed else None
        if self._parallel is not None:
            self.is_main_process = self._parallel.rank == 0
            self.world_size = self._parallel.world

    def _targets(self, y: np.ndarray, out: np.ndarray) -> torch.Tensor:
        """``y`` as the loss's criterion takes it: int64 class indices for SoftmaxCrossEntropy
        (one-hot rows become their argmax), the network's float dtype for MSE. ``out`` is one output
        row, (1, ...)."""
        shape_like = torch.from_numpy(out).expand(len(y), *out.shape[1:])  # a view: no copy
        return self.net.loss._target(shape_like, y).to(self.net.device)

    def _batches(self, X: np.ndarray, y: np.ndarray, order: BatchOrder,
                 transform: Transform | None) -> DataLoader:
        net = self.net
        out = net.forward(X[:1] if transform is None else transform(X[:1]), training=False)
        self._opt = self.optim._ensure()
        # listed once: walking the modules costs ~30 us a step
        self._params = list(net.module.parameters())
        if transform is None:
            # X is fit's checked X_train: net.tensor would check its values again, a pass over
            # all of it (4 ms for 5,120 rows of 784) in every fit
            data: Dataset = BatchDataset(to_tensor(X, net.torch_dtype, net.device),
                                         self._targets(y, out))
        else:
            data = TransformedDataset(X, self._targets(y, out),
                                      lambda x: net.tensor("transform(x)", transform(x)))
        self._model, sampler = net.module, order
        if self._parallel is not None:  # this rank's slice of every batch, the DDP module
            sampler, self._model = self._parallel.sampler(order, y), self._parallel.model()
            self._fingerprint = fingerprint(X, y)
        elif isinstance(data, BatchDataset) and data.X.device.type == "cpu":
            return DataLoader(RingBatches(data.X, data.targets, order), batch_size=None)
        # batch_size=None: the sampler yields whole index batches and the dataset gathers each with
        # one index (no per-sample __getitem__ and collate, which dominate an epoch on small data)
        return DataLoader(data, sampler=sampler, batch_size=None)

    def _forward_backward(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        self._opt.zero_grad(set_to_none=True)
        if self._parallel is None:
            loss = self.net.loss.criterion(self._model(xb), yb)
            loss.backward()
            return loss.item()
        with self._parallel.sharded_masks():
            out = self._model(xb)
        return self._parallel.backward(self.net.loss.criterion(out, yb))

    def _update(self) -> None:
        self._opt.step()

    def _train_mode(self) -> None:
        self._model.train()

    def _loss_on(self, X: Any, y: np.ndarray) -> float:
        self.net.module.eval()
        with torch.no_grad():
            prediction = self.net.module(self.net.tensor("X", X))
            return float(self.net.loss.criterion(prediction, self.net.loss._target(prediction, y)))

    def _lr(self) -> float:
        return float(self._opt.param_groups[0]["lr"])

    def _params_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self._params)

    def _grad_norm(self) -> float:
        return global_grad_norm([p.grad for p in self._params if p.grad is not None])

    def _mask_streams(self) -> list[np.random.Generator]:
        return mask_streams(self.net)

    def _agreed(self, loss: float) -> float:
        return loss if self._parallel is None else self._parallel.agreed(loss)

    def _check_start(self, config: dict[str, Any], epoch: int, step: int) -> None:
        if self._parallel is not None:
            weights = fingerprint(*self.net.state_dict().values())
            self._parallel.check_start({**config, "epoch": epoch, "step": step,
                                        "data": self._fingerprint, "weights": weights})

    def _finish(self) -> None:
        if self._parallel is not None:  # the last checkpoint is on disk when fit returns
            self._parallel.barrier()

    def _rng_extra(self) -> dict[str, np.ndarray]:
        return {"torch_rng_state": torch.get_rng_state().numpy()}

    def _restore_rng_extra(self, extra: dict[str, np.ndarray]) -> None:
        if "torch_rng_state" in extra:  # absent when the scratch backend wrote the checkpoint
            torch.set_rng_state(torch.from_numpy(extra["torch_rng_state"]))
