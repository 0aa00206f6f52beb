"""The book's building blocks (chapter 3): ``Operation``, ``ParamOperation`` and ``Layer``.

An Operation owns one step of the computation: ``forward`` stores its input and returns its output,
``backward`` takes dL/d(output) and returns dL/d(input). A ParamOperation also computes dL/d(param).
A Layer is a sequence of Operations whose parameters are set up the first time it sees an input.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dlfs.errors import check_forward_called, check_layer_input, naming_the_layer
from dlfs.exchange import check_state


class Operation:
    """One differentiable step. Subclasses implement ``_output`` and ``_input_grad``."""

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        self.input_ = check_layer_input(self, input_)
        self.training = training
        self.output = self._output()
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        check_forward_called(self, hasattr(self, "output"))
        if output_grad.shape != self.output.shape:
            raise ValueError(f"{type(self).__name__}.backward: expected a gradient of shape "
                             f"{self.output.shape} (the output's), got {output_grad.shape}")
        self.input_grad = self._input_grad(output_grad)
        return self.input_grad

    # An Operation used on its own (an activation as a layer) answers the layer protocol
    # with no parameters.
    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        check_state(type(self).__name__, {}, state)

    def grad_dict(self) -> dict[str, np.ndarray]:
        return {}

    def _output(self) -> np.ndarray:
        raise NotImplementedError

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ParamOperation(Operation):
    """An Operation with a parameter ``param``; ``backward`` also fills ``param_grad``.

    ``needs_input_grad = False`` skips dL/d(input) (``backward`` returns None):
    ``NeuralNetwork.train_batch`` sets it on the network's first operation, whose input is the data
    (PyTorch does not compute that gradient either).
    """

    needs_input_grad = True

    def __init__(self, param: np.ndarray) -> None:
        self.param = param

    def backward(self, output_grad: np.ndarray) -> np.ndarray | None:
        check_forward_called(self, hasattr(self, "output"))
        if self.needs_input_grad:
            input_grad = super().backward(output_grad)
        else:
            if output_grad.shape != self.output.shape:
                raise ValueError(f"{type(self).__name__}.backward: expected a gradient of shape "
                                 f"{self.output.shape} (the output's), got {output_grad.shape}")
            input_grad = self.input_grad = None
        self.param_grad = self._param_grad(output_grad)
        return input_grad

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Layer:
    """A sequence of Operations; parameters are created by ``_setup_layer`` on the first input.

    ``param_names`` names the ParamOperations' parameters in order: the canonical state-dict keys.
    """

    param_names: tuple[str, ...] = ()

    def __init__(self, neurons: int) -> None:
        self.neurons = neurons
        self.first = True
        self.operations: list[Operation] = []
        self.rng: np.random.Generator = np.random.default_rng(0)  # replaced by the network's stream

    def _setup_layer(self, input_: np.ndarray) -> None:
        raise NotImplementedError

    def _check_input(self, input_: np.ndarray) -> None:
        """Raise a clear error when ``input_`` does not fit this layer (after set-up)."""

    def _prepare(self, input_: np.ndarray) -> np.ndarray:
        """Check ``input_`` (dtype, then fit) and set up the parameters on the first one."""
        input_ = check_layer_input(self, input_)
        if self.first:
            self._check_input(input_)
            self._setup_layer(input_)
            self.first = False
        self._check_input(input_)
        return input_

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        # an out-of-memory names the layer (a network names its position too)
        with naming_the_layer("the forward pass", [self], alone=True):
            x = self._prepare(input_)
            for op in self.operations:
                x = op.forward(x, training)
        self.output = x
        return x

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        check_forward_called(self, hasattr(self, "output"))
        if output_grad.shape != self.output.shape:
            raise ValueError(f"{self!r}.backward: expected a gradient of shape "
                             f"{self.output.shape} (the output's), got {output_grad.shape}")
        g = output_grad
        with naming_the_layer("the backward pass", [self], alone=True):
            for op in reversed(self.operations):
                g = op.backward(g)
        return g

    def _param_ops(self) -> list[ParamOperation]:
        return [op for op in self.operations if isinstance(op, ParamOperation)]

    def params(self) -> list[np.ndarray]:
        return [op.param for op in self._param_ops()]

    def param_grads(self) -> list[np.ndarray]:
        return [op.param_grad for op in self._param_ops()]

    def _require_built(self, what: str) -> None:
        if self.first:
            raise RuntimeError(f"{self!r}.{what}: the layer has no parameters until it sees its "
                               f"first input (call forward once, or build the network with a "
                               f"sample batch)")

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters by name, in the book's own layout (the canonical one): copies."""
        self._require_built("state_dict")
        return {n: p.copy() for n, p in zip(self.param_names, self.params())}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self._require_built("load_state_dict")
        ops = self._param_ops()
        check_state(repr(self), {n: op.param.shape for n, op in zip(self.param_names, ops)}, state)
        for n, op in zip(self.param_names, ops):
            # in place: the optimiser keeps references to these arrays
            op.param[...] = np.asarray(state[n], dtype=op.param.dtype)

    def grad_dict(self) -> dict[str, np.ndarray]:
        self._require_built("grad_dict")
        return {n: g.copy() for n, g in zip(self.param_names, self.param_grads())}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.neurons})"
