"""dlfs's NumPy backend: every concept of *Deep Learning from Scratch* written from first principles.

Imports NumPy (SciPy where a concept needs it), never torch. ``__all__`` is the shared interface: the torch
backend (``torch_impl``) exports the same names with the same signatures.
"""

from scratch.activations import Linear, ReLU, Sigmoid, Tanh
from scratch.dense import Dense
from scratch.linear_regression import closed_form_linear_regression
from scratch.losses import MeanSquaredError
from scratch.network import NeuralNetwork
from scratch.optimizers import SGD
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
]
