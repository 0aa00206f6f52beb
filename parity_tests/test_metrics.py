"""``dlfs.metrics`` against scikit-learn: accuracy, confusion matrix, MAE, RMSE; and their clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from dlfs.metrics import accuracy, class_labels, confusion_matrix, mae, rmse

rng = np.random.default_rng(41)
LOGITS = rng.standard_normal((50, 4))
Y = rng.integers(0, 4, 50)


def test_accuracy_from_logits_labels_and_one_hot():
    ref = skm.accuracy_score(Y, LOGITS.argmax(1))
    assert 0 < ref < 1
    assert accuracy(LOGITS, Y) == ref
    assert accuracy(LOGITS, np.eye(4)[Y]) == ref
    assert accuracy(LOGITS.argmax(1), Y) == ref
    assert accuracy(Y, Y) == 1.0


def test_confusion_matrix_matches_sklearn():
    cm = confusion_matrix(LOGITS, Y, 4)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(Y, LOGITS.argmax(1), labels=range(4)))
    assert cm.dtype == np.int64 and cm.sum() == 50
    # a class never predicted nor present still gets its row and column
    cm6 = confusion_matrix(LOGITS.argmax(1), Y, 6)
    assert cm6.shape == (6, 6) and cm6[4:].sum() == 0 and cm6[:, 4:].sum() == 0


def test_mae_rmse_match_sklearn():
    p, t = rng.standard_normal(30), rng.standard_normal(30)
    assert mae(p, t) == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-14)
    assert rmse(p, t) == pytest.approx(np.sqrt(skm.mean_squared_error(t, p)), rel=1e-14)
    # a (N, 1) prediction against (N,) targets is the same column, not an (N, N) broadcast
    assert mae(p[:, None], t) == mae(p, t) and rmse(p, t[:, None]) == rmse(p, t)
    P, Tm = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    assert mae(P, Tm) == pytest.approx(skm.mean_absolute_error(Tm, P), rel=1e-14)


# --- bad input -------------------------------------------------------------------------------------------------
def test_accuracy_errors():
    with pytest.raises(ValueError, match=r"y: expected 50 labels \(one per prediction row\), got 49"):
        accuracy(LOGITS, Y[:49])
    with pytest.raises(ValueError, match=r"y: one-hot labels must have C=4 columns .* got shape \(50, 3\)"):
        accuracy(LOGITS, np.eye(3)[Y % 3])
    with pytest.raises(ValueError, match=r"y: class labels must lie in \[0, 4\) .* got min \d and max 7"):
        accuracy(LOGITS, np.where(Y == 0, 7, Y))
    with pytest.raises(ValueError, match=r"pred: expected scores of shape \(N, C\) or labels of shape \(N,\), got 3-D"):
        accuracy(LOGITS[:, :, None], Y)
    with pytest.raises(ValueError, match="y: 2-D labels must be one-hot"):
        accuracy(LOGITS, np.full((50, 4), 0.25))


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match=r"pred: class labels must lie in \[0, 3\)"):
        confusion_matrix(LOGITS.argmax(1), Y, 3)
    with pytest.raises(ValueError, match=r"pred: expected scores with num_classes=5 columns, got shape \(50, 4\)"):
        confusion_matrix(LOGITS, Y, 5)
    with pytest.raises(ValueError, match=r"num_classes: expected a positive int \(>= 1\), got 0"):
        confusion_matrix(LOGITS, Y, 0)
    with pytest.raises(TypeError, match="pred: expected integer class labels"):
        confusion_matrix(np.array([0.5, 1.0]), np.array([0, 1]), 2)


def test_regression_errors():
    with pytest.raises(ValueError, match=r"pred and y must have the same shape, got \(5,\) and \(4,\)"):
        mae(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match=r"pred and y must have the same shape, got \(4, 2\) and \(8,\)"):
        rmse(np.zeros((4, 2)), np.zeros(8))
    with pytest.raises(ValueError, match="y: expected finite values, got 1 NaN"):
        rmse(np.zeros(3), np.array([0.0, np.nan, 1.0]))


def test_class_labels_without_a_class_count():
    np.testing.assert_array_equal(class_labels("y", np.array([2.0, 0.0, 5.0])), [2, 0, 5])
    with pytest.raises(ValueError, match=r"y: class labels must lie in >= 0, got min -2"):
        class_labels("y", np.array([1, -2]))
