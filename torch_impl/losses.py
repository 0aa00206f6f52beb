"""Losses: PyTorch criteria behind the shared interface. ``criterion(pred, target)`` is the tensor
form the Trainer uses; ``forward``/``backward`` are the NumPy protocol."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlfs.errors import check_forward_called, check_layer_input
from dlfs.training import class_targets, mse_targets
from torch_impl.base import TORCH_DTYPES, to_numpy, to_tensor


class Loss:
    """``forward(prediction, target) -> float``; ``backward()`` returns dL/dprediction via
    autograd."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        checked = check_layer_input(f"{self!r} prediction", prediction)
        shape = tuple(np.shape(checked))  # kept as given: a 0-D prediction stays 0-D
        p = to_tensor(checked).reshape(shape).detach().clone().requires_grad_(True)
        t = self._target(p, target)
        self._p = p
        self._loss = self.criterion(p, t)
        return float(self._loss.detach())

    def backward(self) -> np.ndarray:
        check_forward_called(self, hasattr(self, "_loss"))
        (grad,) = torch.autograd.grad(self._loss, self._p)
        return to_numpy(grad)

    def check_target(self, prediction: np.ndarray, target: np.ndarray) -> None:
        """Validate ``target`` against ``prediction`` as ``forward`` does, without computing the
        loss.

        Only the prediction's shape and dtype are read (a zero-stride tensor of that shape stands
        for it), so a broadcast view of one output row stands for a whole data set (``Trainer.fit``
        checks every target up front this way).
        """
        dtype = TORCH_DTYPES.get(np.dtype(prediction.dtype).name, torch.float64)
        self._target(torch.zeros((), dtype=dtype).expand(*np.shape(prediction)), target)

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        return to_tensor(target)

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    """L = (1/N) sum_n sum_j (p_nj - y_nj)^2: ``nn.MSELoss(reduction="sum")`` divided by the batch
    size.

    The book's reduction; equal to ``nn.MSELoss()`` times the output width. Shapes: prediction and
    target (batch, out) (or (batch, ...): everything after the batch axis is summed).
    """

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        return to_tensor(mse_targets(tuple(prediction.shape), target), prediction.dtype)

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction, target, reduction="sum") / prediction.shape[0]


class SoftmaxCrossEntropy(Loss):
    """L = -(1/M) sum_m log softmax(z_m)[y_m]: ``nn.CrossEntropyLoss()`` (the mean over every
    position; it applies ``log_softmax`` itself, so the network ends in a Linear layer and its
    outputs are logits).

    Shapes: prediction z (N, C) logits, or (N, ..., C) with the class axis last (a sequence model's
    (batch, time, classes)); target (N, ...) integer labels in [0, C), or (N, ..., C) one-hot.
    Targets are validated as in the scratch backend and handed to the criterion as int64 class
    indices shaped (N, ...), the form ``CrossEntropyLoss`` is built for (one-hot rows become their
    argmax). ``CrossEntropyLoss`` wants the class axis second for more than two dimensions ((N, C,
    d1, ...)); dlfs keeps it last, as the network outputs it, so the criterion flattens the
    positions instead: ``cross_entropy(z.reshape(-1, C), y.reshape(-1))``, the same mean over the M
    positions.
    """

    def __init__(self) -> None:
        self.cross_entropy = nn.CrossEntropyLoss()

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        shape = tuple(prediction.shape)
        labels = class_targets("SoftmaxCrossEntropy", target, shape)
        return torch.from_numpy(labels.reshape(shape[:-1]))

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.ndim == 2:
            return self.cross_entropy(prediction, target)
        return self.cross_entropy(prediction.reshape(-1, prediction.shape[-1]), target.reshape(-1))
