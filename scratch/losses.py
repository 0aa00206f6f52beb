"""Losses (chapter 2): a scalar of (prediction, target) and its gradient with respect to the prediction."""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_array


class Loss:
    """``forward(prediction, target) -> float`` stores both; ``backward()`` returns dL/dprediction."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        target = self._check(prediction, target)
        self.prediction, self.target = prediction, target
        return float(self._output())

    def backward(self) -> np.ndarray:
        return self._input_grad()

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        return target

    def _output(self) -> float:
        raise NotImplementedError

    def _input_grad(self) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    """L = (1/N) sum_n sum_j (p_nj - y_nj)^2: squared error summed over outputs, averaged over the batch.

    This is the book's reduction. It equals ``nn.MSELoss()`` times the output width (the same for one
    output). Shapes: prediction and target (batch, out); dL/dp = 2 (p - y) / N.
    """

    def _check(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        target = check_array("MeanSquaredError target", target)
        if target.shape != prediction.shape:
            hint = " (reshape y with y.reshape(-1, 1))" if target.ndim == 1 and prediction.ndim == 2 else ""
            raise ValueError(f"MeanSquaredError: target shape {target.shape} must equal prediction shape "
                             f"{prediction.shape}{hint}")
        return target.astype(prediction.dtype, copy=False)

    def _output(self) -> float:
        return np.sum((self.prediction - self.target) ** 2) / self.prediction.shape[0]

    def _input_grad(self) -> np.ndarray:
        return 2.0 * (self.prediction - self.target) / self.prediction.shape[0]
