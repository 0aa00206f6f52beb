"""dlfs's PyTorch backend: every concept written as idiomatic PyTorch (``nn.Module``,
``torch.optim``, ``DataLoader``), behind the same names and signatures as the NumPy backend
(``scratch``)."""

from torch_impl import (
    autograd,  # noqa: F401  (chapter 6: B.autograd.tensor, ...)
    foundations,  # noqa: F401  (chapter 1: B.foundations.sigmoid, ...)
    tsne,  # noqa: F401  (chapter 7: B.tsne.kl_divergence, ...)
)
from torch_impl.activations import Linear, ReLU, Sigmoid, Tanh
from torch_impl.adaptive import AdaGrad, Adam, clip_grad_norm, clip_grad_value
from torch_impl.autoencoder import Autoencoder
from torch_impl.conv import Conv2D
from torch_impl.dense import Dense
from torch_impl.dropout import Dropout
from torch_impl.gru import GRULayer, GRUNode
from torch_impl.linear_regression import closed_form_linear_regression
from torch_impl.losses import MeanSquaredError, SoftmaxCrossEntropy
from torch_impl.lstm import LSTMLayer, LSTMNode
from torch_impl.network import NeuralNetwork
from torch_impl.optimizers import SGD, SGDMomentum
from torch_impl.pooling import AvgPool2D, MaxPool2D
from torch_impl.recurrent import RNNLinear
from torch_impl.reshape import Flatten, Reshape
from torch_impl.rnn import RNNLayer, RNNNode
from torch_impl.trainer import Trainer
from torch_impl.tsne import TSNE

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
