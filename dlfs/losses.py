"""What the two backends' losses share: their arguments (PyTorch's names and meanings) and the checks of
their targets and upstream gradients, so bad input reads the same in either backend.

``SoftmaxCrossEntropy(weight, ignore_index, label_smoothing, reduction, *, class_axis, probabilities)`` takes
``nn.CrossEntropyLoss``'s arguments; ``MeanSquaredError(reduction)`` takes ``nn.MSELoss``'s, plus the book's
``"batchmean"`` (the default). The formulas live in ``scratch/losses.py`` (written out) and
``torch_impl/losses.py`` (``F.cross_entropy``, ``F.mse_loss``); ``docs/conventions.md`` says what each option
means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlfs.errors import check_array, check_choice, describe
from dlfs.metrics import class_labels

CE_REDUCTIONS = ("mean", "sum", "none")
# "batchmean": the book's MSE, summed over everything and divided by the batch size (KLDivLoss's name for it)
MSE_REDUCTIONS = ("batchmean", "mean", "sum", "none")
CLASS_AXES = (-1, 1)  # classes last (dlfs's (N, ..., C)) or second (PyTorch's (N, C, d1, ..., dK))
DEFAULT_IGNORE_INDEX = -100  # PyTorch's default: no class index is negative, so nothing is ignored


def check_reduction(owner: str, reduction: Any, choices: tuple[str, ...]) -> str:
    """``reduction`` must be one of ``choices`` (the message suggests the closest)."""
    return check_choice(f"{owner} reduction", reduction, choices)


def check_label_smoothing(owner: str, value: Any) -> float:
    """Label smoothing is a number in [0, 1] (PyTorch's range; PyTorch ignores a negative value silently)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{owner} label_smoothing: expected a number in [0, 1], got {type(value).__name__} "
                        f"{value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{owner} label_smoothing: expected a value in [0, 1] (0: no smoothing, 1: the uniform "
                         f"distribution over the classes), got {value}")
    return float(value)


def check_ignore_index(owner: str, value: Any) -> int:
    """``ignore_index`` is an int (a class index, or a negative marker such as the default -100)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{owner} ignore_index: expected an int (the target value to skip), got "
                        f"{type(value).__name__} {value!r}")
    return int(value)


def check_class_weight(owner: str, weight: Any) -> np.ndarray | None:
    """Class weights: None, or a 1-D finite numeric array of C weights (C is checked against the logits in
    ``class_targets``). Negative weights are accepted, as by PyTorch. Returned as float64."""
    if weight is None:
        return None
    w = check_array(f"{owner} weight", weight)
    if w.ndim != 1 or w.size == 0 or w.dtype == bool:
        raise ValueError(f"{owner} weight: expected a 1-D array of class weights, one per class, got "
                         f"{describe(w)}")
    return w.astype(np.float64)


def check_class_axis(owner: str, value: Any) -> int:
    """The logits' class axis: -1 (dlfs's layout, classes last) or 1 (PyTorch's, classes second)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) not in CLASS_AXES:
        raise ValueError(f"{owner} class_axis: expected -1 (classes last: logits (N, ..., C), the layout of "
                         f"dlfs's sequence models) or 1 (PyTorch's layout (N, C, d1, ..., dK)), got {value!r}")
    return int(value)


def check_batch_prediction(owner: str, shape: tuple[int, ...]) -> None:
    """A batch-averaged loss's prediction must have a batch axis: one row per sample."""
    if len(shape) == 0:
        raise ValueError(f"{owner} prediction: expected an array of shape (batch, ...) with one row per sample, got "
                         f"a 0-D array (a single number; reshape one prediction with np.reshape(p, (1, 1)))")


def mse_targets(prediction_shape: tuple[int, ...], target: Any, reduction: str = "batchmean") -> np.ndarray:
    """Mean squared error's targets, validated: an array shaped like the prediction. ``"batchmean"`` (the book's
    reduction) needs a batch axis; PyTorch's reductions take any shape, a 0-D number too."""
    if reduction == "batchmean":
        check_batch_prediction("MeanSquaredError", prediction_shape)
    target = check_array("MeanSquaredError target", target)
    if target.shape != tuple(prediction_shape):
        hint = " (reshape y with y.reshape(-1, 1))" if target.ndim == 1 and len(prediction_shape) == 2 else ""
        raise ValueError(f"MeanSquaredError: target shape {target.shape} must equal prediction shape "
                         f"{tuple(prediction_shape)}{hint}")
    return target


@dataclass(frozen=True)
class ClassTargets:
    """Validated cross-entropy targets. ``labels``: int64 class indices shaped like the positions (the logits'
    shape without the class axis), ``ignore_index`` where a position is skipped; ``probabilities``: a float array
    shaped like the logits (``probabilities=True``, or one-hot rows, which are class probabilities in PyTorch's
    terms). One-hot rows set both."""

    labels: np.ndarray | None
    probabilities: np.ndarray | None


def class_targets(owner: str, target: Any, shape: tuple[int, ...], class_axis: int = -1,
                  ignore_index: int = DEFAULT_IGNORE_INDEX, probabilities: bool = False,
                  weight: np.ndarray | None = None) -> ClassTargets:
    """Softmax cross-entropy's targets for logits of ``shape``, validated.

    ``shape`` is (N, C), or (N, ..., C) with ``class_axis=-1``, or (N, C, d1, ..., dK) with ``class_axis=1``.
    ``target``: class indices shaped like the positions ((N,), (N, ...) / (N, d1, ..., dK)), in [0, C) or equal
    to ``ignore_index``; or one-hot rows shaped like the logits; or, with ``probabilities``, any float class
    probabilities shaped like the logits (PyTorch does not ask them to sum to 1). Only ``shape`` is read of the
    logits. ``weight`` (C,) is checked against C. Messages name ``"<owner> target"`` (``owner`` for the logits).
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2:
        layout = ("(batch, ..., classes), are accepted too" if class_axis == -1 else
                  "(batch, classes, d1, ..., dK), are accepted too")
        raise ValueError(f"{owner}: expected 2-D (batch, classes) logits, got {len(shape)}-D shape {shape} (logits "
                         f"of a sequence, {layout})")
    axis = class_axis % len(shape)
    C, positions = shape[axis], shape[:axis] + shape[axis + 1:]
    if C < 2:  # softmax over one class is 1 whatever the logit: loss 0 and no gradient, for ever
        raise ValueError(f"{owner}: expected logits over at least 2 classes, got C={C} (class axis {class_axis} of "
                         f"shape {shape}); a softmax over one class is 1 for every input, so the loss is 0 and "
                         f"nothing is learned (give the last layer one output per class, 2 for a yes/no target)")
    if weight is not None and len(weight) != C:
        raise ValueError(f"{owner} weight: expected C={C} class weights (one per class: the size of the logits' "
                         f"class axis {class_axis}, shape {shape}), got {len(weight)}")
    name = f"{owner} target"
    y = check_array(name, target)
    if probabilities:
        if y.shape != shape:
            raise ValueError(f"{name}: expected class probabilities shaped like the logits {shape} "
                             f"(probabilities=True), got {y.ndim}-D shape {y.shape}")
        if not np.issubdtype(y.dtype, np.floating):
            raise TypeError(f"{name}: class-probability targets (probabilities=True) must be a float array, got "
                            f"{describe(y)} (pass integer class indices with probabilities=False)")
        _no_ignore_index(owner, ignore_index, "class probabilities", positions)
        return ClassTargets(None, y)
    if y.dtype == bool and y.shape != shape:  # True/False are no class indices (one-hot rows of bool are fine)
        raise TypeError(f"{name}: expected integer class labels, got a bool array of shape {y.shape} (True/False); "
                        f"convert it with y.astype(np.int64) for the classes 0 and 1")
    if len(shape) == 2 and y.ndim == 2 and y.shape[1] == 1 and np.issubdtype(y.dtype, np.number):
        raise ValueError(f"{name}: got labels of shape {y.shape}, one column; class labels are 1-D, one per sample "
                         f"(flatten them to ({y.shape[0]},) with y.reshape(-1)), and 2-D labels are one-hot rows of "
                         f"C={C} columns")
    if len(shape) == 2:  # (N,) labels or (N, C) one-hot rows: class_labels says what is wrong
        labels = class_labels(name, y, C, shape[0], ignore=ignore_index)
        one_hot = y.ndim == 2
    elif y.shape == shape:  # one-hot along the class axis
        labels = class_labels(name, np.moveaxis(y, axis, -1).reshape(-1, C), C).reshape(positions)
        one_hot = True
    elif y.shape == positions:
        labels = class_labels(name, y.reshape(-1), C, ignore=ignore_index).reshape(positions)
        one_hot = False
    else:
        raise ValueError(f"{name}: expected integer class labels of shape {positions} (one per position of the "
                         f"logits {shape}) or one-hot labels of shape {shape}, got {y.ndim}-D shape {y.shape}")
    if not one_hot:
        return ClassTargets(labels, None)
    _no_ignore_index(owner, ignore_index, "one-hot rows (class probabilities in PyTorch's terms)", positions)
    return ClassTargets(labels, y if np.issubdtype(y.dtype, np.floating) else y.astype(np.float64))


def _no_ignore_index(owner: str, ignore_index: int, what: str, positions: tuple[int, ...]) -> None:
    if ignore_index != DEFAULT_IGNORE_INDEX:
        raise ValueError(f"{owner} ignore_index: ignore_index={ignore_index} needs class-index targets of shape "
                         f"{positions}, but the target is {what} shaped like the logits (as in PyTorch, which says "
                         f"'ignore_index is not supported for floating point target'); pass class indices, or "
                         f"leave ignore_index at its default {DEFAULT_IGNORE_INDEX}")


class Named:
    """``repr(obj) + suffix``, built only when an error message needs it (a loss's checks run every batch)."""

    def __init__(self, obj: Any, suffix: str = "") -> None:
        self.obj, self.suffix = obj, suffix

    def __repr__(self) -> str:
        return f"{self.obj!r}{self.suffix}"


def upstream_grad(owner: Any, output_grad: Any, reduction: str, loss_shape: tuple[int, ...]) -> np.ndarray | None:
    """``backward``'s ``output_grad`` (dL_total/dloss), validated: None (meaning 1) or a number for a scalar loss;
    for ``reduction="none"`` an array shaped like the per-element loss, required. ``owner`` is the loss (its repr
    names it in the messages)."""
    if reduction == "none":
        if output_grad is None:
            raise ValueError(f"{owner}.backward: reduction='none' gives one loss per element (shape {loss_shape}), "
                             f"so backward needs their upstream gradient: backward(output_grad) with output_grad of "
                             f"that shape. NeuralNetwork.train_batch and the Trainer train on a scalar loss: use "
                             f"reduction='mean' or 'sum' there")
        g = check_array(f"{owner}.backward output_grad", output_grad)
        if g.shape != tuple(loss_shape):
            raise ValueError(f"{owner}.backward: expected output_grad of shape {tuple(loss_shape)} (one per element "
                             f"of the loss, reduction='none'), got shape {g.shape}")
        return g
    if output_grad is None:
        return None
    g = check_array(f"{owner}.backward output_grad", output_grad)
    if g.shape != ():
        raise ValueError(f"{owner}.backward: the loss is a number (reduction={reduction!r}), so output_grad must be "
                         f"a number or a 0-D array, got shape {g.shape}")
    return g


def scalar_loss_needed(owner: str) -> ValueError:
    """The error of training (``criterion``, the Trainers) on a loss with ``reduction="none"``: a step
    differentiates one number. dlfs refuses rather than sums, so the learning rate keeps its meaning."""
    return ValueError(f"{owner}: training needs a scalar loss, but reduction='none' gives one per element; use "
                      f"reduction='mean' or 'sum' to train (forward and backward(output_grad) give the per-element "
                      f"losses and their gradient)")
