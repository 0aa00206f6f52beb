"""dlfs's NumPy backend: every concept of *Deep Learning from Scratch* written from first principles.

Imports NumPy (SciPy where a concept needs it), never torch. ``__all__`` is the shared interface: the torch
backend (``torch_impl``) exports the same names with the same signatures.
"""

from scratch import (
    autograd,  # noqa: F401  (issue 5: B.autograd.tensor, ...)
    foundations,  # noqa: F401  (chapter 1: B.foundations.sigmoid, ...)
)
from scratch.activations import Linear, ReLU, Sigmoid, Tanh
from scratch.adaptive import AdaGrad, Adam, clip_grad_norm, clip_grad_value
from scratch.autoencoder import Autoencoder
from scratch.conv import Conv2D
from scratch.dense import Dense
from scratch.dropout import Dropout
from scratch.gru import GRULayer, GRUNode
from scratch.linear_regression import closed_form_linear_regression
from scratch.losses import MeanSquaredError, SoftmaxCrossEntropy
from scratch.lstm import LSTMLayer, LSTMNode
from scratch.network import NeuralNetwork
from scratch.optimizers import SGD, SGDMomentum
from scratch.pooling import AvgPool2D, MaxPool2D
from scratch.recurrent import RNNLinear
from scratch.reshape import Flatten, Reshape
from scratch.rnn import RNNLayer, RNNNode
from scratch.trainer import Trainer
from scratch.tsne import TSNE

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
    # issue 6: exact t-SNE (pieces in the tsne submodule)
    "TSNE",
    # issue 6: the convolutional autoencoder of chapter 7
    "Autoencoder",
]
