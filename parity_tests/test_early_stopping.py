"""Early stopping (chapter 4): training stops at the first evaluation whose validation loss is not below the best
so far, the weights of the best evaluated epoch come back, and ``History`` (and a logged line) say which. Both
backends stop at the same epoch and restore the same weights on the same run."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.datasets import load_digits

import dlfs
from study.parity import compare

X, y = load_digits(return_X_y=True)
X = (X - X.mean()) / X.std()
# 120 training digits and a momentum step too bold for them: the validation loss turns up after a few epochs
X_TR, Y_TR, X_VA, Y_VA = X[:120], y[:120], X[1000:1300], y[1000:1300]


def _fit(B, epochs=40, early_stopping=True, lr=0.2, eval_every=1):
    net = B.NeuralNetwork([B.Dense(48, B.Tanh()), B.Dense(10, B.Linear())], B.SoftmaxCrossEntropy(), seed=5,
                          dtype="float64")
    trainer = B.Trainer(net, B.SGDMomentum(lr, 0.9))
    hist = trainer.fit(X_TR, Y_TR, X_VA, Y_VA, epochs=epochs, eval_every=eval_every, batch_size=20, seed=5,
                       early_stopping=early_stopping)
    return net, trainer, hist


@pytest.fixture(scope="module")
def runs():
    return {name: _fit(dlfs.backend(name)) for name in dlfs.BACKENDS}


def test_same_stop_and_restored_epoch_in_both_backends(runs):
    (s_net, _, s_hist), (t_net, _, t_hist) = runs["scratch"], runs["torch"]
    assert s_hist.stopped_epoch is not None
    assert (s_hist.stopped_epoch, s_hist.restored_epoch, s_hist.best_epoch) == \
           (t_hist.stopped_epoch, t_hist.restored_epoch, t_hist.best_epoch)
    assert s_hist.restored_epoch == s_hist.best_epoch < s_hist.stopped_epoch < 40
    compare("val_loss", np.array(t_hist.val_loss), np.array(s_hist.val_loss), "trajectory", "float64")
    assert len(s_hist.train_loss) == s_hist.stopped_epoch  # no epoch trained after the stop
    assert s_hist.val_loss[-1] >= s_hist.best_val_loss == min(s_hist.val_loss)
    ss, ts = s_net.state_dict(), t_net.state_dict()
    for k in ss:
        compare(f"param:{k}", ts[k], ss[k], "trajectory", "float64")


@pytest.mark.parametrize("backend", dlfs.BACKENDS)
def test_restored_weights_are_those_of_the_best_epoch(runs, backend):
    """Training afresh for exactly ``restored_epoch`` epochs (same seed, same batches) gives the same weights."""
    net, trainer, hist = runs[backend]
    again, _, h2 = _fit(dlfs.backend(backend), epochs=hist.restored_epoch, early_stopping=False)
    for k, v in again.state_dict().items():
        np.testing.assert_array_equal(net.state_dict()[k], v)
    assert trainer.evaluate(X_VA, Y_VA) == pytest.approx(hist.best_val_loss, rel=1e-12)


def test_the_stop_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="dlfs"):
        _, _, hist = _fit(dlfs.backend("scratch"))
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("early stopping"))
    assert line == (f"early stopping [scratch]: validation loss {hist.val_loss[-1]:.4f} at epoch "
                    f"{hist.stopped_epoch} is not below the best, {hist.best_val_loss:.4f} at epoch "
                    f"{hist.best_epoch}; restored the weights of epoch {hist.restored_epoch}")


def test_best_evaluated_epoch_with_sparse_evaluations(B):
    """With eval_every=2 the restored epoch is an evaluated one (even), the best of those evaluated."""
    _, _, hist = _fit(B, eval_every=2)
    assert hist.stopped_epoch is not None and hist.restored_epoch % 2 == 0
    assert hist.restored_epoch == hist.eval_epochs[int(np.argmin(hist.val_loss))]


def test_no_stop_while_the_loss_falls(B):
    _, _, hist = _fit(B, epochs=12, lr=0.05)
    assert np.all(np.diff(hist.val_loss) < 0)
    assert hist.stopped_epoch is None and hist.restored_epoch is None
    assert hist.best_epoch == 12 and len(hist.train_loss) == 12


def test_early_stopping_needs_validation_data(B):
    net = B.NeuralNetwork([B.Dense(10, B.Linear())], B.SoftmaxCrossEntropy(), dtype="float64")
    with pytest.raises(ValueError, match="early_stopping=True needs X_test and y_test: the validation loss decides"):
        B.Trainer(net, B.SGD(0.1)).fit(X_TR, Y_TR, epochs=2, batch_size=20, early_stopping=True)
