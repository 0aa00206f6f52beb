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
CHARS = 40_000  # the first characters of Tiny Shakespeare to learn from
STEPS = 150  # optimiser steps per model
HIDDEN = 64
SEED = 20190119

# %% [markdown]
# # Chapter 6 — Recurrent neural networks
#
# Text, prices, speech: data that comes as a sequence, where what matters is the order. A recurrent layer
# reads a sequence one step at a time and carries a **hidden state** $h_t$ from each step to the next, a
# running summary of everything it has read. Training it means backpropagating through all the steps, which
# is where the chapter starts: automatic differentiation.
#
# ## Automatic differentiation
#
# Instead of writing every backward pass by hand, let each operation record its inputs and how to pass a
# gradient back to them. The final value then knows the whole graph that computed it; `backward` visits that
# graph from the output to the inputs (in reverse topological order), multiplying by each local derivative and
# **adding** the gradients that reach a value along different paths. `B.autograd` is a small NumPy tape in the
# scratch backend and `torch.autograd` itself in the torch backend, behind the same functions (`tensor`,
# `backward`, `grad_of`, `to_numpy`, ...).

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from dlfs import backend
from dlfs.data import load_tiny_shakespeare

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm: no ipywidgets, no bars
B = backend(BACKEND)
ag = B.autograd  # tensor, backward, grad_of, to_numpy

# %%
rng = np.random.default_rng(SEED)
X = rng.standard_normal((6, 3))  # (n, d)
w0 = rng.standard_normal((3, 1))  # (d, 1)


def loss_of(w):
    """L = mean(tanh(X w)^2) + 0.1 sum(w^2): w is used twice, so two gradients must be added."""
    return ((ag.tensor(X, requires_grad=False) @ w).tanh() ** 2).mean() + 0.1 * (w * w).sum()


w = ag.tensor(w0)  # a leaf that wants its gradient
L = loss_of(w)
ag.backward(L)
grad = ag.grad_of(w)  # dL/dw, (3, 1)

eps = 1e-6  # check each element with a centred finite difference
numerical = np.zeros_like(w0)
for k in range(len(w0)):
    step = np.zeros_like(w0)
    step[k] = eps
    numerical[k] = (ag.to_numpy(loss_of(ag.tensor(w0 + step))) - ag.to_numpy(loss_of(ag.tensor(w0 - step)))) / (2 * eps)
print("dL/dw =", np.round(grad.ravel(), 6))
print(f"max |autograd - finite differences|: {np.abs(grad - numerical).max():.1e}")

# %% [markdown]
# ## Three recurrent cells
#
# With input $x_t$ (one-hot, width $V$) and state $h_{t-1}$ (width $H$), $[x_t, h_{t-1}]$ their concatenation and
# $\sigma$ the logistic function:
#
# **Vanilla RNN.** $h_t = \tanh([x_t, h_{t-1}]\, W_f + B_f)$. Simple, but the gradient through many steps is a
# product of many Jacobians, and it shrinks or explodes.
#
# **LSTM.** A separate *cell state* $c_t$ that is only ever scaled and added to, so gradients flow along it
# easily, guarded by gates:
#
# $$f_t = \sigma([x_t, h_{t-1}] W_f + B_f), \quad i_t = \sigma([x_t, h_{t-1}] W_i + B_i), \quad
#   o_t = \sigma([x_t, h_{t-1}] W_o + B_o), \quad \bar{c}_t = \tanh([x_t, h_{t-1}] W_c + B_c)$$
#
# $$c_t = f_t \odot c_{t-1} + i_t \odot \bar{c}_t, \qquad h_t = o_t \odot \tanh(c_t)$$
#
# **GRU.** Two gates and no separate cell: a reset gate $r_t$ decides how much of $h_{t-1}$ the candidate
# $n_t$ may use, and an update gate $u_t$ mixes old and new, $h_t = u_t \odot h_{t-1} + (1 - u_t) \odot n_t$.
#
# On top of any of them, `RNNLinear` applies one dense layer at every time step, $z_t = h_t W_v + B_v$: the
# scores of the next character. Shapes: (batch, time, $V$) → cell → (batch, time, $H$) → `RNNLinear` →
# (batch, time, $V$).
#
# ## A character model
#
# Learn to predict each next character of Shakespeare. The vocabulary is the sorted set of characters; the
# inputs are windows of 25 characters and the targets the same windows shifted by one.

# %%
text = load_tiny_shakespeare()[:CHARS]
vocab = sorted(set(text))  # sorted: the same ids on every run
index = {ch: i for i, ch in enumerate(vocab)}  # character -> id
V, T = len(vocab), 25
ids = np.array([index[ch] for ch in text])  # (CHARS,)
n = (len(ids) - 1) // T
inputs, targets = ids[: n * T].reshape(n, T), ids[1 : n * T + 1].reshape(n, T)  # (n, T) each
split = int(0.9 * n)  # the last 10% of the windows for validation
X_train, Y_train, X_val, Y_val = inputs[:split], targets[:split], inputs[split:], targets[split:]
identity = np.eye(V)


def one_hot(batch):
    """(batch, T) character ids -> (batch, T, V) one-hot inputs; applied to each batch as it is drawn."""
    return identity[batch]


print(f"{len(text)} characters, vocabulary of {V}; {len(X_train)} training and {len(X_val)} validation windows")
print(f"uniform guess: {np.log(V):.4f}")  # nats per character

# %% [markdown]
# ## Adam and gradient clipping
#
# Two more tools for recurrent networks. **Adam** gives every parameter its own step size: it keeps running
# averages of the gradient and of its square, $m \leftarrow \beta_1 m + (1 - \beta_1) g$ and
# $v \leftarrow \beta_2 v + (1 - \beta_2) g^2$, corrects their start-up bias, $\hat m = m / (1 - \beta_1^t)$ and
# $\hat v = v / (1 - \beta_2^t)$, and steps $\theta \leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)$.
# **Gradient clipping** caps the size of a step when backpropagation through time explodes: if the norm of
# all gradients together exceeds $c$, every gradient is scaled by $c / \lVert g \rVert$. Here is one batch's
# gradient clipped to norm 0.1:

# %%
def char_model(cell):
    layers = [getattr(B, cell)(HIDDEN), B.RNNLinear(V)]
    return B.NeuralNetwork(layers, B.SoftmaxCrossEntropy(), seed=SEED, dtype="float64")


net = char_model("LSTMLayer")
logits = net.forward(one_hot(X_train[:32]))  # (32, 25, V)
net.loss.forward(logits, Y_train[:32])  # cross-entropy at every position, averaged
net.backward(net.loss.backward())


def global_norm(grads):
    return np.sqrt(sum((g**2).sum() for g in grads.values()))


before = B.clip_grad_norm(net, max_norm=0.1)  # returns the norm before clipping
print(f"gradient norm before clipping: {before:.6f}")
print(f"gradient norm after clipping: {global_norm(net.grad_dict()):.6f}")

# %% [markdown]
# ## Training the three cells
#
# The same data, the same budget of steps, Adam with learning rate $0.01$ and gradients clipped to norm 5.
# `Trainer.fit` one-hot encodes each batch through `transform`, stops after `max_steps` and evaluates every
# 25 steps. The loss is cross-entropy in nats per character; $\ln V$ is a uniform guess.

# %%
results = {}
for cell in ["RNNLayer", "GRULayer", "LSTMLayer"]:
    net = char_model(cell)
    trainer = B.Trainer(net, B.Adam(lr=0.01, clip_norm=5.0))
    history = trainer.fit(X_train, Y_train, X_val, Y_val, epochs=100, batch_size=32, seed=SEED, transform=one_hot,
                          max_steps=STEPS, eval_every_steps=25)
    results[cell] = (net, history)
    print(f"validation loss [{cell}]: {history.val_loss[-1]:.4f}")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
for k, (cell, (_, history)) in enumerate(results.items()):
    smooth = np.convolve(history.step_loss, np.ones(10) / 10, mode="valid")  # a 10-step running mean
    ax.plot(np.arange(10, len(history.step_loss) + 1), smooth, color=f"C{k}", alpha=0.5, label=f"{cell} train")
    ax.plot(history.eval_steps, history.val_loss, "o-", color=f"C{k}", label=f"{cell} validation")
ax.axhline(np.log(V), color="gray", ls=":", label="uniform guess")
ax.set(xlabel="step", ylabel="cross-entropy (nats / character)", title=f"{STEPS} steps of Adam, hidden size {HIDDEN}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Sampling
#
# To write, feed the model its own output: score the last 25 characters (from a zero state, as in training),
# draw the next character from the softmax of the last position's scores (divided by a temperature below 1
# to be bolder), append it, repeat. With so small a budget the three cells finish close together (what the
# gates buy, memory across many steps, takes longer training to show), but the LSTM has already learned
# spaces, short words and line breaks; a bigger model trained for longer (`experiments/char_lstm.py`) learns
# names and verse.

# %%
def sample(net, prompt, length, temperature=0.8, seed=SEED):
    draw = np.random.default_rng(seed)
    chars = [index[ch] for ch in prompt]
    for _ in range(length):
        z = net.forward(one_hot(np.array([chars[-T:]])), training=False)[0, -1] / temperature  # (V,)
        p = np.exp(z - z.max())
        chars.append(int(draw.choice(V, p=p / p.sum())))
    return "".join(vocab[i] for i in chars)


print(sample(results["LSTMLayer"][0], "ROMEO:\n", 200))
