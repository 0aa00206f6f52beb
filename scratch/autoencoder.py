"""The convolutional autoencoder of chapter 7, built from the chapter 5 layers.

The encoder squeezes an image (N, C, H, W) through two tanh convolutions and a Dense layer into an
encoding (N, encoding_dim) -- 28 numbers for a 784-pixel MNIST digit; the decoder mirrors it back to
an image. Trained with the image as its own target (mean squared error), the network must keep in
the encoding what it needs to redraw the image, without ever seeing a label:

    encoder  x (N, C, H, W) -> Conv2D(14, 5x5, tanh) -> Conv2D(7, 5x5, tanh, flatten) (N, 7*H*W)
             -> Dense(encoding_dim, tanh) = z (N, encoding_dim)
    decoder  z -> Dense(7*H*W, tanh) -> Reshape((7, H, W)) -> Conv2D(14, 5x5, tanh)
             -> Conv2D(C, 5x5, tanh) = reconstruction (N, C, H, W)

Every convolution pads "same", so the maps keep the image's size; the final tanh puts the
reconstruction in [-1, 1], which is why the book scales the pixels to [-1, 1]. The Dense layers are
sized by the image, so the model is built for one ``image_size`` and refuses others with a clear
error (``dlfs.windows.check_images``, the same check in both backends).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlfs.errors import check_array, check_positive_int
from dlfs.windows import check_images, pair
from scratch.activations import Tanh
from scratch.dense import Dense
from scratch.fast.conv import Conv2D
from scratch.losses import MeanSquaredError
from scratch.network import NeuralNetwork
from scratch.reshape import Reshape

__all__ = ["Autoencoder"]

KERNEL_SIZE = 5  # the book's 5x5 filters throughout
HIDDEN_CHANNELS = (14, 7)  # the encoder's feature maps (the decoder mirrors them: 7 -> 14 -> C)


class Autoencoder(NeuralNetwork):
    """Chapter 7's convolutional autoencoder: a ``NeuralNetwork`` of encoder then decoder layers,
    with ``MeanSquaredError`` as its loss, that also runs either half on its own.

    ``image_size`` is H or (H, W); ``channels`` is C. ``weight_init`` applies to every layer
    ("glorot" by default: the book keeps PyTorch's own initialisation, which a NumPy stream cannot
    reproduce; both scale the weights by the fans). The parameters are drawn at construction, from
    ``seed``, in layer order, the same in both backends. Train it like any network with the image as
    its own target: ``Trainer(ae, opt).fit(X, X)``. ``device``: ``"cpu"`` or None (NumPy; the torch
    backend also takes ``"cuda"``).

    Shapes: forward x (N, C, H, W) -> reconstruction (N, C, H, W);
    ``encode`` x -> z (N, encoding_dim); ``decode`` z -> (N, C, H, W). State-dict keys
    ``layers.<i>.W``/``.B`` for layers 0-2 (encoder) and 3, 5, 6 (decoder; layer 4 is the Reshape).
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
        self.forward(np.zeros((1, self.channels, H, W)), training=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W): the shape of one image this model takes."""
        return (self.channels, *self.image_size)

    def _cast(self, name: str, x: Any) -> np.ndarray:
        """Every input of the network passes here (forward, train_batch, the Trainer): check it
        is a batch of finite images of the size the model was built for, then cast to the
        network's dtype."""
        check_images(repr(self), name, tuple(np.shape(x)), self.input_shape)
        return super()._cast(name, x)

    @staticmethod
    def _apply_half(layers: list, x: np.ndarray, batch_size: int) -> np.ndarray:
        """``layers`` applied in inference mode, ``batch_size`` rows at a time (bounded memory)."""
        out = []
        for i in range(0, len(x), batch_size):
            h = x[i : i + batch_size]
            for layer in layers:
                h = layer.forward(h, training=False)
            out.append(h)
        return np.concatenate(out)

    def encode(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Images x (N, C, H, W) -> encodings z (N, encoding_dim) in [-1, 1], inference mode."""
        check_positive_int("batch_size", batch_size)
        return self._apply_half(self.encoder_layers, self._cast("x", x), batch_size)

    def decode(self, z: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Encodings z (N, encoding_dim) -> images (N, C, H, W) in [-1, 1], inference mode."""
        check_positive_int("batch_size", batch_size)
        z = check_array("z", z, ndim=2)
        if z.shape[1] != self.encoding_dim or z.shape[0] == 0:
            raise ValueError(f"{self!r}: z expected encodings of shape (N, {self.encoding_dim}) "
                             f"with N >= 1, got shape {z.shape}")
        return self._apply_half(self.decoder_layers, z.astype(self.dtype, copy=False), batch_size)

    def __repr__(self) -> str:
        return f"Autoencoder(image_size={self.image_size}, encoding_dim={self.encoding_dim})"
