"""Data parallelism's split of every global batch, backend-neutral (the torch backend's ``torch.distributed``
training uses it; ``docs/distributed.md``).

``BatchOrder`` gives the global batches, the same on every process (one seeded NumPy generator each, with the
same seed). Process ``rank`` of ``world`` takes a contiguous slice of each: rows ``[lo, hi)`` with the first
``size % world`` processes one row more (``np.array_split``'s split), so a batch of 60 on 2 processes is rows
0-29 and 30-59, and the epoch's last batch of 27 is 0-13 and 14-26. A slice's loss is a mean over its own rows;
weighted by ``weight = rows / size`` (``Shard.weight``) the slices' losses sum to the global batch's mean, and
so do their gradients, whether or not the world size divides the batch. Every process must get at least one
row of every batch: ``check_shardable`` refuses a batch size (or a last batch) smaller than the world size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dlfs.errors import check_positive_int


def shard_bounds(size: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``size`` rows that process ``rank`` of ``world`` takes."""
    base, extra = divmod(size, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def check_shardable(n: int, batch_size: int, world: int) -> None:
    """Every global batch of ``BatchOrder(n, batch_size)`` must give each of ``world`` processes a row."""
    check_positive_int("world size", world)
    last = n % batch_size
    smallest = min(batch_size, last) if last else batch_size
    if smallest < world:
        which = (f"batch_size={batch_size}" if smallest == batch_size else
                 f"the last batch of every epoch ({n} samples = {n // batch_size} x {batch_size} + {last})")
        raise ValueError(f"distributed: {which} has {smallest} sample(s), fewer than the {world} processes: each "
                         f"process needs at least one sample of every batch; choose a batch size of at least "
                         f"{world} whose remainder n % batch_size is 0 or at least {world}, or fewer processes")


@dataclass(frozen=True)
class Shard:
    """This process's rows ``[lo, hi)`` of a global batch of ``size`` rows."""

    lo: int
    hi: int
    size: int

    @property
    def weight(self) -> float:
        """The slice's share of a mean over the global batch: ``rows / size``."""
        return (self.hi - self.lo) / self.size


class ShardedOrder:
    """The batches of ``order`` (a ``BatchOrder``), each cut to process ``rank``'s rows; ``shard`` is the
    ``Shard`` of the batch most recently yielded. A valid ``sampler`` for ``torch.utils.data.DataLoader``
    (``batch_size=None``: it yields index lists); without workers the loader fetches each batch right
    after drawing its indices, so ``shard`` describes the batch the loop holds."""

    def __init__(self, order: Iterable[list[int]], rank: int, world: int) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank: expected 0 <= rank < world size {world}, got {rank}")
        self.order, self.rank, self.world = order, rank, world
        self.shard = Shard(0, 0, 1)

    def __iter__(self) -> Iterator[list[int]]:
        for idx in self.order:
            lo, hi = shard_bounds(len(idx), self.rank, self.world)
            self.shard = Shard(lo, hi, len(idx))
            yield idx[lo:hi]

    def __len__(self) -> int:
        return len(self.order)  # type: ignore[arg-type]
