# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %%
BACKEND = "scratch"  # or "torch": the same numbers either way
EPOCHS = 50  # the book's 50 passes over the training set
SEED = 20190501  # the book's chapter 2-3 seed: initial weights and batch order

# %% [markdown]
# # Chapter 2 — Fundamentals: linear regression from its gradients
#
# Supervised learning: given rows $x_i$ of features and targets $y_i$, find a function that predicts $y$ from
# $x$. The simplest is **linear regression**, one weight per feature plus a bias:
#
# $$p_i = x_i \cdot W + b, \qquad \text{for a batch:} \quad N = X W, \quad P = N + B$$
#
# with $X$ of shape $(n, d)$, $W$ of shape $(d, 1)$ and $P$ of shape $(n, 1)$. The data is the book's: Boston
# housing, 13 features of 506 districts and their median house price (in \$1000s), standardised and split 70/30
# as the book does.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LinearRegression

from dlfs import backend
from dlfs.data import book_regression_split, load_boston
from dlfs.metrics import mae, rmse
from dlfs.training import BatchOrder

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
X, y = load_boston()  # (506, 13), (506,)
X_train, X_test, y_train, y_test = book_regression_split(X, y)
print("train", X_train.shape, y_train.shape, "test", X_test.shape, y_test.shape)

# %% [markdown]
# ## The loss and its gradients
#
# The loss is the mean squared error $L = \frac{1}{n} \sum_i (y_i - p_i)^2$. The chain rule of chapter 1 gives
# its gradient with respect to the parameters, one step at a time, backwards:
#
# $$\frac{\partial L}{\partial P} = -\frac{2}{n} (Y - P), \qquad
#   \frac{\partial L}{\partial W} = X^T \frac{\partial L}{\partial P}, \qquad
#   \frac{\partial L}{\partial B} = \sum_{i} \frac{\partial L}{\partial P_i}$$
#
# ($B$ was added to every row, so its gradient sums over the rows.) Written out in NumPy:

# %%
def forward_loss(X_batch, y_batch, W, b):
    """The forward pass: predictions (n, 1) and the mean squared error."""
    P = X_batch @ W + b
    return P, float(np.mean((y_batch - P) ** 2))


def loss_gradients(X_batch, y_batch, W, b):
    """The backward pass: dL/dW (d, 1) and dL/dB (1, 1)."""
    P, _ = forward_loss(X_batch, y_batch, W, b)
    dL_dP = -2.0 * (y_batch - P) / len(X_batch)  # (n, 1)
    return X_batch.T @ dL_dP, dL_dP.sum(axis=0, keepdims=True)


# %% [markdown]
# The same model in `dlfs` is one `Dense(1)` layer with a linear activation inside a `NeuralNetwork` with a
# `MeanSquaredError` loss. Its backward pass should give exactly our hand-derived gradients.

# %%
def linear_model():
    return B.NeuralNetwork([B.Dense(1, B.Linear())], B.MeanSquaredError(), seed=SEED, dtype="float64")


net = linear_model()
X_batch, y_batch = X_train[:32], y_train[:32]
P = net.forward(X_batch)  # the first forward draws W (13, 1) and B (1, 1) from the seed
net.loss.forward(P, y_batch)
net.backward(net.loss.backward())  # fills net.grad_dict()

W0, b0 = net.state_dict()["layers.0.W"], net.state_dict()["layers.0.B"]
dW, dB = loss_gradients(X_batch, y_batch, W0, b0)
gap = max(np.abs(dW - net.grad_dict()["layers.0.W"]).max(), np.abs(dB - net.grad_dict()["layers.0.B"]).max())
print(f"max |hand-derived - dlfs gradient|: {gap:.1e}")

# %% [markdown]
# ## Training: stochastic gradient descent
#
# Step every parameter against its gradient, $W \leftarrow W - \eta \frac{\partial L}{\partial W}$ with learning
# rate $\eta = 0.01$, one mini-batch of 32 rows at a time, the rows shuffled every epoch. The loop below is the
# chapter's training loop; `BatchOrder` is the seeded shuffle that `dlfs`'s `Trainer` uses too.

# %%
lr, batch_size = 0.01, 32
W, b = W0.copy(), b0.copy()  # start where the network starts
order = BatchOrder(len(X_train), batch_size, seed=SEED)
losses = []
for _ in range(EPOCHS):
    for idx in order:  # one epoch: a fresh permutation, cut into batches
        dW, dB = loss_gradients(X_train[idx], y_train[idx], W, b)
        W, b = W - lr * dW, b - lr * dB
    losses.append(forward_loss(X_test, y_test, W, b)[1])
print(f"test MSE after {EPOCHS} epochs (hand loop): {losses[-1]:.4f}")

# %% [markdown]
# `Trainer.fit` runs the same loop: same start, same batches, same steps. So it lands on the same weights.

# %%
net = linear_model()
history = B.Trainer(net, B.SGD(lr=lr)).fit(X_train, y_train, X_test, y_test, epochs=EPOCHS, eval_every=10,
                                           batch_size=batch_size, seed=SEED)
trained = net.state_dict()
gap = max(np.abs(W - trained["layers.0.W"]).max(), np.abs(b - trained["layers.0.B"]).max())
print(f"max |hand loop - Trainer| weights: {gap:.1e}")
print("validation loss every 10 epochs:", np.round(history.val_loss, 3))

# %% [markdown]
# ## The exact answer
#
# Linear regression also has a closed form, the least-squares solution
# $\begin{bmatrix} W \\ b \end{bmatrix} = \arg\min \lVert [X\ 1] \begin{bmatrix} W \\ b \end{bmatrix} - y \rVert^2$,
# which `B.closed_form_linear_regression` returns as a `Dense(1)` state dict. scikit-learn's
# `LinearRegression` referees. Gradient descent should land close to it.

# %%
exact = linear_model()
exact.forward(X_train[:1])  # build the layer, then overwrite its weights with the closed form's
exact.layers[0].load_state_dict(B.closed_form_linear_regression(X_train, y_train))  # {"W": (13, 1), "B": (1, 1)}
sklearn = LinearRegression().fit(X_train, y_train)

predictions = {"SGD": net.forward(X_test, training=False), "closed form": exact.forward(X_test, training=False),
               "sklearn": sklearn.predict(X_test)}
for name, p in predictions.items():
    print(f"test MAE ({name}): {mae(p, y_test):.4f}")
    print(f"test RMSE ({name}): {rmse(p, y_test):.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].scatter(y_test, predictions["SGD"], s=12, label="SGD")
axes[0].scatter(y_test, predictions["closed form"], s=12, marker="x", label="closed form")
axes[0].plot([5, 50], [5, 50], "k--", lw=1)
axes[0].set(xlabel="actual price", ylabel="predicted price", title="test set")
axes[0].legend()
features = np.arange(X.shape[1])
axes[1].bar(features - 0.2, W[:, 0], 0.4, label="SGD")
axes[1].bar(features + 0.2, exact.state_dict()["layers.0.W"][:, 0], 0.4, label="closed form")
axes[1].set(xlabel="feature", ylabel="weight", title="the learned W")
axes[1].legend()
plt.show()

# %% [markdown]
# ## Beyond linear: one hidden layer
#
# The chapter ends with a small neural network: 13 hidden sigmoid units between the input and the output,
# $P = \sigma(X W_1 + B_1)\, W_2 + B_2$. The same chain rule gives its gradients (one more link), and the
# curved function it can draw fits the data better than any straight one.

# %%
nn = B.NeuralNetwork([B.Dense(13, B.Sigmoid()), B.Dense(1, B.Linear())], B.MeanSquaredError(), seed=SEED,
                     dtype="float64")
B.Trainer(nn, B.SGD(lr=lr)).fit(X_train, y_train, X_test, y_test, epochs=EPOCHS, eval_every=10,
                                batch_size=batch_size, seed=SEED)
p = nn.forward(X_test, training=False)
print(f"test MAE (13 sigmoid units): {mae(p, y_test):.4f}")
print(f"test RMSE (13 sigmoid units): {rmse(p, y_test):.4f}")
