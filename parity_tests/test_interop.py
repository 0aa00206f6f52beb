"""Ordinary PyTorch models in and out (``dlfs.from_torch``, ``dlfs.to_torch``) and weights as safetensors.

Random models of every supported module, float64 (1e-12 relative) and float32 (the tolerance table), both
backends: the output, dL/dx and every parameter gradient (a random upstream gradient) equal the torch module's.
"""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn

import dlfs
from dlfs.interop import UnsupportedModuleError, torch_grads
from dlfs.io import WeightsFileError
from dlfs.tolerances import Tol, tolerance
from study.parity import compare, namespace

pytestmark = [pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel"),  # the module's own
              pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")]
TIGHT = Tol(1e-12, 1e-15, "float64 interop: the same arithmetic reordered; <1e-14 seen")


class Chain(nn.Module):
    """A module whose children run in order; a recurrent child hands on its output sequence."""

    def __init__(self, *mods: nn.Module) -> None:
        super().__init__()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.children():
            x = m(x)
            x = x[0] if isinstance(x, tuple) else x
        return x


S = nn.Sequential
ARCHS = {  # name: (module, one sample's shape)
    "mlp-sigmoid": (lambda: S(nn.Linear(5, 7), nn.Sigmoid(), nn.Linear(7, 3)), (5,)),
    "mlp-tanh": (lambda: S(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4), nn.Tanh()), (5,)),
    "mlp-relu": (lambda: S(nn.Linear(5, 9), nn.ReLU(), nn.Linear(9, 6), nn.ReLU(), nn.Linear(6, 2)), (5,)),
    "mlp-mixed": (lambda: S(nn.Identity(), nn.Linear(6, 8), nn.ReLU(), nn.Tanh(), nn.Dropout(0.3),
                            S(nn.Linear(8, 5), nn.Identity()), nn.Sigmoid(), nn.Linear(5, 3)), (6,)),
    "cnn": (lambda: S(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 3, (3, 2)),
                      nn.Sigmoid(), nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(12, 5)), (2, 10, 9)),
    "cnn-options": (lambda: S(nn.Conv2d(3, 4, 4, padding="same"), nn.Tanh(), nn.MaxPool2d(3, stride=2),
                              nn.Conv2d(4, 5, 3, stride=2, padding=2, bias=False), nn.ReLU(), nn.Dropout(0.2),
                              nn.Flatten(), nn.Linear(80, 4), nn.Tanh(), nn.Linear(4, 2)), (3, 11, 12)),
    "cnn-strided": (lambda: S(nn.Conv2d(1, 3, (2, 3), stride=(2, 1), padding=(1, 0)), nn.AvgPool2d((2, 1)),
                              nn.Flatten(), nn.Linear(3 * 2 * 5, 2)), (1, 7, 7)),
    "cnn-torch-options": (lambda: S(nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), nn.ReLU(),
                                    nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                                    nn.Conv2d(6, 6, (2, 3), groups=3, stride=(1, 2), padding=(1, 0)),
                                    nn.AvgPool2d(2, padding=1, count_include_pad=False, ceil_mode=True),
                                    nn.Flatten(), nn.Linear(48, 3)), (4, 11, 10)),
    "unflatten": (lambda: S(nn.Linear(12, 24), nn.Unflatten(1, (2, 3, 4)), nn.Conv2d(2, 3, 2, padding=1),
                            nn.Flatten(2), nn.Linear(20, 2)), (12,)),
    "rnn": (lambda: Chain(nn.RNN(4, 6, batch_first=True), nn.Linear(6, 3)), (5, 4)),
    "gru": (lambda: Chain(nn.GRU(4, 6, num_layers=2, batch_first=True), nn.Linear(6, 3)), (5, 4)),
    "lstm": (lambda: Chain(nn.LSTM(4, 6, num_layers=3, dropout=0.2, batch_first=True), nn.Tanh(),
                           nn.Linear(6, 2)), (5, 4)),
    "recurrent-mix": (lambda: Chain(nn.GRU(4, 5, batch_first=True), nn.RNN(5, 6, num_layers=2, batch_first=True),
                                    nn.LSTM(6, 3, batch_first=True), nn.Linear(3, 2)), (1, 4)),
}
WORST: dict[str, float] = {}  # dtype -> worst normwise relative error seen (printed with -s)


def randomised(module: nn.Module, dtype: str, seed: int = 0) -> nn.Module:
    """``module`` in ``dtype`` with N(0, 0.5) weights and biases (both recurrent biases non-zero)."""
    module = module.to(getattr(torch, dtype))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return module.eval()


def reference(module: nn.Module, x: np.ndarray, g: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The module's output and (with upstream ``g``) dL/dx; its parameters keep their gradients."""
    xt = torch.tensor(x, requires_grad=True)
    module.zero_grad(set_to_none=True)
    out = module(xt)
    out = out[0] if isinstance(out, tuple) else out
    out.backward(torch.tensor(g if g is not None else np.ones(out.shape, x.dtype)))
    return out.detach().numpy(), xt.grad.numpy()


def check_parity(net, module: nn.Module, shape: tuple[int, ...], dtype: str, batch: int = 3,
                 training: bool = False, seed: int = 1) -> float:
    """Output, dL/dx and every parameter gradient of ``net`` against ``module``; the worst relative error."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape)).astype(dtype)
    g = rng.standard_normal(net.forward(x, training=False).shape).astype(dtype)
    out, dx = reference(module, x, g)
    tol = TIGHT if dtype == "float64" else tolerance("default", dtype)
    got = [compare("output", net.forward(x, training=training), out, tol=tol),
           compare("input_grad", net.backward(g), dx, tol=tol)]
    expected, grads = torch_grads(module, shape), net.grad_dict()
    assert sorted(grads) == sorted(expected)
    got += [compare(f"grad:{k}", grads[k], expected[k], tol=tol) for k in sorted(expected)]
    worst = max(c.max_rel for c in got)
    WORST[dtype] = max(WORST.get(dtype, 0.0), worst)
    return worst


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_from_torch_matches_the_module(B, arch, dtype):
    build, shape = ARCHS[arch]
    module = randomised(build(), dtype)
    net = dlfs.from_torch(module, B, input_shape=shape)
    assert net.dtype == dtype
    for batch in (1, 3):
        check_parity(net, module, shape, dtype, batch)


def test_the_mapping_fuses_activations_and_stacks_layers():
    net = dlfs.from_torch(randomised(ARCHS["mlp-mixed"][0](), "float64"))  # input shape from the first Linear
    assert repr(net.layers) == "[Linear(), Dense(8), Tanh(), Dropout(p=0.3), Dense(5), Sigmoid(), Dense(3)]"
    assert [type(a.activation).__name__ for a in (net.layers[1], net.layers[4])] == ["ReLU", "Linear"]
    net = dlfs.from_torch(randomised(ARCHS["lstm"][0](), "float64"), "torch")  # (3, V): three steps
    assert repr(net.layers) == ("[LSTMLayer(6), Dropout(p=0.2), LSTMLayer(6), Dropout(p=0.2), LSTMLayer(6), "
                                "Tanh(), RNNLinear(2)]")
    net = dlfs.from_torch(randomised(ARCHS["unflatten"][0](), "float64"))
    assert repr(net.layers) == "[Dense(24), Reshape((2, 3, 4)), Conv2D(3, kernel_size=2), Reshape((3, 20)), " \
                               "RNNLinear(2)]"


def test_conversion_leaves_the_modules_modes_and_torchs_generator_alone():
    module = randomised(ARCHS["lstm"][0](), "float64").train()
    lstm, _, linear = module.children()
    lstm.eval()
    state = torch.get_rng_state()
    dlfs.from_torch(module)
    torch_grads(module)
    assert torch.equal(torch.get_rng_state(), state)
    assert module.training and not lstm.training and linear.training


def test_the_book_forms_convert_too():
    for arch in ("cnn-strided", "gru", "mlp-tanh"):
        build, shape = ARCHS[arch]
        module = randomised(build(), "float64")
        check_parity(dlfs.from_torch(module, namespace("book"), input_shape=shape), module, shape, "float64")


def _training_pass(module: nn.Module, x: np.ndarray, g: np.ndarray, seed: int) -> tuple:
    """The module's training-mode output and dL/dx (gradients left on its parameters) from torch's generator
    seeded with ``seed``, and the masks its ``nn.Dropout``s drew, replayed from the same seed."""
    drops = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((i[0].detach(), o.detach()))) for m in drops]
    module.train()
    torch.manual_seed(seed)
    out, dx = reference(module, x, g)
    module.eval()
    for h in hooks:
        h.remove()
    torch.manual_seed(seed)  # the same draws again, on ones: the masks themselves
    masks = [F.dropout(torch.ones_like(i), m.p, training=True) for (i, _), m in zip(seen, drops, strict=True)]
    for (i, o), mask in zip(seen, masks):
        torch.testing.assert_close(o, i * mask, rtol=0, atol=0)  # the replay is exact
    return out, dx, [mask.numpy() for mask in masks]


class MaskReplay:
    """A dropout layer's stream handing out one given keep-mask: ``random(shape)`` is 1 where torch kept a unit
    and 0 where it dropped one (dlfs keeps ``u >= p``)."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        assert tuple(shape) == self.mask.shape
        return (self.mask != 0).astype(np.float64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dropout_in_training_mode_with_torchs_masks(B, dtype):
    module = randomised(S(nn.Linear(6, 9), nn.ReLU(), nn.Dropout(0.4), nn.Linear(9, 7), nn.Dropout(0.25),
                          nn.Tanh(), nn.Linear(7, 3)), dtype)
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((4, 6)).astype(dtype), rng.standard_normal((4, 3)).astype(dtype)
    out, dx, masks = _training_pass(module, x, g, seed=11)
    assert any((m == 0).any() for m in masks) and all((m != 0).any() for m in masks)
    net = dlfs.from_torch(module, B)
    for layer, mask in zip([la for la in net.layers if type(la).__name__ == "Dropout"], masks, strict=True):
        layer.mask_rng = MaskReplay(mask)
    tol = TIGHT if dtype == "float64" else tolerance("default", dtype)
    compare("train-mode output", net.forward(x, training=True), out, tol=tol)
    compare("train-mode input_grad", net.backward(g), dx, tol=tol)
    expected, grads = torch_grads(module), net.grad_dict()
    for k in sorted(expected):
        compare(f"train-mode grad:{k}", grads[k], expected[k], tol=tol)


# --- to_torch: plain modules whose state loads into the hand-written model ------------------------------------
def _net(B, layers, shape, dtype="float64", seed=4):
    net = B.NeuralNetwork(layers, B.MeanSquaredError(), seed=seed, dtype=dtype)
    net.forward(np.zeros((1, *shape)), training=False)
    return net


HAND = {  # name: (dlfs layers, one sample's shape, the same model written by hand in PyTorch)
    "mlp": (lambda B: [B.Dense(8, B.Tanh()), B.Dense(6, "relu", dropout=0.25), B.Dense(3)], (5,),
            lambda: S(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.ReLU(), nn.Dropout(0.25), nn.Linear(6, 3))),
    "cnn": (lambda B: [B.Conv2D(4, 3, padding=1, activation="relu"), B.MaxPool2D(2),
                       B.Conv2D(3, 2, activation="sigmoid", flatten=True), B.Dense(5)], (2, 8, 8),
            lambda: S(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 3, 2, padding="same"),
                      nn.Sigmoid(), nn.Flatten(), nn.Linear(48, 5))),
    "reshape": (lambda B: [B.Dense(32, "relu"), B.Reshape((2, 4, 4)), B.Conv2D(3, 3, stride=2, padding=0,
                                                                               bias=False),
                           B.AvgPool2D(1), B.Flatten(), B.Dropout(0.1), B.Dense(2), B.Tanh()], (6,),
                lambda: S(nn.Linear(6, 32), nn.ReLU(), nn.Unflatten(1, (2, 4, 4)), nn.Conv2d(2, 3, 3, 2, bias=False),
                          nn.AvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(3, 2), nn.Tanh())),
    "lstm": (lambda B: [B.LSTMLayer(6), B.LSTMLayer(6), B.RNNLinear(3)], (5, 4),
             lambda: Chain(nn.LSTM(4, 6, num_layers=2, batch_first=True), nn.Linear(6, 3))),
    "cnn-options": (lambda B: [B.Conv2D(4, 3, padding=1, groups=2, dilation=(1, 2), activation="tanh"),
                               B.MaxPool2D(3, 2, padding=1, ceil_mode=True),
                               B.AvgPool2D(2, 1, padding=1, count_include_pad=False, divisor_override=3),
                               B.Flatten(), B.Dense(2)], (2, 8, 8),
                    lambda: S(nn.Conv2d(2, 4, 3, padding=1, groups=2, dilation=(1, 2)), nn.Tanh(),
                              nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
                              nn.AvgPool2d(2, 1, padding=1, count_include_pad=False, divisor_override=3),
                              nn.Flatten(), nn.Linear(120, 2))),
    "gru-rnn": (lambda B: [B.GRULayer(5), B.Dropout(0.3), B.GRULayer(5), B.RNNLayer(4), B.RNNLinear(2)], (5, 4),
                lambda: Chain(nn.GRU(4, 5, num_layers=2, dropout=0.3, batch_first=True),
                              nn.RNN(5, 4, batch_first=True), nn.Linear(4, 2))),
}


@pytest.mark.parametrize("case", sorted(HAND))
def test_to_torch_state_loads_into_the_hand_written_model(B, case):
    layers, shape, hand_written = HAND[case]
    net = _net(B, layers(B), shape)
    module = dlfs.to_torch(net)
    assert all(type(m).__module__.startswith("torch.nn") for m in module.children()), module
    hand = hand_written().double()
    hand.load_state_dict(module.state_dict(), strict=True)
    x = np.random.default_rng(0).standard_normal((3, *shape))
    compare("hand-written output", reference(hand.eval(), x)[0], net.forward(x, training=False), tol=TIGHT)
    compare("to_torch output", reference(module.eval(), x)[0], net.forward(x, training=False), tol=TIGHT)
    back = dlfs.from_torch(module, "scratch" if B is dlfs.backend("torch") else "torch", input_shape=shape)
    values = list(back.state_dict().values())  # Dense(dropout=p) comes back as Dense, Dropout: other indices
    assert len(values) == len(net.state_dict())
    for (k, v), w in zip(net.state_dict().items(), values):  # dlfs -> torch -> the other backend: bit for bit
        np.testing.assert_array_equal(w, v, err_msg=k)


@pytest.mark.parametrize("arch", ["mlp-mixed", "cnn-options", "lstm", "recurrent-mix"])
def test_torch_to_dlfs_to_torch_computes_the_same(arch):
    build, shape = ARCHS[arch]
    module = randomised(build(), "float64")
    again = dlfs.to_torch(dlfs.from_torch(module, "torch", input_shape=shape)).eval()
    x = np.random.default_rng(2).standard_normal((2, *shape))
    compare("round trip", reference(again, x)[0], reference(module, x)[0], tol=TIGHT)


def test_to_torch_has_no_module_for_the_classic_gru(B):
    with pytest.raises(UnsupportedModuleError, match="layer 0 GRULayer.*classic GRU has no standard PyTorch"):
        dlfs.to_torch(_net(B, [B.GRULayer(3, gru="classic")], (2, 4)))


# --- what does not convert says so ----------------------------------------------------------------------------
def test_an_unsupported_module_is_named_with_what_is_supported():
    module = S(nn.Linear(4, 5), S(nn.ReLU(), nn.BatchNorm1d(5)), nn.Linear(5, 1))
    with pytest.raises(UnsupportedModuleError, match=r"module '1.1' \(position 2, nn.BatchNorm1d\) is not "
                                                     r"supported: BatchNorm1d.*supported: nn.Linear, nn.Conv2d"):
        dlfs.from_torch(module)


@pytest.mark.parametrize("module,message", [
    (nn.Linear(3, 2, bias=False), "option bias=False is not supported: dlfs's Dense takes no 'bias'"),
    (Chain(nn.LSTM(3, 4, batch_first=True, bidirectional=True)), "option bidirectional=True is not supported"),
    (Chain(nn.LSTM(3, 4, batch_first=True, proj_size=2)), "option proj_size=2 is not supported"),
    (Chain(nn.RNN(3, 4, batch_first=True, nonlinearity="relu")), "option nonlinearity='relu' is not supported"),
    (Chain(nn.GRU(3, 4, batch_first=True, bias=False)), "option bias=False is not supported"),
    (Chain(nn.GRU(3, 4)), "batch_first=False: dlfs's recurrent layers take"),
    (S(nn.Linear(4, 8), nn.Unflatten(1, (2, 2, 2)), nn.Conv2d(2, 2, 1, padding_mode="reflect")),
     "option padding_mode='reflect' is not supported"),
    (S(nn.Linear(4, 8), nn.Unflatten(1, (2, 2, 2)), nn.MaxPool2d(2, return_indices=True)), "return_indices=True"),
    (S(nn.Linear(4, 4), nn.Flatten(0)), "reshapes the batch axis"),
    (S(nn.Conv2d(2, 3, 3)), "pass input_shape, one sample's shape"),
    (S(nn.Linear(4, 4)).half(), "dlfs runs float32 or float64"),
])
def test_unsupported_options_are_named(module, message):
    with pytest.raises((UnsupportedModuleError, ValueError), match=message.replace("(", r"\(")):
        dlfs.from_torch(module)


def test_a_forward_that_does_not_chain_its_children_is_caught():
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(x + self.a(x))

    with pytest.raises(ValueError, match="differs from the module.*run its children in order"):
        dlfs.from_torch(Residual())
    with pytest.raises(ValueError, match="cannot hold an nn.RNN/GRU/LSTM"):  # nn.Sequential + nn.LSTM fails itself
        dlfs.from_torch(S(nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 2)))


# the conv/pool options by PyTorch's name: every one the layers take (all of PyTorch's but padding_mode) converts
OPTIONS = [
    nn.Conv2d(4, 6, 3, stride=2), nn.Conv2d(4, 6, (3, 2), padding=(2, 1)), nn.Conv2d(4, 6, 3, padding="valid"),
    nn.Conv2d(4, 6, 3, dilation=2), nn.Conv2d(4, 6, 3, groups=2, padding=1), nn.Conv2d(4, 4, 3, groups=4),
    nn.Conv2d(4, 6, 2, padding="same", dilation=2), nn.MaxPool2d(3, stride=1, padding=1), nn.MaxPool2d(2, dilation=2),
    nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.AvgPool2d(3, stride=2, padding=1),
    nn.AvgPool2d(3, padding=1, count_include_pad=False), nn.AvgPool2d(2, ceil_mode=True, stride=3),
    nn.AvgPool2d(2, divisor_override=3), nn.AvgPool2d(2, count_include_pad=False),
]


@pytest.mark.parametrize("layer", OPTIONS, ids=repr)
def test_conv_and_pool_options_convert_exactly(B, layer):
    module = randomised(S(layer, nn.Tanh()), "float64")
    net = dlfs.from_torch(module, B, input_shape=(4, 9, 8), dtype="float64")  # a pool has no dtype of its own
    check_parity(net, module, (4, 9, 8), "float64", batch=2)


def test_a_loss_by_name_trains():
    net = dlfs.from_torch(randomised(ARCHS["mlp-relu"][0](), "float32"), "torch", loss="SoftmaxCrossEntropy")
    assert np.isfinite(net.train_batch(np.ones((4, 5), np.float32), np.eye(2)[[0, 1, 1, 0]]))


# --- weights as safetensors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["mlp", "cnn", "gru-rnn"])
def test_safetensors_round_trip_scratch_torch_scratch_bit_for_bit(tmp_path, case):
    layers, shape, _ = HAND[case]
    S_, T_ = dlfs.backend("scratch"), dlfs.backend("torch")
    first, middle, last = _net(S_, layers(S_), shape, seed=1), _net(T_, layers(T_), shape, seed=2), \
        _net(S_, layers(S_), shape, seed=3)
    dlfs.load_weights(middle, dlfs.save_weights(first, tmp_path / "a.safetensors"))
    dlfs.load_weights(last, dlfs.save_weights(middle, tmp_path / "b.safetensors"))
    for k, v in first.state_dict().items():
        assert last.state_dict()[k].dtype == v.dtype
        np.testing.assert_array_equal(last.state_dict()[k], v, err_msg=k)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_a_torch_layout_safetensors_file_loads(B, tmp_path):
    layers, shape, _ = HAND["gru-rnn"]
    source, target = _net(B, layers(B), shape, seed=1), _net(B, layers(B), shape, seed=2)
    safetensors.torch.save_file(dlfs.to_torch(source).state_dict(), tmp_path / "torch.safetensors")
    dlfs.load_weights(target, tmp_path / "torch.safetensors")
    for k, v in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[k], v, err_msg=k)
    state = dlfs.to_torch(source).state_dict()
    safetensors.torch.save_file({**state, "0.weight_hh_l0": state["0.weight_hh_l0"][:, :2].contiguous()},
                                tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match=r"key '0.weight_hh_l0' expected shape \(15, 5\)"):
        dlfs.load_weights(target, tmp_path / "bad.safetensors")


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_weights_files_fail_clearly(B, tmp_path, suffix):
    layers, shape, _ = HAND["mlp"]
    net = _net(B, layers(B), shape)
    path = dlfs.save_weights(net, tmp_path / f"w{suffix}")
    data = path.read_bytes()
    for name, content in [("truncated", data[: len(data) // 2]), ("garbage", b"not a weights file" * 9),
                          ("empty", b"")]:
        (tmp_path / f"{name}{suffix}").write_bytes(content)
        with pytest.raises(WeightsFileError, match=f"{name}{suffix}' is not a dlfs weights file"):
            dlfs.load_weights(net, tmp_path / f"{name}{suffix}")
    other = _net(B, [B.Dense(8, B.Tanh()), B.Dense(7), B.Dense(3)], shape)
    with pytest.raises(ValueError, match=r"key 'layers.1.W' expected shape \(8, 7\), got \(8, 6\)"):
        dlfs.load_weights(other, path)
    with pytest.raises(KeyError, match=r"missing keys \['layers.3.W', 'layers.3.B'\]"):
        dlfs.load_weights(_net(B, [*layers(B), B.Dense(2)], shape), path)
    with pytest.raises(FileNotFoundError, match=f"nope{suffix}"):
        dlfs.load_weights(net, tmp_path / f"nope{suffix}")


def test_an_unknown_extension_is_refused(tmp_path):
    B = dlfs.backend("scratch")
    net = _net(B, [B.Dense(2)], (3,))
    for action in (dlfs.save_weights, dlfs.load_weights):
        with pytest.raises(ValueError, match=r"from its extension '.pt'; expected a path ending in '.npz' or "):
            action(net, tmp_path / "w.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_safetensors_write_is_atomic(tmp_path, monkeypatch):
    B = dlfs.backend("scratch")
    net = _net(B, [B.Dense(2)], (3,))
    path = dlfs.save_weights(net, tmp_path / "w.safetensors")
    before = path.read_bytes()
    monkeypatch.setattr(safetensors.numpy, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        dlfs.save_weights(_net(B, [B.Dense(2)], (3,), seed=9), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
