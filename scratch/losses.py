"""Losses (chapters 2 and 4): a scalar of (prediction, target) and its gradient with respect to the
prediction."""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_forward_called, check_layer_input
from dlfs.training import class_targets, mse_targets


class Loss:
    """``forward(prediction, target) -> float`` stores both; ``backward()`` returns
    dL/dprediction."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        prediction = check_layer_input(f"{self!r} prediction", prediction)
        target = self._check(prediction, target)
        self.prediction, self.target = prediction, target
        return float(self._output())

    def backward(self) -> np.ndarray:
        check_forward_called(self, hasattr(self, "prediction"))
        return self._input_grad()

    def check_target(self, prediction: np.ndarray, target: np.ndarray) -> None:
        """Validate ``target`` against ``prediction`` as ``forward`` does, without computing the
        loss.

        Only the prediction's shape and dtype are read, so a broadcast view of one output row stands
        for a whole data set (``Trainer.fit`` checks every target up front this way).
        """
        self._check(prediction, target)

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        return target

    def _output(self) -> float:
        raise NotImplementedError

    def _input_grad(self) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    """L = (1/N) sum_n sum_j (p_nj - y_nj)^2: squared error summed over outputs, averaged over the
    batch.

    This is the book's reduction. It equals ``nn.MSELoss()`` times the output width (the same for
    one output). Shapes: prediction and target (batch, out) (or (batch, ...): everything after the
    batch axis is summed); dL/dp = 2 (p - y) / N.
    """

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        return mse_targets(prediction.shape, target).astype(prediction.dtype, copy=False)

    def _output(self) -> float:
        return np.sum((self.prediction - self.target) ** 2) / self.prediction.shape[0]

    def _input_grad(self) -> np.ndarray:
        return 2.0 * (self.prediction - self.target) / self.prediction.shape[0]


class SoftmaxCrossEntropy(Loss):
    """L = -(1/M) sum_m log softmax(z_m)[y_m]: the mean over every position m of the negative
    log-probability that the softmax of the logits gives the true class (chapter 4). Equal to
    ``nn.CrossEntropyLoss()`` on the positions flattened: ``(z.reshape(-1, C), y.reshape(-1))``.

    Shapes: prediction z (N, C) logits, or (N, ..., C) with the class axis last (a sequence model's
    (batch, time, classes)); target (N, ...) integer labels in [0, C), or (N, ..., C) one-hot. M is
    the number of positions (N, or N times the sizes of the middle axes).
    dL/dz = (softmax(z) - onehot(y)) / M, shaped like z. The log-softmax is computed as
    ``z - max z - log sum exp(z - max z)`` (log-sum-exp): no exp overflows, no log(0), so logits of
    +-1e3 give finite numbers without the book's clipping of probabilities.
    """

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        return class_targets("SoftmaxCrossEntropy", target, prediction.shape)

    def _output(self) -> float:
        z = self.prediction.reshape(-1, self.prediction.shape[-1])  # (M, C): one row per position
        shifted = z - z.max(axis=1, keepdims=True)  # the largest logit is 0: exp() stays in (0, 1]
        self.log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(len(z))
        return -self.log_p[rows, self.target].sum() / len(z)

    def _input_grad(self) -> np.ndarray:
        grad = np.exp(self.log_p)  # softmax(z), (M, C)
        grad[np.arange(len(grad)), self.target] -= 1.0  # minus the one-hot target
        return (grad / len(grad)).reshape(self.prediction.shape)
