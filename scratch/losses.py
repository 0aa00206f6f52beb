"""Losses (chapters 2 and 4): the loss of (prediction, target) and its gradient with respect to the
prediction, written out, with PyTorch's arguments (``nn.MSELoss``, ``nn.CrossEntropyLoss``; what
each means: ``docs/conventions.md``). g is the upstream gradient ``backward`` is given (default 1).

Mean squared error; D = N ("batchmean", the book's), p.size ("mean") or 1 ("sum"):

    L = sum (p - y)^2 / D                  ("none": (p - y)^2, one per element)
    dL/dp = 2 (p - y) g / D

Softmax cross-entropy at every position m (a sample, or a sample's time step or pixel) with logits
z_m over C classes and target distribution t_m (the one-hot of a class index y_m, or given class
probabilities); w the class weights, eps the label smoothing, keep_m = 0 where y_m = ignore_index:

    log p_m = z_m - max z_m - log sum_c exp(z_mc - max z_m)     log-softmax (log-sum-exp)
    t_m <- (1 - eps) t_m + eps / C                                label smoothing
    q_mc = w_c t_mc keep_m                                        weights; ignored positions: 0
    l_m = -sum_c q_mc log p_mc                                    the loss of position m
    L = sum_m l_m / D        "mean": D = sum_m keep_m w_(y_m), or M for probabilities; "sum": 1
    dL/dz_m = g_m (p_m sum_c q_mc - q_m) / D                      0 where keep_m = 0
"""

from __future__ import annotations

import numpy as np

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
    upstream_grad,
)


class Loss:
    """``forward(prediction, target)`` stores both and returns the loss: a float, or with
    ``reduction="none"`` an array of per-element losses. ``backward(output_grad=None)`` returns
    dL/dprediction; ``output_grad`` is the upstream gradient dL_total/dloss: a number (default 1)
    for a scalar loss, an array shaped like the per-element losses for ``reduction="none"``."""

    reduction = "mean"

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float | np.ndarray:
        prediction = check_layer_input(Named(self, " prediction"), prediction)
        target = self._check(prediction, target)
        self.prediction, self.target = prediction, target
        loss = self._output()
        self.loss_shape = np.shape(loss)
        return loss if self.reduction == "none" else float(loss)

    def backward(self, output_grad: np.ndarray | float | None = None) -> np.ndarray:
        check_forward_called(self, hasattr(self, "prediction"))
        g = upstream_grad(self, output_grad, self.reduction, self.loss_shape)
        dtype = self.prediction.dtype
        return self._input_grad(dtype.type(1.0) if g is None else g.astype(dtype, copy=False))

    def check_target(self, prediction: np.ndarray, target: np.ndarray) -> None:
        """Validate ``target`` against ``prediction`` as ``forward`` does, without computing the
        loss.

        Only the prediction's shape and dtype are read, so a broadcast view of one output row stands
        for a whole data set (``Trainer.fit`` checks every target up front this way).
        """
        self._check(prediction, target)

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> object:
        return target

    def _output(self) -> np.ndarray:
        raise NotImplementedError

    def _input_grad(self, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _options(self) -> dict[str, object]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """Mean squared error (chapter 2), reduced as ``reduction`` says (the module's equations):

    - ``"batchmean"`` (default, the book's): summed over the outputs and averaged over the batch,
      ``sum / N``; ``nn.MSELoss()`` times the output width;
    - ``"mean"`` (``nn.MSELoss()``'s default): averaged over every element, ``sum / p.size``;
    - ``"sum"``: summed over every element;
    - ``"none"``: ``(p - y)^2``, shaped like p.

    Shapes: prediction and target alike, (batch, ...); PyTorch's reductions take any shape, a 0-D
    number too, ``"batchmean"`` needs the batch axis. dL/dp shaped like p.
    """

    def __init__(self, reduction: str = "batchmean") -> None:
        self.reduction = check_reduction("MeanSquaredError", reduction, MSE_REDUCTIONS)

    def _options(self) -> dict[str, object]:
        return {} if self.reduction == "batchmean" else {"reduction": self.reduction}

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        target = mse_targets(prediction.shape, target, self.reduction)
        return target.astype(prediction.dtype, copy=False)

    def _denominator(self) -> int:
        if self.reduction == "batchmean":
            return self.prediction.shape[0]  # N
        return self.prediction.size if self.reduction == "mean" else 1

    def _output(self) -> np.ndarray:
        squared = (self.prediction - self.target) ** 2  # (p - y)^2, shaped like p
        if self.reduction == "none":
            return squared
        return np.sum(squared) / self._denominator()

    def _input_grad(self, g: np.ndarray) -> np.ndarray:
        return 2.0 * (self.prediction - self.target) * g / self._denominator()


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy (chapter 4) with ``nn.CrossEntropyLoss``'s arguments and meanings.

    The equations are the module's. ``weight`` (C,): class weights w (default 1; negative ones are
    accepted, as by PyTorch). ``ignore_index``: the class index whose positions are skipped
    (keep_m = 0; class-index targets only). ``label_smoothing``: eps in [0, 1]. ``reduction``:
    ``"mean"`` (default: the book's mean over the batch), ``"sum"`` (D = 1), ``"none"`` (l shaped
    like the positions; ``backward(output_grad)`` takes g of that shape).
    ``class_axis``: where the classes are: -1 (default) for (N, C) and (N, ..., C), the layout of
    dlfs's sequence models, or 1 for PyTorch's (N, C, d1, ..., dK).
    ``probabilities``: the target is class probabilities shaped like the logits (float, need not
    sum to 1); by default it is class indices shaped like the positions, (N,) / (N, ...), in
    [0, C) or ``ignore_index``, or one-hot rows shaped like the logits (class probabilities in
    PyTorch's terms: with weights, their mean divides by M, not by the weights of the targets).
    Shapes: logits z (N, C), (N, ..., C) or (N, C, d1, ..., dK); M positions; dL/dz like z.
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

    def _options(self) -> dict[str, object]:
        given = {"weight": None if self.weight is None else self.weight.tolist(),
                 "ignore_index": self.ignore_index, "label_smoothing": self.label_smoothing,
                 "reduction": self.reduction, "class_axis": self.class_axis,
                 "probabilities": self.probabilities}
        default = {"weight": None, "ignore_index": DEFAULT_IGNORE_INDEX, "label_smoothing": 0.0,
                   "reduction": "mean", "class_axis": -1, "probabilities": False}
        return {k: v for k, v in given.items() if v != default[k]}

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> object:
        return class_targets("SoftmaxCrossEntropy", target, prediction.shape, self.class_axis,
                             self.ignore_index, self.probabilities, self.weight)

    def _output(self) -> np.ndarray:
        z = _classes_last(self.prediction, self.class_axis)  # (N, ..., C)
        self.positions, C = z.shape[:-1], z.shape[-1]
        z = z.reshape(-1, C)  # (M, C): one row per position
        # log-softmax by log-sum-exp: the row's largest logit becomes 0, so exp() stays in (0, 1]
        shifted = z - z.max(axis=1, keepdims=True)
        self.log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        t, y, self.keep = self._distribution(C, z.dtype)  # t (M, C); y, keep (M,)
        eps = self.label_smoothing
        t = (1 - eps) * t + eps / C  # label smoothing: mix in the uniform distribution
        w = np.ones(C, z.dtype) if self.weight is None else self.weight.astype(z.dtype)
        self.q = w * t * self.keep[:, None]  # class weights; an ignored position weighs nothing
        losses = -(self.q * self.log_p).sum(axis=1)  # (M,): the cross-entropy of each position
        self.denominator = z.dtype.type(1.0)  # "sum" and "none"
        if self.reduction == "none":
            return losses.reshape(self.positions)
        if self.reduction == "mean":  # the weight of the targets counted (N for the book), or M
            self.denominator = w[y[self.keep]].sum() if y is not None else z.dtype.type(len(z))
        with np.errstate(divide="ignore", invalid="ignore"):  # all ignored: 0 / 0 = NaN, as torch
            return losses.sum() / self.denominator

    def _distribution(self, C: int, dtype: np.dtype
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The target distribution t (M, C), the class indices y (M,) (None for probabilities) and
        the kept positions (M,) (those whose index is not ``ignore_index``)."""
        if self.target.probabilities is not None:  # probabilities (or one-hot rows) given
            t = _classes_last(self.target.probabilities, self.class_axis).reshape(-1, C)
            return t.astype(dtype, copy=False), None, np.ones(len(t), dtype=bool)
        y = self.target.labels.reshape(-1)  # (M,) class indices
        t = (y[:, None] == np.arange(C)).astype(dtype)  # one-hot of y_m
        return t, y, y != self.ignore_index

    def _input_grad(self, g: np.ndarray) -> np.ndarray:
        p = np.exp(self.log_p)  # softmax(z), (M, C)
        grad = p * self.q.sum(axis=1, keepdims=True) - self.q  # d l_m / d z_m
        g = g.reshape(-1, 1) if self.reduction == "none" else g  # per position, or one number
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = grad * g / self.denominator
        grad[~self.keep] = 0.0  # ignored positions: no gradient (also when all are, and D = 0)
        grad = grad.reshape(*self.positions, -1)  # (N, ..., C)
        return grad if self.class_axis == -1 else np.moveaxis(grad, -1, self.class_axis)


def _classes_last(a: np.ndarray, class_axis: int) -> np.ndarray:
    """``a`` with its class axis moved last: (N, C, d1, ..., dK) -> (N, d1, ..., dK, C)."""
    return a if class_axis == -1 else np.moveaxis(a, class_axis, -1)
