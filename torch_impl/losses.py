"""Losses: PyTorch criteria behind the shared interface. ``criterion(pred, target)`` is the tensor form the
Trainer uses; ``forward``/``backward`` are the NumPy protocol."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlfs.errors import check_array, check_forward_called, check_layer_input
from dlfs.metrics import class_labels
from torch_impl.base import to_numpy, to_tensor


class Loss:
    """``forward(prediction, target) -> float``; ``backward()`` returns dL/dprediction via autograd."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        p = to_tensor(check_layer_input(f"{self!r} prediction", prediction)).detach().clone().requires_grad_(True)
        t = self._target(p, target)
        self._p = p
        self._loss = self.criterion(p, t)
        return float(self._loss.detach())

    def backward(self) -> np.ndarray:
        check_forward_called(self, hasattr(self, "_loss"))
        (grad,) = torch.autograd.grad(self._loss, self._p)
        return to_numpy(grad)

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        return to_tensor(target)

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    """L = (1/N) sum_n sum_j (p_nj - y_nj)^2: ``nn.MSELoss(reduction="sum")`` divided by the batch size.

    The book's reduction; equal to ``nn.MSELoss()`` times the output width. Shapes: prediction and target
    (batch, out).
    """

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        target = check_array("MeanSquaredError target", target)
        if tuple(target.shape) != tuple(prediction.shape):
            hint = " (reshape y with y.reshape(-1, 1))" if target.ndim == 1 and prediction.ndim == 2 else ""
            raise ValueError(f"MeanSquaredError: target shape {tuple(target.shape)} must equal prediction shape "
                             f"{tuple(prediction.shape)}{hint}")
        return to_tensor(target, prediction.dtype)

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction, target, reduction="sum") / prediction.shape[0]


class SoftmaxCrossEntropy(Loss):
    """L = -(1/N) sum_n log softmax(z_n)[y_n]: ``nn.CrossEntropyLoss()`` (mean over the batch; it applies
    ``log_softmax`` itself, so the network ends in a Linear layer and its outputs are logits).

    Shapes: prediction z (batch, C) logits; target (batch,) integer labels in [0, C) or (batch, C) one-hot.
    Targets are validated as in the scratch backend and handed to the criterion as int64 class indices, the
    form ``CrossEntropyLoss`` is built for (one-hot rows become their argmax).
    """

    def __init__(self) -> None:
        self.cross_entropy = nn.CrossEntropyLoss()

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        if prediction.ndim != 2:
            raise ValueError(f"SoftmaxCrossEntropy: expected 2-D (batch, classes) logits, got {prediction.ndim}-D "
                             f"shape {tuple(prediction.shape)}")
        labels = class_labels("SoftmaxCrossEntropy target", target, prediction.shape[1], prediction.shape[0])
        return torch.from_numpy(labels)

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.cross_entropy(prediction, target)
