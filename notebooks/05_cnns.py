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
EPOCHS = 5
SEED = 20190402  # the book's chapter 5 seed

# %% [markdown]
# # Chapter 5 — Convolutional neural networks
#
# A dense layer connects every pixel to every neuron and knows nothing about which pixels are neighbours. A
# **convolution** instead slides a small filter over the image: each output pixel is the weighted sum of the
# patch under the filter, with the *same* weights at every position. Few parameters, and a pattern learned in
# one place is found everywhere.
#
# Images come as (batch, channels, height, width), NCHW. With input channels $c'$, output channels $c$ and a
# $k \times k$ filter, a convolution layer computes (a cross-correlation, as every deep learning library does):
#
# $$o_{n,c,i,j} = b_c + \sum_{c'} \sum_{p=0}^{k-1} \sum_{q=0}^{k-1} x_{n,c',\,i+p,\,j+q}\; w_{c',c,p,q}$$
#
# "Same" padding adds $\lfloor k/2 \rfloor$ zeros around the image so that the output keeps its size.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from dlfs import backend
from dlfs.data import load_digits, standardize
from dlfs.metrics import accuracy

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
digits = load_digits()
X_train, X_test = standardize(digits.X_train, digits.X_test)  # (1347, 1, 8, 8), (450, 1, 8, 8): NCHW
y_train, y_test = digits.y_train, digits.y_test  # class labels 0-9

# %% [markdown]
# ## The formula, by hand
#
# Build a `Conv2D` with two 3×3 filters, run one image through it, and redo the sum above with plain loops.
# The weights are stored as $w$ of shape (in channels, out channels, $k$, $k$) and $b$ as (1, out, 1, 1).

# %%
conv_net = B.NeuralNetwork([B.Conv2D(2, 3)], B.MeanSquaredError(), seed=SEED, dtype="float64")
image = X_test[:1]  # (1, 1, 8, 8)
out = conv_net.forward(image, training=False)  # (1, 2, 8, 8)
w, b = conv_net.state_dict()["layers.0.W"], conv_net.state_dict()["layers.0.B"]  # (1, 2, 3, 3), (1, 2, 1, 1)

padded = np.pad(image[0], ((0, 0), (1, 1), (1, 1)))  # (1, 10, 10): one ring of zeros
by_hand = np.zeros((2, 8, 8))
for c in range(2):
    for i in range(8):
        for j in range(8):
            patch = padded[:, i : i + 3, j : j + 3]  # (in channels, 3, 3)
            by_hand[c, i, j] = b[0, c, 0, 0] + (patch * w[:, c]).sum()
print("output shape", out.shape)
print(f"max |loops - Conv2D|: {np.abs(by_hand - out[0]).max():.1e}")

# %% [markdown]
# ## Pooling
#
# **Max pooling** keeps the largest value of each $2 \times 2$ window, halving height and width: a summary that
# barely moves when the digit shifts by a pixel. Its backward pass sends each window's gradient to the one
# element that was the maximum.

# %%
pool = B.MaxPool2D(2)
pooled = pool.forward(image, training=False)  # (1, 1, 4, 4)
by_hand = image[0, 0].reshape(4, 2, 4, 2).max(axis=(1, 3))  # the windows as axes 1 and 3
print("pooled shape", pooled.shape)
print(f"max |reshape-and-max - MaxPool2D|: {np.abs(by_hand - pooled[0, 0]).max():.1e}")

# %% [markdown]
# ## A small CNN
#
# Eight 3×3 filters with tanh, max pooling, then a dense layer on the flattened maps:
#
# (n, 1, 8, 8) → `Conv2D(8, 3)` → (n, 8, 8, 8) → `MaxPool2D(2)` → (n, 8, 4, 4) → `Flatten` → (n, 128)
# → `Dense(10)` → softmax cross-entropy.
#
# It has 8·9 + 8 + 128·10 + 10 = 1,370 parameters, a fifth of chapter 4's 64-89-10 dense network (6,685).
# Trained with SGD and momentum:

# %%
def small_cnn():
    return B.NeuralNetwork([B.Conv2D(8, 3, activation="tanh", weight_init="glorot"), B.MaxPool2D(2), B.Flatten(),
                            B.Dense(10, "linear", weight_init="glorot")], B.SoftmaxCrossEntropy(), seed=SEED,
                           dtype="float64")  # float64: the two backends agree to every printed digit


cnn = small_cnn()
history = B.Trainer(cnn, B.SGDMomentum(lr=0.05, momentum=0.9)).fit(
    X_train, y_train, X_test, y_test, epochs=EPOCHS, eval_every=1, batch_size=60, seed=SEED)
print("test loss per epoch:", np.round(history.val_loss, 4))
print(f"parameters: {sum(v.size for v in cnn.state_dict().values())}")
print(f"test accuracy (CNN): {accuracy(cnn.forward(X_test, training=False), y_test):.4f}")

# %% [markdown]
# What did it learn? The eight filters, and what each one makes of a test digit before and after pooling.

# %%
filters = cnn.state_dict()["layers.0.W"][0]  # (8, 3, 3): input channel 0
h = image.astype(np.float64)  # the network's dtype: a layer run on its own does not cast its input
stages = []
for layer in cnn.layers[:2]:  # the trained convolution, then the pooling
    h = layer.forward(h, training=False)
    stages.append(h[0])  # (8, 8, 8), then (8, 4, 4)

fig, axes = plt.subplots(3, 9, figsize=(13, 4.6))
axes[0, 0].imshow(image[0, 0], cmap="gray_r")
axes[0, 0].set_title(f"label {y_test[0]}", fontsize=9)
for row, (title, pictures) in enumerate([("filters", filters), ("conv + tanh", stages[0]), ("pooled", stages[1])]):
    axes[row, 1].set_title(title, fontsize=9, loc="left")
    for k in range(8):
        axes[row, k + 1].imshow(pictures[k], cmap="RdBu_r" if row == 0 else "gray_r")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
    if not ax.images:
        ax.axis("off")
plt.show()
