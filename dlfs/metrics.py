"""Metrics shared by both backends, on NumPy arrays: classification accuracy and the confusion matrix, and
the regression errors MAE and RMSE. Also ``class_labels``, the one place where class labels are validated
(the softmax cross-entropy losses of both backends use it, so a bad label reads the same in either).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlfs.errors import check_array, check_positive_int, describe


def class_labels(name: str, y: Any, num_classes: int | None = None, n: int | None = None,
                 ignore: int | None = None) -> np.ndarray:
    """Integer class labels from integer labels or one-hot rows, validated.

    Parameters
    ----------
    name : str
        What the labels are called in error messages (``"y"``, ``"SoftmaxCrossEntropy target"``).
    y : array-like, shape (N,) or (N, C)
        Integer labels in ``[0, C)`` (a float array of whole numbers is accepted), or one-hot rows: a single
        1 per row, zeros elsewhere.
    num_classes : int, optional
        C, when known (the width of a prediction). Labels must lie in ``[0, C)``; one-hot rows must be C wide.
    n : int, optional
        The number of labels expected (the rows of a prediction).
    ignore : int, optional
        A label value that marks a sample to skip (a loss's ``ignore_index``): exempt from the range check.

    Returns
    -------
    np.ndarray, shape (N,), int64
        The class index of every sample (``ignore`` where it is skipped).

    Raises
    ------
    ValueError
        Wrong rank or length, a one-hot width other than C, 2-D rows that are not one-hot, labels outside
        ``[0, C)``, or non-integer label values.
    TypeError
        A non-numeric array.
    """
    y = check_array(name, y)
    if y.ndim not in (1, 2):
        raise ValueError(f"{name}: expected integer class labels of shape (N,) or one-hot labels of shape (N, C), "
                         f"got {y.ndim}-D shape {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"{name}: expected {n} labels (one per prediction row), got {len(y)}")
    if y.ndim == 2:
        if num_classes is not None and y.shape[1] != num_classes:
            raise ValueError(f"{name}: one-hot labels must have C={num_classes} columns (the prediction's width, "
                             f"one per class), got shape {y.shape}")
        ones, zeros = (y == 1), (y == 0)
        bad = ~((ones | zeros).all(axis=1) & (ones.sum(axis=1) == 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}: 2-D labels must be one-hot (a single 1 per row, zeros elsewhere); "
                             f"{int(bad.sum())} of {len(y)} rows are not, e.g. row {i}: {np.array2string(y[i])[:80]}"
                             f" (pass integer labels of shape (N,) instead, or one-hot encode them)")
        return np.argmax(y, axis=1).astype(np.int64)
    if not np.issubdtype(y.dtype, np.integer):
        if y.dtype == bool or not np.all(y == np.round(y)):
            raise TypeError(f"{name}: expected integer class labels, got {describe(y)} with non-integer values")
    labels = y.astype(np.int64)
    counted = labels if ignore is None else labels[labels != ignore]
    if counted.size:
        lo, hi = int(counted.min()), int(counted.max())
        top = num_classes if num_classes is not None else None
        if lo < 0 or (top is not None and hi >= top):
            where = f"[0, {top})" if top is not None else ">= 0"
            why = f" for C={top} classes (the prediction's width)" if top is not None else ""
            skip = f"; a label equal to ignore_index={ignore} is skipped" if ignore is not None else ""
            raise ValueError(f"{name}: class labels must lie in {where}{why}, got min {lo} and max {hi}{skip}")
    return labels


def predicted_classes(out: np.ndarray) -> np.ndarray:
    """The argmax of a network's output over its last axis: (n, C) -> (n,) int64, per position for a sequence
    model's (n, T, C); both backends' ``NeuralNetwork.predict_classes``. Needs C >= 2."""
    if out.shape[-1] < 2:
        raise ValueError(f"NeuralNetwork.predict_classes: the network gives {out.shape[-1]} output per sample, "
                         f"and the argmax of one value is always class 0; threshold predict(X) instead")
    return np.argmax(out, axis=-1).astype(np.int64)


def _predicted_labels(pred: Any) -> tuple[np.ndarray, int | None]:
    """Predicted labels (N,) from scores (N, C) (argmax) or labels (N,); and C when scores give it."""
    pred = check_array("pred", pred)
    if pred.ndim == 2:
        return np.argmax(pred, axis=1).astype(np.int64), pred.shape[1]
    if pred.ndim == 1:
        return class_labels("pred", pred), None
    raise ValueError(f"pred: expected scores of shape (N, C) or labels of shape (N,), got {pred.ndim}-D shape "
                     f"{pred.shape}")


def accuracy(pred: Any, y: Any) -> float:
    """The fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    pred : array-like, shape (N, C) or (N,)
        Scores (logits or probabilities: the argmax is the prediction) or predicted labels.
    y : array-like, shape (N,) or (N, C)
        True labels, integer or one-hot.

    Returns
    -------
    float
        In [0, 1].
    """
    p, c = _predicted_labels(pred)
    t = class_labels("y", y, c, len(p))
    if len(p) == 0:
        raise ValueError("accuracy: expected at least one sample, got 0")
    return float(np.mean(p == t))


def confusion_matrix(pred: Any, y: Any, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs, as ``sklearn.metrics.confusion_matrix``.

    Parameters
    ----------
    pred : array-like, shape (N, C) or (N,)
        Scores or predicted labels.
    y : array-like, shape (N,) or (N, C)
        True labels, integer or one-hot.
    num_classes : int
        C; every label must lie in ``[0, C)``.

    Returns
    -------
    np.ndarray, shape (C, C), int64
        Entry ``[i, j]`` counts samples of true class i predicted as class j.
    """
    C = check_positive_int("num_classes", num_classes)
    p, c = _predicted_labels(pred)
    if c is not None and c != C:
        raise ValueError(f"pred: expected scores with num_classes={C} columns, got shape {np.shape(pred)}")
    p = class_labels("pred", p, C)
    t = class_labels("y", y, C, len(p))
    return np.bincount(t * C + p, minlength=C * C).reshape(C, C).astype(np.int64)


def _regression_pair(pred: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``y`` as float arrays of one shape; (N,) and (N, 1) are the same column."""
    pred, y = check_array("pred", pred), check_array("y", y)
    if pred.shape != y.shape:
        if pred.size == y.size and len(pred) == len(y) and max(pred.ndim, y.ndim) <= 2 and pred.size == len(y):
            pred, y = pred.reshape(-1), y.reshape(-1)
        else:
            raise ValueError(f"pred and y must have the same shape, got {pred.shape} and {y.shape}")
    if pred.size == 0:
        raise ValueError("pred and y: expected at least one value, got none")
    return pred.astype(np.float64), y.astype(np.float64)


def mae(pred: Any, y: Any) -> float:
    """Mean absolute error ``mean |pred - y|``. Shapes: equal, or (N,) against (N, 1)."""
    p, t = _regression_pair(pred, y)
    return float(np.mean(np.abs(p - t)))


def rmse(pred: Any, y: Any) -> float:
    """Root mean squared error ``sqrt(mean (pred - y)^2)``. Shapes: equal, or (N,) against (N, 1)."""
    p, t = _regression_pair(pred, y)
    return float(np.sqrt(np.mean((p - t) ** 2)))
