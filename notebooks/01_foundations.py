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

# %% [markdown]
# # Chapter 1 — Foundations: derivatives and the chain rule
#
# A neural network is one big nested function, and training it needs the derivative of the loss with respect
# to every number inside it. This chapter builds that up in three steps: functions of one number, nested
# functions (the chain rule), and functions of matrices (the matrix product $X W$ that every layer is made of).
#
# `B.foundations` holds the chapter's functions. In the **scratch** backend each derivative is derived by
# hand and written in NumPy; in the **torch** backend the same names are computed by `torch.autograd`.
# Change `BACKEND` in the first cell and run again: every number printed below stays the same.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

import dlfs
from dlfs import backend

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
F = B.foundations  # square, relu, leaky_relu, sigmoid, their derivatives, deriv, chain, chain_deriv_2, ...

# %% [markdown]
# ## 1. Derivatives
#
# The derivative of $f$ at $a$ is how fast $f$ changes as its input moves through $a$:
#
# $$\frac{df}{du}(a) = \lim_{\Delta \to 0} \frac{f(a + \Delta) - f(a - \Delta)}{2 \Delta}$$
#
# With a small but finite $\Delta$ (the book's is $0.001$) the fraction is a *numerical* derivative,
# `F.deriv(f, x, delta)`. The elementary functions also have exact derivatives, `F.<name>_deriv`: for example
# $\frac{d}{du} u^2 = 2u$ and, for the sigmoid $\sigma(u) = \frac{1}{1 + e^{-u}}$,
# $\sigma'(u) = \sigma(u)\,(1 - \sigma(u))$. The two should agree to about $\Delta^2$.

# %%
x = np.linspace(-3, 3, 200)  # an even number of points: none lands on the kink of relu at 0
names = ["square", "relu", "leaky_relu", "sigmoid"]

fig, axes = plt.subplots(2, 4, figsize=(12, 5), sharex=True)
worst = 0.0
for k, name in enumerate(names):
    f, f_prime = getattr(F, name), getattr(F, name + "_deriv")
    numerical = F.deriv(f, x, delta=0.001)  # (200,), like x
    worst = max(worst, float(np.abs(f_prime(x) - numerical).max()))
    axes[0, k].plot(x, f(x))
    axes[0, k].set_title(f"{name}(u)")
    axes[1, k].plot(x, f_prime(x), lw=4, alpha=0.4, label="exact")
    axes[1, k].plot(x, numerical, "k--", lw=1, label="numerical")
    axes[1, k].set_title(f"d {name} / du")
axes[1, 0].legend()
fig.tight_layout()
plt.show()
print(f"max |exact - numerical| derivative: {worst:.2e}")

# %% [markdown]
# ## 2. Nested functions and the chain rule
#
# For $f(x) = f_2(f_1(x))$ the chain rule says
#
# $$\frac{df}{dx}(x) = \frac{df_2}{du}\big(f_1(x)\big) \cdot \frac{df_1}{du}(x)$$
#
# so a *forward pass* computes $f_1(x)$ and keeps it, and a *backward pass* evaluates each local derivative at
# its own input and multiplies them. Three nested functions just add a factor:
# $\frac{d}{dx} f_3(f_2(f_1(x))) = f_3'(f_2(f_1(x))) \cdot f_2'(f_1(x)) \cdot f_1'(x)$.
# That forward-then-backward bookkeeping is all backpropagation is.

# %%
chain_2 = [F.square, F.sigmoid]  # sigma(x^2)
chain_3 = [F.leaky_relu, F.square, F.sigmoid]  # sigma(leaky_relu(x)^2)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
worst = 0.0
for ax, chain, rule, title in [(axes[0], chain_2, F.chain_deriv_2, "sigma(square(x))"),
                               (axes[1], chain_3, F.chain_deriv_3, "sigma(square(leaky_relu(x)))")]:
    by_chain_rule = rule(chain, x)
    numerical = F.deriv(F.chain(chain), x, delta=0.001)  # differentiate the composed function directly
    worst = max(worst, float(np.abs(by_chain_rule - numerical).max()))
    ax.plot(x, F.chain(chain)(x), label="f(x)")
    ax.plot(x, by_chain_rule, lw=4, alpha=0.4, label="df/dx, chain rule")
    ax.plot(x, numerical, "k--", lw=1, label="df/dx, numerical")
    ax.set_title(title)
    ax.legend(fontsize=8)
plt.show()
print(f"max |chain rule - numerical|: {worst:.2e}")

# %% [markdown]
# ## 3. Functions of several inputs
#
# With two inputs, $s = \sigma(a)$ where $a = x \cdot y$, each input gets its own *partial* derivative; the
# chain rule runs through $a$: $\frac{\partial s}{\partial x} = \sigma'(a) \cdot y$ and
# $\frac{\partial s}{\partial y} = \sigma'(a) \cdot x$.

# %%
rng = np.random.default_rng(0)
xs, ys = rng.standard_normal(5), rng.standard_normal(5)
ds_dx, ds_dy = F.multiple_inputs_multiply_backward(xs, ys, F.sigmoid)
# the numerical check moves one input and holds the other still
numerical_dx = F.deriv(lambda u: F.multiple_inputs_multiply(u, ys, F.sigmoid), xs)
numerical_dy = F.deriv(lambda v: F.multiple_inputs_multiply(xs, v, F.sigmoid), ys)
worst = max(np.abs(ds_dx - numerical_dx).max(), np.abs(ds_dy - numerical_dy).max())
print("ds/dx =", np.round(ds_dx, 4))
print(f"max |partial derivative - numerical|: {worst:.2e}")

# %% [markdown]
# ## 4. The matrix chain rule
#
# A layer multiplies a batch $X$ of shape $(n, d_{in})$ by weights $W$ of shape $(d_{in}, d_{out})$. Follow the
# book's computation $N = X W$, $S = \sigma(N)$, $L = \Lambda(S) = \sum_{i,j} S_{ij}$. The chain rule holds
# for matrices too, with the matrix product's derivative becoming a product with a transpose:
#
# $$\frac{\partial L}{\partial N} = \frac{\partial \Lambda}{\partial S} \odot \sigma'(N), \qquad
#   \frac{\partial L}{\partial X} = \frac{\partial L}{\partial N}\, W^T, \qquad
#   \frac{\partial L}{\partial W} = X^T\, \frac{\partial L}{\partial N}$$
#
# ($\odot$ is the elementwise product; here $\frac{\partial \Lambda}{\partial S}$ is all ones). Each gradient
# has the shape of the thing it differentiates. The book checks $\frac{\partial L}{\partial X}$ by nudging one
# element, $x_{11}$, by $0.001$ and watching $L$ move by about $0.001 \cdot \frac{\partial L}{\partial x_{11}}$.

# %%
book = np.random.RandomState(190204)  # the book's seed and its legacy stream, so its printed numbers come out
X, W = book.randn(3, 3), book.randn(3, 2)  # (n, d_in) = (3, 3), (d_in, d_out) = (3, 2)

L = F.matrix_function_forward_sum(X, W, F.sigmoid)
dL_dX, dL_dW = F.matrix_function_backward_sum(X, W, F.sigmoid)  # (3, 3) and (3, 2)

X_nudged = X.copy()
X_nudged[0, 0] += 0.001
slope = (F.matrix_function_forward_sum(X_nudged, W, F.sigmoid) - L) / 0.001
print("dL/dX =\n", np.round(dL_dX, 4))
print(f"L: {L:.4f}")
print(f"dL/dx11 by the chain rule: {dL_dX[0, 0]:.6f}")
print(f"dL/dx11 by nudging x11: {slope:.6f}")

# %%
# L as x11 sweeps a range, and the tangent whose slope the chain rule computed
x11 = X[0, 0] + np.linspace(-3, 3, 61)
curve = []
for value in x11:
    X_moved = X.copy()
    X_moved[0, 0] = value
    curve.append(F.matrix_function_forward_sum(X_moved, W, F.sigmoid))
near = np.abs(x11 - X[0, 0]) < 1
plt.figure(figsize=(6, 3.5))
plt.plot(x11, curve, label="L")
plt.plot(x11[near], L + dL_dX[0, 0] * (x11[near] - X[0, 0]), "r--", label="tangent, slope dL/dx11")
plt.plot(X[0, 0], L, "ko")
plt.xlabel("x11")
plt.legend()
plt.show()

# %% [markdown]
# ## 5. Hand-derived and autograd: the same numbers
#
# The point of `dlfs`: one interface, two implementations. Below, each backend computes the gradients of the
# same $L$; scratch with the formulas above, torch with `torch.autograd`. They agree to rounding.

# %%
grads = {}
for name in dlfs.BACKENDS:
    G = backend(name).foundations
    grads[name] = G.matrix_function_backward_sum(X, W, G.sigmoid)  # (dL/dX, dL/dW)
(first, second) = grads.values()
gap = max(float(np.abs(a - b).max()) for a, b in zip(first, second))
print(f"max |scratch - torch| over dL/dX and dL/dW: {gap:.1e}")
