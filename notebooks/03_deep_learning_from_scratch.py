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
EPOCHS = 50
SEED = 20190501  # the book's chapter 3 seed

# %% [markdown]
# # Chapter 3 — Deep learning from scratch: Dense layers, networks, a Trainer
#
# Chapter 2 wrote the forward and backward passes of one model by hand. Chapter 3 cuts them into reusable
# pieces, each of which knows only its own derivative:
#
# - an **Operation** maps an input to an output (`forward`) and an output gradient to an input gradient
#   (`backward`); a *ParamOperation* such as `WeightMultiply` ($X W$) or `BiasAdd` ($+ B$) also computes the
#   gradient of its parameter;
# - a **Layer** is a short list of operations: `Dense(neurons, activation)` is `WeightMultiply`, `BiasAdd`,
#   then the activation, e.g. $\sigma$;
# - a **NeuralNetwork** is layers plus a **Loss**. Its backward pass walks the layers in reverse, each one
#   turning $\frac{\partial L}{\partial \text{output}}$ into $\frac{\partial L}{\partial \text{input}}$: the
#   chain rule, one layer at a time;
# - an **Optimizer** (`SGD`: $\theta \leftarrow \theta - \eta \frac{\partial L}{\partial \theta}$) updates the
#   parameters, and a **Trainer** runs the epochs and mini-batches and evaluates on held-out data.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

import dlfs
from dlfs import backend
from dlfs.data import book_regression_split, load_boston
from dlfs.metrics import mae, rmse

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
X_train, X_test, y_train, y_test = book_regression_split(*load_boston())  # (354, 13), (152, 13), (n, 1)

# %% [markdown]
# ## The book's three models
#
# Linear regression again, then one and two hidden layers of 13 sigmoid neurons. Each is a list of `Dense`
# layers; the seed fixes the initial weights (drawn in order, layer by layer) and the batch order.

# %%
def build(model):
    hidden = {"linear": 0, "one hidden layer": 1, "two hidden layers": 2}[model]
    layers = [B.Dense(13, B.Sigmoid()) for _ in range(hidden)] + [B.Dense(1, B.Linear())]
    return B.NeuralNetwork(layers, B.MeanSquaredError(), seed=SEED, dtype="float64")


net = build("two hidden layers")
h = X_train[:4]
for layer in net.layers:
    h = layer.forward(h, training=False)  # (4, 13) -> (4, 13) -> (4, 13) -> (4, 1)
    # scratch: a list of Operations; torch: the layer's nn.Module
    inside = layer.operations if hasattr(layer, "operations") else layer.module
    print(f"{layer!r:10} output {h.shape}  is  {inside}")

# %% [markdown]
# One training step, spelled out: forward through the layers, the loss, backward through the loss and the
# layers, then the optimiser's update. `Trainer.fit` repeats exactly this for every batch of every epoch.

# %%
x_batch, y_batch = X_train[:32], y_train[:32]
P = net.forward(x_batch)  # (32, 1)
loss = net.loss.forward(P, y_batch)  # a number
net.backward(net.loss.backward())  # dL/dP (32, 1) back through every layer
for name, grad in net.grad_dict().items():
    print(f"{name:12} gradient {grad.shape}")
print(f"loss on one batch: {loss:.4f}")

# %% [markdown]
# ## Training
#
# 50 epochs of SGD with learning rate $0.01$ and batches of 32, evaluating the test loss every 5 epochs.

# %%
histories, predictions = {}, {}
for model in ["linear", "one hidden layer", "two hidden layers"]:
    net = build(model)
    trainer = B.Trainer(net, B.SGD(lr=0.01))
    histories[model] = trainer.fit(X_train, y_train, X_test, y_test, epochs=EPOCHS, eval_every=5, batch_size=32,
                                   seed=SEED)
    predictions[model] = net.forward(X_test, training=False)
    print(f"test MAE ({model}): {mae(predictions[model], y_test):.4f}")
    print(f"test RMSE ({model}): {rmse(predictions[model], y_test):.4f}")
final = histories["two hidden layers"].val_loss[-1]
print(f"final loss: {final:.10f}")  # the deepest model's test MSE: the same in both backends

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for model, history in histories.items():
    axes[0].plot(history.eval_epochs, history.val_loss, marker="o", label=model)
    axes[1].scatter(y_test, predictions[model], s=10, label=model)
axes[0].set(xlabel="epoch", ylabel="test MSE", title="learning curves")
axes[0].legend()
axes[1].plot([5, 50], [5, 50], "k--", lw=1)
axes[1].set(xlabel="actual price", ylabel="predicted price", title="test set")
axes[1].legend()
plt.show()

# %% [markdown]
# The hidden layers help: the sigmoid lets the network bend, and a second layer composes the bends. (The book
# reports test MAE 3.52 / 2.60 / 2.45 for the three models on this split.)
#
# ## Same seed, two backends, same numbers
#
# `dlfs`'s promise: with the same seed, both backends draw the same initial weights (from one NumPy stream),
# see the same batches in the same order and compute the same arithmetic, so their whole training curves
# agree, in float64, to rounding. Train the deepest model in each and compare every epoch's losses.

# %%
curves = {}
for name in dlfs.BACKENDS:
    Bn = backend(name)
    layers = [Bn.Dense(13, Bn.Sigmoid()), Bn.Dense(13, Bn.Sigmoid()), Bn.Dense(1, Bn.Linear())]
    twin = Bn.NeuralNetwork(layers, Bn.MeanSquaredError(), seed=SEED, dtype="float64")
    h = Bn.Trainer(twin, Bn.SGD(lr=0.01)).fit(X_train, y_train, X_test, y_test, epochs=EPOCHS, eval_every=5,
                                               batch_size=32, seed=SEED)
    curves[name] = np.array(h.train_loss + h.val_loss)
a, b = curves.values()
print(f"compared {len(a)} losses: every epoch's training loss and every test evaluation")
print(f"max |scratch - torch| loss: {np.abs(a - b).max():.1e}")
