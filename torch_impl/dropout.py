"""Dropout: an ``nn.Module`` that multiplies by a keep-mask drawn from a seeded NumPy stream.

Shapes: input, output and mask are all (batch, ...); dropout is elementwise.

Why not ``nn.Dropout``: it draws its masks from torch's global RNG, so a scratch and a torch network
trained "the same way" would drop different units and their trajectories could only be compared
statistically. ``MaskedDropout`` takes its mask from a source it is given (by default
``dlfs.training.dropout_mask`` on the layer's NumPy stream, the same draws the scratch backend
makes) and applies it as a plain multiplication, so autograd, ``train()``/``eval()`` and
``nn.Sequential`` work as with any module, and training with dropout is exactly reproducible
across the backends. With ``mask_source=None`` it is ``F.dropout`` on torch's own RNG.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlfs.errors import check_generator
from dlfs.training import check_dropout, dropout_mask
from torch_impl.base import TorchLayer

__all__ = ["Dropout"]

MaskSource = Callable[[tuple[int, ...], np.dtype], np.ndarray]


class MaskedDropout(nn.Module):
    """Inverted dropout with an injected keep-mask: ``x * mask_source(x.shape, dtype)`` in training.

    ``mask_source`` returns a NumPy array of ``x``'s shape holding ``1 / (1 - p)`` (kept) or 0
    (dropped). In ``eval()`` mode, or with ``p == 0``, the module is the identity.
    """

    def __init__(self, p: float, mask_source: MaskSource | None = None) -> None:
        super().__init__()
        self.p = check_dropout("MaskedDropout p", p)
        self.mask_source = mask_source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.mask_source is None:
            return F.dropout(x, self.p, training=True)
        mask = self.mask_source(tuple(x.shape), np.dtype(str(x.dtype).replace("torch.", "")))
        return x * torch.from_numpy(mask).to(x.device)

    def extra_repr(self) -> str:
        return f"p={self.p}, mask_source={'numpy' if self.mask_source is not None else 'torch'}"


class Dropout(TorchLayer):
    """Inverted dropout with drop probability p as a ``MaskedDropout`` fed from a NumPy stream.

    The keep-masks come from ``rng`` when given (a layer passes a child of its stream:
    ``Dropout(p, rng=self.rng.spawn(1)[0])`` and puts ``.module`` in its ``nn.Sequential``),
    otherwise from a child spawned at build time from ``self.rng``, the stream a ``NeuralNetwork``
    hands every layer: the same draws as the scratch backend's ``Dropout``.

    Parameters
    ----------
    p : float
        Drop probability in [0, 1); 0 is the identity.
    rng : np.random.Generator, optional
        The stream the masks are drawn from.
    """

    def __init__(self, p: float, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.p = check_dropout("Dropout p", p)
        self.mask_rng = check_generator("Dropout rng", rng)
        self.module = MaskedDropout(self.p, self._mask)

    def _setup_layer(self, x: torch.Tensor) -> None:
        if self.mask_rng is None:  # spawned at build, in layer order (scratch: at first forward)
            self.mask_rng = self.rng.spawn(1)[0]

    def _mask(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if self.mask_rng is None:
            self.mask_rng = self.rng.spawn(1)[0]
        return dropout_mask(self.mask_rng, shape, self.p, dtype)

    def _require_built(self, what: str) -> None:
        """No parameters: the (empty) state dict exists before the first input."""

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
