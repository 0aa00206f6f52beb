"""dlfs's PyTorch backend: every concept written as idiomatic PyTorch (``nn.Module``, ``torch.optim``,
``DataLoader``), behind the same names and signatures as the NumPy backend (``scratch``)."""

from torch_impl.activations import Linear, ReLU, Sigmoid, Tanh
from torch_impl.dense import Dense
from torch_impl.linear_regression import closed_form_linear_regression
from torch_impl.losses import MeanSquaredError
from torch_impl.network import NeuralNetwork
from torch_impl.optimizers import SGD
from torch_impl.trainer import Trainer

__all__ = [
    # chapters 2-3: dense networks
    "Sigmoid", "Tanh", "ReLU", "Linear",
    "Dense",
    "MeanSquaredError",
    "NeuralNetwork",
    "SGD",
    "Trainer",
    "closed_form_linear_regression",
]
