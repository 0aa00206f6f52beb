"""Losses: PyTorch's criteria behind the shared interface, with their arguments. ``criterion(pred,
target)`` is the scalar tensor a training step differentiates (the Trainer's); ``forward`` and
``backward(output_grad=None)`` are the NumPy protocol. What each option means:
``docs/conventions.md``."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dlfs.errors import check_flag, check_forward_called, check_layer_input
from dlfs.losses import (
    CE_REDUCTIONS,
    DEFAULT_IGNORE_INDEX,
    MSE_REDUCTIONS,
    Named,
    check_class_axis,
    check_class_weight,
    check_ignore_index,
    check_label_smoothing,
    check_reduction,
    class_targets,
    mse_targets,
    scalar_loss_needed,
    upstream_grad,
)
from torch_impl.base import TORCH_DTYPES, to_numpy, to_tensor


class Loss:
    """``forward(prediction, target)`` returns the loss (a float, or with ``reduction="none"`` an
    array of per-element losses); ``backward(output_grad=None)`` returns dL/dprediction by autograd,
    with ``output_grad`` as the upstream gradient (a number for a scalar loss, an array shaped like
    the per-element losses for ``reduction="none"``)."""

    reduction = "mean"

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        checked = check_layer_input(Named(self, " prediction"), prediction)
        shape = tuple(np.shape(checked))  # kept as given: a 0-D prediction stays 0-D
        p = to_tensor(checked).reshape(shape).detach().clone().requires_grad_(True)
        t = self._target(p, target)
        self._p = p
        self._loss = self._loss_of(p, t)
        value = self._loss.detach()
        return to_numpy(value) if self.reduction == "none" else float(value)

    def backward(self, output_grad: np.ndarray | float | None = None) -> np.ndarray:
        check_forward_called(self, hasattr(self, "_loss"))
        g = upstream_grad(self, output_grad, self.reduction, tuple(self._loss.shape))
        g_out = None if g is None else to_tensor(g, self._p.dtype).reshape(self._loss.shape)
        (grad,) = torch.autograd.grad(self._loss, self._p, grad_outputs=g_out, retain_graph=True)
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

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The scalar loss of a training step (``target`` as ``_target`` makes it); refused for
        ``reduction="none"``, which gives no single number to differentiate."""
        if self.reduction == "none":
            raise scalar_loss_needed(f"{self!r}.criterion")
        return self._loss_of(prediction, target)

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        """``target`` as the criterion takes it, on the prediction's device."""
        return to_tensor(target, device=prediction.device)

    def _loss_of(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _options(self) -> dict[str, object]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """``F.mse_loss`` (``nn.MSELoss``) with PyTorch's reductions ``"mean"``, ``"sum"``, ``"none"``,
    and the book's ``"batchmean"`` (default): ``F.mse_loss(p, y, reduction="sum") / N``, the squared
    error summed over the outputs and averaged over the batch (``nn.MSELoss()`` times the output
    width). Shapes: prediction and target alike, (batch, ...) (a 0-D number too, except for
    ``"batchmean"``, which needs the batch axis).
    """

    def __init__(self, reduction: str = "batchmean") -> None:
        self.reduction = check_reduction("MeanSquaredError", reduction, MSE_REDUCTIONS)

    def _options(self) -> dict[str, object]:
        return {} if self.reduction == "batchmean" else {"reduction": self.reduction}

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        target = mse_targets(tuple(prediction.shape), target, self.reduction)
        # reshaped: a 0-D target stays 0-D
        return to_tensor(target, prediction.dtype, prediction.device).reshape(prediction.shape)

    def _loss_of(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.reduction == "batchmean":
            return F.mse_loss(prediction, target, reduction="sum") / prediction.shape[0]
        return F.mse_loss(prediction, target, reduction=self.reduction)


class SoftmaxCrossEntropy(Loss):
    """``F.cross_entropy`` (``nn.CrossEntropyLoss``) on the logits, with its arguments: ``weight``
    (C,), ``ignore_index``, ``label_smoothing``, ``reduction`` (default ``"mean"``, the book's mean
    over the batch). It applies ``log_softmax`` itself, so the network ends in a Linear layer.

    ``class_axis=-1`` (default): logits (N, C) or (N, ..., C), classes last as dlfs's sequence
    models output them; the positions are flattened, ``cross_entropy(z.reshape(-1, C), ...)``
    (the same losses as PyTorch's (N, C, d1, ...), and bit for bit those of the 2-D call).
    ``class_axis=1``: PyTorch's layout (N, C, d1, ..., dK), passed as it is.
    Targets are validated as in the scratch backend: class indices shaped like the positions become
    int64; ``probabilities=True`` targets, float, shaped like the logits, go as they are; one-hot
    rows become their class indices when there are no class weights (the same loss, and the same
    numbers as integer labels), and stay class probabilities when there are (PyTorch's meaning:
    their mean divides by M, not by the weights of the targets).
    """

    def __init__(self, weight: np.ndarray | None = None, ignore_index: int = DEFAULT_IGNORE_INDEX,
                 label_smoothing: float = 0.0, reduction: str = "mean", *, class_axis: int = -1,
                 probabilities: bool = False) -> None:
        name = "SoftmaxCrossEntropy"
        self.weight = check_class_weight(name, weight)
        self.ignore_index = check_ignore_index(name, ignore_index)
        self.label_smoothing = check_label_smoothing(name, label_smoothing)
        self.reduction = check_reduction(name, reduction, CE_REDUCTIONS)
        self.class_axis = check_class_axis(name, class_axis)
        self.probabilities = check_flag(f"{name} probabilities", probabilities)
        # the class weights in each dtype and on each device
        self._weights: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    def _options(self) -> dict[str, object]:
        given = {"weight": None if self.weight is None else self.weight.tolist(),
                 "ignore_index": self.ignore_index, "label_smoothing": self.label_smoothing,
                 "reduction": self.reduction, "class_axis": self.class_axis,
                 "probabilities": self.probabilities}
        default = {"weight": None, "ignore_index": DEFAULT_IGNORE_INDEX, "label_smoothing": 0.0,
                   "reduction": "mean", "class_axis": -1, "probabilities": False}
        return {k: v for k, v in given.items() if v != default[k]}

    def _target(self, prediction: torch.Tensor, target: np.ndarray) -> torch.Tensor:
        t = class_targets("SoftmaxCrossEntropy", target, tuple(prediction.shape), self.class_axis,
                          self.ignore_index, self.probabilities, self.weight)
        if t.labels is not None and (t.probabilities is None or self.weight is None):
            return to_tensor(t.labels, device=prediction.device)
        return to_tensor(t.probabilities, prediction.dtype, prediction.device)

    def _class_weight(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        if self.weight is None:
            return None
        if (dtype, device) not in self._weights:
            self._weights[dtype, device] = to_tensor(self.weight, dtype, device)
        return self._weights[dtype, device]

    def _loss_of(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        options = dict(weight=self._class_weight(prediction.dtype, prediction.device),
                       ignore_index=self.ignore_index,
                       label_smoothing=self.label_smoothing, reduction=self.reduction)
        if self.class_axis == 1 or prediction.ndim == 2:  # (N, C) or PyTorch's (N, C, d1, ...)
            return F.cross_entropy(prediction, target, **options)
        C = prediction.shape[-1]  # classes last: one row per position
        flat = target.reshape(-1, C) if target.is_floating_point() else target.reshape(-1)
        loss = F.cross_entropy(prediction.reshape(-1, C), flat, **options)
        return loss.reshape(prediction.shape[:-1]) if self.reduction == "none" else loss
