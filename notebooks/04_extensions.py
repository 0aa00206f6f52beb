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
EPOCHS = 20
SEED = 20190119  # the book's chapter 4 seed

# %% [markdown]
# # Chapter 4 — Extensions: the tricks that make training work
#
# Chapter 4 takes a plain network (one hidden layer of 89 tanh neurons) on a classification task and improves
# its training one change at a time: a loss made for classification, momentum, a decaying learning rate, a
# better initialisation, dropout, and early stopping. The book uses MNIST; here the 8×8 digits bundled with
# scikit-learn (1,347 training and 450 test images) keep every run to a fraction of a second.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from dlfs import backend
from dlfs.data import flatten, load_digits, one_hot, standardize
from dlfs.metrics import accuracy

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
digits = load_digits()
# the book's preprocessing: flatten the images, subtract the training set's mean pixel, divide by its std
X_train, X_test = standardize(flatten(digits.X_train), flatten(digits.X_test))  # (1347, 64), (450, 64)
Y_train, Y_test = one_hot(digits.y_train, 10), one_hot(digits.y_test, 10)  # (n, 10) one-hot rows
print("train", X_train.shape, Y_train.shape, "test", X_test.shape, Y_test.shape)

# %% [markdown]
# ## Softmax cross-entropy
#
# A classifier's last layer produces one score $z_j$ per class. **Softmax** turns the scores into
# probabilities, $p_j = \frac{e^{z_j}}{\sum_k e^{z_k}}$, and **cross-entropy** charges $-\log$ of the probability
# given to the true class:
#
# $$L = -\frac{1}{n} \sum_{i=1}^{n} \sum_j y_{ij} \log p_{ij}, \qquad
#   \frac{\partial L}{\partial z_{ij}} = \frac{p_{ij} - y_{ij}}{n}$$
#
# The gradient is simply "predicted minus true": large when the network is confidently wrong, unlike mean
# squared error on sigmoid outputs, whose gradient vanishes exactly there. Computing $\log p$ as
# $z_j - \log \sum_k e^{z_k}$ with the maximum subtracted first (log-sum-exp) keeps it finite for any scores.

# %%
rng = np.random.default_rng(0)
z = 3 * rng.standard_normal((5, 10))  # (n, classes) scores
Y = one_hot(rng.integers(0, 10, 5), 10, dtype=np.float64)

shifted = z - z.max(axis=1, keepdims=True)  # log-sum-exp: the largest exponent is e^0
log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
loss_by_hand = -(Y * log_p).sum() / len(z)
grad_by_hand = (np.exp(log_p) - Y) / len(z)

sce = B.SoftmaxCrossEntropy()
loss = sce.forward(z, Y)
print(f"softmax cross-entropy by hand: {loss_by_hand:.6f}")
print(f"softmax cross-entropy (dlfs): {loss:.6f}")
print(f"max |gradient by hand - dlfs|: {np.abs(grad_by_hand - sce.backward()).max():.1e}")

# %% [markdown]
# ## Glorot initialisation
#
# With weights drawn from $N(0, 1)$, a neuron with 64 inputs starts with a pre-activation of standard deviation
# $\approx 8$, deep in tanh's flat tails where gradients vanish. Glorot and Bengio scale the draws to keep the
# variance steady through the layers: $\mathrm{Var}(W) = \frac{2}{n_{in} + n_{out}}$.

# %%
for init in ["standard", "glorot"]:
    net = B.NeuralNetwork([B.Dense(89, "tanh", weight_init=init)], B.SoftmaxCrossEntropy(), seed=SEED)
    net.forward(X_train[:1])  # the first forward draws W (64, 89)
    W = net.state_dict()["layers.0.W"]
    print(f"std of W ({init}): {W.std():.4f}")
print(f"Glorot's target sqrt(2 / (64 + 89)): {np.sqrt(2 / (64 + 89)):.4f}")

# %% [markdown]
# ## The ladder
#
# Each rung changes one thing from the one before, in the book's order:
#
# 1. mean squared error on sigmoid outputs (the chapter 3 recipe);
# 2. softmax cross-entropy on linear outputs;
# 3. **momentum**: the update follows a running sum of gradients, $v \leftarrow \mu v + g$,
#    $\theta \leftarrow \theta - \eta v$ with $\mu = 0.9$, which smooths the zig-zag of plain SGD;
# 4. **learning-rate decay**: large steps early, small ones late; exponentially from $0.2$ to $0.05$ over the
#    run, $\eta_t = \eta_0 (\eta_{final} / \eta_0)^{t / (E - 1)}$;
# 5. **Glorot initialisation**;
# 6. **dropout**: in training, each hidden unit is zeroed with probability $p = 0.2$ and the survivors are
#    scaled by $\frac{1}{1 - p}$ (inverted dropout), so at inference nothing changes. A network that cannot
#    count on any one unit has to spread what it knows.

# %%
def rung(loss="sce", momentum=False, decay=False, init="standard", dropout=0.0):
    """The hidden layer, the output layer, the loss and the optimiser of one rung."""
    output = "sigmoid" if loss == "mse" else "linear"
    layers = [B.Dense(89, "tanh", weight_init=init, dropout=dropout), B.Dense(10, output, weight_init=init)]
    loss_fn = B.MeanSquaredError() if loss == "mse" else B.SoftmaxCrossEntropy()
    if decay:
        optimizer = B.SGDMomentum(lr=0.2, momentum=0.9, final_lr=0.05, decay_type="exponential")
    elif momentum:
        optimizer = B.SGDMomentum(lr=0.1, momentum=0.9)
    else:
        optimizer = B.SGD(lr=0.1)
    return B.NeuralNetwork(layers, loss_fn, seed=SEED, dtype="float64"), optimizer


ladder = {
    "MSE + sigmoid": {"loss": "mse"},
    "softmax CE": {},
    "+ momentum": {"momentum": True},
    "+ lr decay": {"decay": True},
    "+ Glorot": {"decay": True, "init": "glorot"},
    "+ dropout 0.2": {"decay": True, "init": "glorot", "dropout": 0.2},
}
results = {}
for label, options in ladder.items():
    net, optimizer = rung(**options)
    history = B.Trainer(net, optimizer).fit(X_train, Y_train, X_test, Y_test, epochs=EPOCHS, eval_every=1,
                                            batch_size=60, seed=SEED)
    results[label] = (history, accuracy(net.forward(X_test, training=False), digits.y_test))
    print(f"test accuracy [{label}]: {results[label][1]:.4f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
labels = list(results)
accuracies = [acc for _, acc in results.values()]
axes[0].barh(labels, accuracies)
for k, acc in enumerate(accuracies):
    axes[0].text(acc - 0.01, k, f"{acc:.1%}", ha="right", va="center", color="white", fontsize=9)
axes[0].set(xlim=(0, 1), xlabel="test accuracy", title=f"the ladder after {EPOCHS} epochs")
axes[0].invert_yaxis()
for label in labels[1:]:  # the MSE rung's loss is on another scale
    history = results[label][0]
    axes[1].plot(history.eval_epochs, history.val_loss, label=label)
axes[1].set(xlabel="epoch", ylabel="test softmax cross-entropy", yscale="log", title="validation loss")
axes[1].legend(fontsize=8)
axes[2].plot(range(1, EPOCHS + 1), results["+ lr decay"][0].lr, marker=".")
axes[2].set(xlabel="epoch", ylabel="learning rate", title="exponential decay, 0.2 to 0.05")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Early stopping
#
# Test loss eventually turns up while training loss keeps falling: the network starts memorising. Early
# stopping evaluates every few epochs, stops at the first evaluation that fails to improve on the best so far,
# and restores the weights of that best evaluation. Here, with a deliberately long budget of 100 epochs:

# %%
net, optimizer = rung(decay=True, init="glorot", dropout=0.2)
history = B.Trainer(net, optimizer).fit(X_train, Y_train, X_test, Y_test, epochs=100, eval_every=5,
                                        batch_size=60, seed=SEED, early_stopping=True)
print(f"stopped at epoch {history.stopped_epoch}, restored the weights of epoch {history.restored_epoch}")
print(f"best test loss: {history.best_val_loss:.6f}")
print(f"test accuracy [early stopping]: {accuracy(net.forward(X_test, training=False), digits.y_test):.4f}")
