"""dlfs's NumPy backend: every concept of *Deep Learning from Scratch* written from first
principles.

Imports NumPy (SciPy where a concept needs it), never torch. ``__all__`` is the shared interface:
the torch backend (``torch_impl``) exports the same names with the same signatures.

Two forms of a concept. The module named after a concept (``scratch/lstm.py``) is its *book form*:
the book's equations in order, one line each. Where the fastest NumPy code departs from them, the
*fast form* lives in ``scratch/fast/`` under the same names, and this package exports it, so
training uses it by default; ``scratch.book`` gathers the book forms under the shared names. Both
forms have the same parameters and state-dict layout, and the parity suite holds them equal to each
other and to PyTorch.
"""

from scratch import (
    autograd,  # noqa: F401  (chapter 6: B.autograd.tensor, ...)
    foundations,  # noqa: F401  (chapter 1: B.foundations.sigmoid, ...)
    tsne,  # noqa: F401  (chapter 7: B.tsne.kl_divergence, ...: the book form's pieces)
)
from scratch.activations import Linear, ReLU, Sigmoid, Tanh
from scratch.adaptive import AdaGrad, Adam, clip_grad_norm, clip_grad_value
from scratch.autoencoder import Autoencoder
from scratch.dense import Dense
from scratch.dropout import Dropout
from scratch.fast.conv import Conv2D
from scratch.fast.gru import GRULayer, GRUNode
from scratch.fast.lstm import LSTMLayer, LSTMNode
from scratch.fast.pooling import AvgPool2D, MaxPool2D
from scratch.fast.rnn import RNNLayer, RNNNode
from scratch.fast.tsne import TSNE
from scratch.linear_regression import closed_form_linear_regression
from scratch.losses import MeanSquaredError, SoftmaxCrossEntropy
from scratch.network import NeuralNetwork
from scratch.optimizers import SGD, SGDMomentum
from scratch.recurrent import RNNLinear
from scratch.reshape import Flatten, Reshape
from scratch.trainer import Trainer

__all__ = [
    # chapters 2-3: dense networks
    "Sigmoid", "Tanh", "ReLU", "Linear",
    "Dense",
    "MeanSquaredError",
    "NeuralNetwork",
    "SGD",
    "Trainer",
    "closed_form_linear_regression",
    # chapter 4: extensions
    "SoftmaxCrossEntropy", "SGDMomentum", "Dropout",
    # chapter 5: convolutional networks
    "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Reshape",
    # chapter 6: recurrent networks
    "AdaGrad", "Adam", "clip_grad_value", "clip_grad_norm",
    "RNNNode", "RNNLayer", "GRUNode", "GRULayer", "LSTMNode", "LSTMLayer", "RNNLinear",
    # chapter 7: exact t-SNE (its pieces in the tsne submodule) and the convolutional autoencoder
    "TSNE",
    "Autoencoder",
]
