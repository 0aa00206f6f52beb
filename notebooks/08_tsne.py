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
POINTS = 250  # digits to map (exact t-SNE costs O(n^2) per iteration)
ITERATIONS = 500
PERPLEXITY = 30.0
SEED = 0

# %% [markdown]
# # t-SNE: a map of the digits
#
# Chapter 7 looks at what an autoencoder learned by drawing its encodings in two dimensions with **t-SNE**
# (van der Maaten and Hinton, 2008). Here it maps the digits' 64 pixels directly. t-SNE places one point per
# image in the plane so that images that are neighbours in 64 dimensions stay neighbours in the map. It
# matches two sets of probabilities, "$i$ would pick $j$ as its neighbour", one computed in the data and one in
# the map.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.manifold import TSNE, trustworthiness

import dlfs
from dlfs import backend
from dlfs.data import load_digits

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
T = B.tsne  # the algorithm's pieces: pairwise_squared_distances, conditional_probabilities, ...
digits = load_digits()
X = digits.X_test[:POINTS].reshape(POINTS, -1).astype(np.float64)  # (250, 64) pixels in [0, 1]
labels = digits.y_test[:POINTS]

# %% [markdown]
# ## Neighbours in the data
#
# Around each point $x_i$ put a Gaussian, and let $i$ pick a neighbour $j$ with probability
#
# $$p_{j|i} = \frac{\exp(-\beta_i \lVert x_i - x_j \rVert^2)}
#             {\sum_{k \neq i} \exp(-\beta_i \lVert x_i - x_k \rVert^2)}$$
#
# The precision $\beta_i$ is set per point, by bisection, so that the distribution's **perplexity**
# $e^{H(P_i)}$, with entropy $H(P_i) = -\sum_j p_{j|i} \ln p_{j|i}$, equals the number we ask for: a smooth
# "effective number of neighbours" (30 here). Dense regions get narrow Gaussians, sparse ones wide. Then the
# two directions are averaged, $p_{ij} = \frac{p_{j|i} + p_{i|j}}{2n}$, so that the $p_{ij}$ sum to 1.

# %%
D = T.pairwise_squared_distances(X)  # (250, 250)
P_conditional, beta = T.conditional_probabilities(D, PERPLEXITY)  # rows p_{j|i}, and beta_i
safe = np.where(P_conditional > 0, P_conditional, 1.0)  # 0 log 0 = 0
perplexity = np.exp(-(P_conditional * np.log(safe)).sum(axis=1))
P = T.joint_probabilities(D, PERPLEXITY)  # (250, 250), symmetric
print(f"perplexity of every row: {perplexity.min():.4f} to {perplexity.max():.4f}")
print(f"mean perplexity: {perplexity.mean():.4f}")
print(f"sum of P: {P.sum():.6f}")

# %% [markdown]
# ## Neighbours in the map, and the cost
#
# In the map, the similarity of $y_i$ and $y_j$ uses a Student-t kernel with one degree of freedom,
#
# $$q_{ij} = \frac{(1 + \lVert y_i - y_j \rVert^2)^{-1}}{\sum_{k \neq l} (1 + \lVert y_k - y_l \rVert^2)^{-1}}$$
#
# whose heavy tail lets moderately distant points sit far apart in the map: there is not enough room in two
# dimensions for every point's neighbours otherwise (the *crowding problem*). The map minimises
# $C = \mathrm{KL}(P \,\|\, Q) = \sum_{i \neq j} p_{ij} \ln \frac{p_{ij}}{q_{ij}}$, whose gradient is
#
# $$\frac{\partial C}{\partial y_i} = 4 \sum_j (p_{ij} - q_{ij})\, (1 + \lVert y_i - y_j \rVert^2)^{-1} (y_i - y_j)$$
#
# an attraction along the data's neighbours and a repulsion between all pairs. Check it by finite differences:

# %%
Y = np.random.default_rng(SEED).standard_normal((POINTS, 2))  # some map, (250, 2)
kl, grad = T.kl_divergence(P, Y)  # C and dC/dY (250, 2)
eps, worst = 1e-6, 0.0
for i, d in [(0, 0), (1, 1), (42, 0), (249, 1)]:  # a few coordinates
    step = np.zeros_like(Y)
    step[i, d] = eps
    numerical = (T.kl_divergence(P, Y + step)[0] - T.kl_divergence(P, Y - step)[0]) / (2 * eps)
    worst = max(worst, abs(numerical - grad[i, d]))
print(f"KL of a random map: {kl:.4f}")
print(f"max |gradient - finite differences|: {worst:.1e}")

# %% [markdown]
# ## The map
#
# `TSNE` starts from a tiny random map and follows the gradient with momentum and per-coordinate gains (as
# scikit-learn's exact method does). For the first 250 iterations $P$ is multiplied by 12, *early
# exaggeration*, which pulls the clusters tight while they can still move through each other. How good is
# the result? *Trustworthiness* (1 is best) asks whether the map's nearest neighbours are true neighbours in
# the data; and a nearest-neighbour classifier in the map shows how well the classes separate, though t-SNE
# never saw a label. scikit-learn's exact t-SNE with the same settings referees.

# %%
tsne = B.TSNE(perplexity=PERPLEXITY, n_iter=ITERATIONS, seed=SEED)
Y = tsne.fit_transform(X)  # (250, 2)
reference = TSNE(perplexity=PERPLEXITY, early_exaggeration=12.0, learning_rate=200.0, max_iter=ITERATIONS,
                 method="exact", init="random", random_state=SEED)
Y_sklearn = reference.fit_transform(X)


def nearest_neighbour_accuracy(Y):
    """The fraction of points whose nearest other point in the map has the same label."""
    d = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(axis=1)] == labels).mean())


for name, (embedding, divergence) in {"dlfs": (Y, tsne.kl_divergence_),
                                      "sklearn": (Y_sklearn, reference.kl_divergence_)}.items():
    print(f"KL divergence ({name}): {divergence:.4f}")
    print(f"trustworthiness ({name}): {trustworthiness(X, embedding, n_neighbors=5):.4f}")
    print(f"nearest-neighbour accuracy in the map ({name}): {nearest_neighbour_accuracy(embedding):.4f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
for ax, (title, embedding) in zip(axes, [(f"dlfs TSNE ({BACKEND})", Y), ("sklearn TSNE(method='exact')", Y_sklearn)]):
    ax.scatter(embedding[:, 0], embedding[:, 1], c=labels, cmap="tab10", s=12)
    for k in range(10):  # each digit's label at the middle of its points
        x_mid, y_mid = np.median(embedding[labels == k], axis=0)
        ax.text(x_mid, y_mid, str(k), fontsize=14, weight="bold", ha="center", va="center")
    ax.set(title=title, xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## Two backends, and chaos
#
# Both backends compute the same $P$, $Q$, cost and gradient to rounding, and the first iterations of the two
# optimisers agree to many digits. But this optimisation is *chaotic*: at learning rate 200 a difference of
# $10^{-16}$ grows about tenfold every two or three iterations, so after a few dozen iterations the two
# backends' maps have drifted apart (the parity suite therefore compares short runs). The two runs end in
# different local minima of the cost, equally good ones: compare their trustworthiness. A map's exact layout
# means nothing; which points sit together does.

# %%
short = [backend(name).TSNE(perplexity=PERPLEXITY, n_iter=10, seed=SEED).fit_transform(X) for name in dlfs.BACKENDS]
print(f"max |scratch - torch| after 10 iterations: {np.abs(short[0] - short[1]).max():.1e}")

full = {BACKEND: (Y, tsne.kl_divergence_)}  # this backend's run from above; now the other one's
for name in dlfs.BACKENDS:
    if name not in full:
        model = backend(name).TSNE(perplexity=PERPLEXITY, n_iter=ITERATIONS, seed=SEED)
        full[name] = (model.fit_transform(X), model.kl_divergence_)
for name in dlfs.BACKENDS:
    embedding, divergence = full[name]
    print(f"after {ITERATIONS} iterations [{name}]: KL {divergence:.4f}, trustworthiness "
          f"{trustworthiness(X, embedding, n_neighbors=5):.4f}")
