"""scikit-learn referees linear regression: both backends, trained by gradient descent as ``Dense(1, Linear)``,
reach ``LinearRegression``'s coefficients and test MAE / RMSE (within 1%) on diabetes and on Boston."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import dlfs
from dlfs.data import book_regression_split, load_boston, load_diabetes
from dlfs.tolerances import Tol
from study.parity import compare


def _data(name):
    X, y = load_boston() if name == "boston" else load_diabetes()
    return book_regression_split(X, y)


def _mae_rmse(pred, y):
    e = pred.ravel() - y.ravel()
    return float(np.mean(np.abs(e))), float(np.sqrt(np.mean(e**2)))


# full-batch gradient descent; lr below 1 / lambda_max(X^T X / n) (6.2 on Boston, 4.1 on diabetes), and enough
# steps for the smallest eigen-direction (0.069 and 0.0086) to converge
GD = {"boston": (0.1, 1500), "diabetes": (0.2, 2500)}


@pytest.mark.parametrize("dataset", ["boston", "diabetes"])
def test_gradient_descent_reaches_sklearn(B, dataset):
    X_train, X_test, y_train, y_test = _data(dataset)
    sk = LinearRegression().fit(X_train, y_train)
    sk_mae, sk_rmse = _mae_rmse(sk.predict(X_test), y_test)
    net = B.NeuralNetwork([B.Dense(1, B.Linear())], B.MeanSquaredError(), seed=20190501, dtype="float64")
    lr, epochs = GD[dataset]
    B.Trainer(net, B.SGD(lr=lr)).fit(X_train, y_train, epochs=epochs, eval_every=epochs, batch_size=len(X_train))
    mae, rmse = _mae_rmse(net.forward(X_test, training=False), y_test)
    assert abs(mae / sk_mae - 1) < 0.01, (mae, sk_mae)
    assert abs(rmse / sk_rmse - 1) < 0.01, (rmse, sk_rmse)
    W = net.state_dict()["layers.0.W"][:, 0]
    compare("W", W, sk.coef_.ravel(), tol=Tol(1e-3, 0.0, "gradient descent stopped after finitely many steps"))
    compare("B", net.state_dict()["layers.0.B"].ravel(), sk.intercept_, tol=Tol(1e-3, 0.0, "as W"))


@pytest.mark.parametrize("dataset", ["boston", "diabetes"])
def test_closed_form_equals_sklearn(B, dataset):
    X_train, X_test, y_train, y_test = _data(dataset)
    sk = LinearRegression().fit(X_train, y_train)
    state = B.closed_form_linear_regression(X_train, y_train)
    compare("W", state["W"], sk.coef_.T, dtype="float64")
    compare("B", state["B"], sk.intercept_.reshape(1, 1), dtype="float64")
    # loaded into Dense(1, Linear) it predicts what sklearn predicts
    net = B.NeuralNetwork([B.Dense(1, B.Linear())], B.MeanSquaredError(), dtype="float64")
    net.forward(X_test[:1])
    net.load_state_dict({f"layers.0.{k}": v for k, v in state.items()})
    compare("prediction", net.forward(X_test, training=False), sk.predict(X_test), dtype="float64")


def test_closed_form_backends_agree():
    X_train, _, y_train, _ = _data("boston")
    s = dlfs.backend("scratch").closed_form_linear_regression(X_train, y_train)
    t = dlfs.backend("torch").closed_form_linear_regression(X_train, y_train)
    for k in s:
        compare(k, t[k], s[k], dtype="float64")


def test_closed_form_bad_input(B):
    with pytest.raises(ValueError, match="X and y must have the same number of samples, got 5 and 4"):
        B.closed_form_linear_regression(np.ones((5, 2)), np.ones(4))
    with pytest.raises(ValueError, match="X: expected a 2-D array, got 1-D"):
        B.closed_form_linear_regression(np.ones(5), np.ones(5))
