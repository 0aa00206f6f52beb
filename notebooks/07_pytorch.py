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
ENCODING = 16  # numbers per encoded image (a 64-pixel digit: a fourth of its size)
SEED = 20190405  # the book's chapter 7 seed

# %% [markdown]
# # Chapter 7 — PyTorch, and an autoencoder
#
# Chapter 7 rebuilds the book's machinery on PyTorch: a layer becomes an `nn.Module`, the hand-written
# backward passes give way to `torch.autograd`, `SGD` becomes `torch.optim.SGD`, and the batches come from a
# `DataLoader`. That is exactly `dlfs`'s torch backend: every name you used in chapters 2–6 exists there, built
# from real `nn.Module`s and `torch.optim`, while the scratch backend does the same in NumPy. Both keep their
# weights in the same layout, so weights move freely between them.
#
# The chapter ends with **unsupervised learning**: an autoencoder learns to redraw images through a narrow
# middle, never seeing a label:
#
# - encoder: $x$ (n, 1, 8, 8) → `Conv2D(14, 5)` → `Conv2D(7, 5)` → flatten → `Dense(16)` → $z$ (n, 16);
# - decoder: $z$ → `Dense(7·8·8)` → reshape → `Conv2D(14, 5)` → `Conv2D(1, 5)` → $\hat x$ (n, 1, 8, 8);
#
# every layer with tanh, trained on $L = \frac{1}{n} \sum_i \lVert \hat x_i - x_i \rVert^2$. To fit through
# 16 numbers, $z$ has to keep what matters about a digit. The last tanh draws in $[-1, 1]$, so the pixels are
# scaled to that range first.

# %%
import shutil
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

import dlfs
from dlfs import backend
from dlfs.data import load_digits

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
digits = load_digits()
lo, hi = digits.X_train.min(), digits.X_train.max()
X_train = ((digits.X_train - lo) / (hi - lo) * 2 - 1).astype(np.float32)  # (1347, 1, 8, 8) in [-1, 1]
X_test = ((digits.X_test - lo) / (hi - lo) * 2 - 1).astype(np.float32)  # (450, 1, 8, 8)

# %%
ae = B.Autoencoder((8, 8), encoding_dim=ENCODING, seed=SEED)
print(ae)
for name, value in ae.state_dict().items():  # the same names and shapes in both backends
    print(f"  {name:11} {value.shape}")
if hasattr(ae, "module"):  # the torch backend: the network is a real nn.Module
    print(ae.module)

# %% [markdown]
# ## Training
#
# The image is its own target: `fit(X_train, X_train)`. Adam with learning rate 0.01, batches of 60.

# %%
history = B.Trainer(ae, B.Adam(lr=0.01)).fit(X_train, X_train, X_test, X_test, epochs=EPOCHS, eval_every=1,
                                             batch_size=60, seed=SEED)
reconstructed = ae.forward(X_test, training=False)  # (450, 1, 8, 8)
mse = float(((reconstructed - X_test) ** 2).mean())
print("test loss per epoch:", np.round(history.val_loss, 3))
print(f"test MSE per pixel: {mse:.4f}")  # PyTorch's nn.MSELoss number

# %%
# the first test image of each class, above its reconstruction
first = [int(np.flatnonzero(digits.y_test == k)[0]) for k in range(10)]
random_codes = np.random.default_rng(SEED).uniform(-1, 1, (10, ENCODING))  # random points of [-1, 1]^16
rows = {"original": X_test[first], "reconstructed": reconstructed[first], "random z": ae.decode(random_codes)}
fig, axes = plt.subplots(3, 10, figsize=(10, 3.4))
for r, (label, images) in enumerate(rows.items()):
    for c in range(10):
        axes[r, c].imshow(images[c, 0], cmap="gray_r", vmin=-1, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=8)
plt.show()

# %% [markdown]
# The reconstructions are recognisable; decodings of *random* encodings mostly are not: the encoder uses only
# a small part of its 16-dimensional space, and most of the space decodes to no digit at all.
#
# Did the encoding keep what distinguishes the digits? A nearest-neighbour classifier does about as well on
# the 16 numbers as on all 64 pixels, although the autoencoder never saw a label.

# %%
Z_train, Z_test = ae.encode(X_train), ae.encode(X_test)  # (1347, 16), (450, 16)
for name, (train, test) in {"64 pixels": (X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)),
                            f"{ENCODING} encoded numbers": (Z_train, Z_test)}.items():
    knn = KNeighborsClassifier(n_neighbors=1).fit(train, digits.y_train)
    print(f"nearest-neighbour test accuracy on {name}: {knn.score(test, digits.y_test):.4f}")

# %% [markdown]
# ## Weights travel between the backends
#
# `dlfs.save_weights` writes the canonical state dict to an `.npz` file; `dlfs.load_weights` reads it into a
# model of either backend. Load this model's weights into the *other* backend's autoencoder and it draws the
# same reconstructions (to float32 rounding). The file goes to a temporary directory.

# %%
folder = Path(tempfile.mkdtemp())
path = dlfs.save_weights(ae, folder / "autoencoder.npz")
for other in dlfs.BACKENDS:
    if other == BACKEND:
        continue
    twin = backend(other).Autoencoder((8, 8), encoding_dim=ENCODING, seed=0)  # different initial weights ...
    dlfs.load_weights(twin, path)  # ... replaced by the trained ones
    gap = np.abs(twin.forward(X_test, training=False) - reconstructed).max()
    print(f"trained in {BACKEND}, loaded into {other}")
    print(f"max reconstruction difference across backends: {gap:.1e}")
shutil.rmtree(folder)
