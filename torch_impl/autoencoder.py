"""Chapter 7's convolutional autoencoder: two ``nn.Sequential`` halves over the network's modules.

The same layers as ``scratch/autoencoder.py`` (see there for the picture): ``.encoder`` is
Conv2d(14) -> Tanh -> Conv2d(7) -> Tanh -> Flatten -> Linear(encoding_dim) -> Tanh, ``.decoder`` is
Linear(7*H*W) -> Tanh -> Unflatten -> Conv2d(14) -> Tanh -> Conv2d(C) -> Tanh, and ``.module``
(what the Trainer trains) is the two in sequence, the book's ``Autoencoder(Encoder, Decoder)``. The
model is built for one ``image_size`` and refuses others with the same message as the scratch
backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dlfs.errors import check_array, check_positive_int
from dlfs.windows import check_images, pair
from torch_impl.activations import Tanh
from torch_impl.base import to_numpy, to_tensor
from torch_impl.conv import Conv2D
from torch_impl.dense import Dense
from torch_impl.losses import MeanSquaredError
from torch_impl.network import NeuralNetwork
from torch_impl.reshape import Reshape

__all__ = ["Autoencoder"]

KERNEL_SIZE = 5  # the book's 5x5 filters throughout
HIDDEN_CHANNELS = (14, 7)  # the encoder's feature maps (the decoder mirrors them: 7 -> 14 -> C)


class Autoencoder(NeuralNetwork):
    """Chapter 7's convolutional autoencoder: a ``NeuralNetwork`` of encoder then decoder layers,
    with ``MeanSquaredError`` as its loss; ``.encoder`` and ``.decoder`` are its two halves as
    ``nn.Sequential``s.

    ``image_size`` is H or (H, W); ``channels`` is C. ``weight_init`` applies to every layer
    ("glorot" by default; the book keeps PyTorch's own initialisation, which a NumPy stream cannot
    reproduce). The parameters are drawn at construction, from ``seed``, in layer order: the numbers
    of the scratch backend. Train it like any network with the image as its own target:
    ``Trainer(ae, opt).fit(X, X)``. ``device``: where it runs, as ``NeuralNetwork``'s.

    Shapes: forward x (N, C, H, W) -> reconstruction (N, C, H, W);
    ``encode`` x -> z (N, encoding_dim); ``decode`` z -> (N, C, H, W). State-dict keys as the
    scratch backend's.
    """

    def __init__(
        self,
        image_size: int | tuple[int, int],
        encoding_dim: int = 28,
        channels: int = 1,
        seed: int = 1,
        dtype: str = "float32",
        weight_init: str = "glorot",
        device: str | None = None,
    ) -> None:
        self.image_size = pair("image_size", image_size)
        self.channels = check_positive_int("channels", channels)
        self.encoding_dim = check_positive_int("encoding_dim", encoding_dim)
        H, W = self.image_size
        c1, c2 = HIDDEN_CHANNELS
        k, init = KERNEL_SIZE, weight_init
        self.encoder_layers = [Conv2D(c1, k, activation=Tanh(), weight_init=init),
                               Conv2D(c2, k, activation=Tanh(), weight_init=init, flatten=True),
                               Dense(self.encoding_dim, Tanh(), weight_init=init)]
        self.decoder_layers = [Dense(c2 * H * W, Tanh(), weight_init=init), Reshape((c2, H, W)),
                               Conv2D(c1, k, activation=Tanh(), weight_init=init),
                               Conv2D(self.channels, k, activation=Tanh(), weight_init=init)]
        super().__init__(self.encoder_layers + self.decoder_layers, MeanSquaredError(),
                         seed=seed, dtype=dtype, device=device)
        # build now: the image size fixes every shape, and decode() may be called before any forward
        self.build(self.tensor("x", np.zeros((1, self.channels, H, W))))
        self.encoder = nn.Sequential(*[layer.module for layer in self.encoder_layers])
        self.decoder = nn.Sequential(*[layer.module for layer in self.decoder_layers])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W): the shape of one image this model takes."""
        return (self.channels, *self.image_size)

    def tensor(self, name: str, x: Any) -> torch.Tensor:
        """Every input of the network passes here (forward, train_batch, the Trainer): check it
        is a batch of finite images of the size the model was built for, then convert to the
        network's dtype."""
        check_images(repr(self), name, tuple(np.shape(x)), self.input_shape)
        return super().tensor(name, x)

    @staticmethod
    def _apply_half(half: nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
        """``half`` in eval mode, no autograd, ``batch_size`` rows at a time (bounded memory)."""
        half.eval()
        with torch.no_grad():
            return to_numpy(torch.cat([half(b) for b in x.split(batch_size)]))

    def encode(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Images x (N, C, H, W) -> encodings z (N, encoding_dim) in [-1, 1], inference mode."""
        check_positive_int("batch_size", batch_size)
        return self._apply_half(self.encoder, self.tensor("x", x), batch_size)

    def decode(self, z: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Encodings z (N, encoding_dim) -> images (N, C, H, W) in [-1, 1], inference mode."""
        check_positive_int("batch_size", batch_size)
        z = check_array("z", z, ndim=2)
        if z.shape[1] != self.encoding_dim or z.shape[0] == 0:
            raise ValueError(f"{self!r}: z expected encodings of shape (N, {self.encoding_dim}) "
                             f"with N >= 1, got shape {z.shape}")
        return self._apply_half(self.decoder, to_tensor(z, self.torch_dtype, self.device),
                                batch_size)

    def __repr__(self) -> str:
        return f"Autoencoder(image_size={self.image_size}, encoding_dim={self.encoding_dim})"
