"""Chapter 5, convolutional networks: Conv2D, max and average pooling, Flatten and Reshape."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from study.parity import ParityReport, check_finite_differences, check_layer_parity
from study.spec import Build, CheckSpec, Concept, LayerSpec

_C, _B = "parity_tests/test_conv.py", "parity_tests/test_book_cnn_tsne.py"
_POOL, _R = "parity_tests/test_pooling.py", "parity_tests/test_reshape.py"
_OPT = "parity_tests/test_conv_options.py"
_W = "parity_tests/test_winograd.py"


def _unbatched(build: Build, shape: tuple[int, int, int]) -> CheckSpec:
    """One unbatched image ``shape`` = (C, H, W), as PyTorch takes it: fast against torch and book against
    fast (output, input gradient of shape (C, H, W), every parameter gradient), and in float64 the book form
    against finite differences."""
    def check(dtype: str) -> list[ParityReport]:
        x = np.random.default_rng(20).standard_normal(shape)

        def at(B: ModuleType) -> Any:
            return build(B, dtype)

        reports = [check_layer_parity(f"unbatched{'' if forms[0] == 'scratch' else ' book vs fast'}", at, shape,
                                      dtype, x=x, forms=forms) for forms in (("scratch", "torch"), ("book", "scratch"))]
        if dtype == "float64":
            reports.append(check_finite_differences("unbatched", at, shape, x=x, form="book"))
        return reports

    return CheckSpec(check)


# --- the book's equations (LaTeX, one display equation each) and what the book's own code does ---------------
_CONV2D_EQ = (
    r"y_{n,o,h,w} = B_{o} + \sum_{c,i,j} \tilde{x}_{n,\gamma C_{g} + c,s h + d i,s w + d j} \, W_{c,o,i,j}, \quad "
    r"\tilde{x} = \text{the zero-padded } x, \; \gamma = \left\lfloor o / O_{g} \right\rfloor",
    r"C_{g} = C / G, \quad O_{g} = O / G \quad (G \text{ groups; the book's layer: } G = 1, \; d = 1)",
    r"H_{o} = \left\lfloor \frac{H + p_{\mathrm{top}} + p_{\mathrm{bottom}} - d (k_{h} - 1) - 1}{s} \right\rfloor + 1",
    r"\frac{\partial L}{\partial W_{c,o,i,j}} = \sum_{n,h,w} g_{n,o,h,w} \, \tilde{x}_{n,\gamma C_{g} + c,s h + d i,"
    r"s w + d j}, \quad g = \frac{\partial L}{\partial y}",
    r"\frac{\partial L}{\partial B_{o}} = \sum_{n,h,w} g_{n,o,h,w}",
    r"\frac{\partial L}{\partial \tilde{x}_{n,\gamma C_{g} + c,a,b}} = \sum_{\gamma O_{g} \le o < (\gamma + 1) O_{g}} "
    r"\; \sum_{h,w,i,j \,:\, s h + d i = a, \; s w + d j = b} g_{n,o,h,w} \, W_{c,o,i,j}",
)
_CONV2D_BOOK = (
    "The book derives the input gradient as a convolution of the padded output gradient with the flipped "
    "kernel, which holds only for stride 1; the book form here sends each product's gradient back along its "
    "edge, the same sum for any stride, padding and dilation. The book's Conv2D layer has no bias (`bias=False` "
    "gives exactly that layer), no dilation and no groups (both added with `nn.Conv2d`'s meanings: `dilation=d` "
    "spaces the kernel's taps d pixels apart, `groups=G` splits the channels into G independent convolutions). "
    "Its conv Glorot uses 2/(in + out) as the standard deviation and leaves out the kernel area, bugs not copied: "
    "both backends use fans C/G kh kw and O kh kw, as `torch.nn.init` counts them, and the same NumPy draws."
)
_MAX_POOL_EQ = (
    r"y_{n,c,h,w} = \max_{0 \le i < k_{h}, \; 0 \le j < k_{w}} \tilde{x}_{n,c,s h + d i,s w + d j}, \quad "
    r"\tilde{x} = x \text{ padded by } p \text{ with } -\infty",
    r"H_{o} = \left\lfloor \frac{H + 2 p - d (k_{h} - 1) - 1}{s} \right\rfloor + 1 \quad "
    r"(\lceil \cdot \rceil \text{ in ceil mode, while the last window starts before } H + p)",
    r"\frac{\partial L}{\partial x_{n,c,a,b}} = \sum_{h,w} g_{n,c,h,w} \, "
    r"\mathbf{1}\left[ (a, b) \text{ is the first maximum of window } (h, w) \right]",
)
_MAX_POOL_BOOK = (
    "Nothing is known to be wrong in the book's code here (it has no padding, dilation or ceil_mode; both "
    "backends add them with `nn.MaxPool2d`'s meanings). The stride defaults to the kernel, padding is -inf and at "
    "most half the kernel, a last incomplete window is dropped unless `ceil_mode=True` keeps it (when it starts "
    "inside the input or the left padding), and on a tie the whole gradient goes to the first maximum in "
    "row-major order, as `np.argmax` and PyTorch's CPU kernel do."
)
_AVG_POOL_EQ = (
    r"y_{n,c,h,w} = \frac{1}{D_{h,w}} \sum_{i=0}^{k_{h}-1} \sum_{j=0}^{k_{w}-1} \tilde{x}_{n,c,s h + i,s w + j}, "
    r"\quad \tilde{x} = x \text{ padded by } p \text{ with zeros}",
    r"D_{h,w} = \text{the override if given, else the window's pixels inside the padded input (or, padding "
    r"not counted, inside } x \text{)}",
    r"H_{o} = \left\lfloor \frac{H + 2 p - k_{h}}{s} \right\rfloor + 1 \quad "
    r"(\lceil \cdot \rceil \text{ in ceil mode, while the last window starts before } H + p)",
    r"\frac{\partial L}{\partial x_{n,c,a,b}} = "
    r"\sum_{(h, w) \,:\, (a, b) \in \text{window } (h, w)} \frac{g_{n,c,h,w}}{D_{h,w}}",
)
_AVG_POOL_BOOK = (
    "Nothing is known to be wrong in the book's code here (it has no padding or ceil_mode; both backends add "
    "them with `nn.AvgPool2d`'s meanings). The stride defaults to the kernel, padding is zeros and at most half "
    "the kernel; the divisor is the window's pixels inside the padded input (`count_include_pad=True`), inside "
    "the input alone (`False`) or `divisor_override`, and a `ceil_mode` window that runs past the padded edge "
    "counts only its pixels up to that edge; the backward spreads g / divisor over every pixel of the window, "
    "adding where windows overlap."
)
_FLATTEN_EQ = (
    r"y_{n} = \mathrm{vec}(x_{n}), \quad (N, d_{1}, d_{2}, \ldots) \to (N, d_{1} d_{2} \cdots) "
    r"\text{ in row-major order}",
    r"\frac{\partial L}{\partial x} = \mathrm{reshape}\left( \frac{\partial L}{\partial y}, "
    r"(N, d_{1}, d_{2}, \ldots) \right)",
)
_FLATTEN_BOOK = (
    "Nothing is known to be wrong in the book's code here: the book flattens inside its Conv2D layer "
    "(`flatten=True` does the same here), and `Flatten` is that reshape as a layer of its own (`nn.Flatten` on "
    "the torch side), the batch axis kept."
)
_RESHAPE_EQ = (
    r"y = \mathrm{reshape}\left( x, (N, \mathrm{shape}) \right) \text{, the same number of values per sample}",
    r"\frac{\partial L}{\partial x} = \mathrm{reshape}\left( \frac{\partial L}{\partial y}, \mathrm{shape}(x) \right)",
)
_RESHAPE_BOOK = (
    "Nothing is known to be wrong in the book's code here. `Reshape` is pure bookkeeping, what chapter 7's "
    "decoder needs after its Dense layer: the batch axis kept, the backward the inverse reshape (torch: "
    "`nn.Flatten` + `nn.Unflatten`)."
)

CONCEPTS = [
    Concept("conv2d", "Conv2D: cross-correlation, NCHW (book: loops; fast: im2col + one matmul, or Winograd)", "5",
            "scratch.conv:Conv2D", "torch_impl.conv:Conv2D",
            (LayerSpec(lambda B, dtype: B.Conv2D(3, 3), (2, 5, 7), label="same"),
             LayerSpec(lambda B, dtype: B.Conv2D(3, (2, 3), stride=2, padding=1, activation="tanh"), (2, 7, 6),
                       label="strided"),
             LayerSpec(lambda B, dtype: B.Conv2D(3, (2, 3), stride=(1, 2), padding=(1, 2), dilation=(2, 1)),
                       (2, 4, 5), label="dilated, pair padding"),
             LayerSpec(lambda B, dtype: B.Conv2D(4, 2, padding="same", dilation=(1, 2), groups=2, bias=False),
                       (4, 3, 4), label="groups, same with an odd total"),
             LayerSpec(lambda B, dtype: B.Conv2D(6, 3, padding="valid", groups=3, activation="tanh"), (3, 5, 5),
                       label="depthwise, valid"),
             _unbatched(lambda B, dtype: B.Conv2D(4, 3, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
                        (2, 5, 6)),
             # the fast form's Winograd path (>= 16 channels): held to torch and to the book form; finite
             # differences through the book form's loops at 16 channels would take minutes, and the other
             # rows cover the book form's backward
             LayerSpec(lambda B, dtype: B.Conv2D(2, 5), (16, 5, 6), finite_differences=False,
                       label="Winograd F(4x4, 5x5), ragged tiles"),
             LayerSpec(lambda B, dtype: B.Conv2D(2, 3, padding="valid", activation="tanh"), (16, 6, 7),
                       finite_differences=False, label="Winograd F(4x4, 3x3), valid")),
            (f"{_C}::test_conv2d_parity", f"{_C}::test_conv2d_finite_differences",
             f"{_B}::test_conv2d_book_parity", f"{_B}::test_conv2d_book_finite_differences",
             f"{_OPT}::test_conv2d_options_parity", f"{_OPT}::test_against_torch_functional",
             f"{_OPT}::test_rejects_what_pytorch_rejects", f"{_W}::test_winograd_parity_with_torch",
             f"{_W}::test_winograd_parity_with_the_book_form"),
            fast="scratch.fast.conv:Conv2D",
            show_scratch=("scratch.conv:conv_2d", "scratch.conv:conv_2d_grads", "scratch.conv:conv_2d_multi",
                          "scratch.conv:conv_2d_multi_grads", "scratch.conv:Conv2DOperation",
                          "scratch.conv:Conv2D"),
            conversion="W (in/groups, out, kh, kw) = conv.weight.permute(1, 0, 2, 3); B (1, out, 1, 1) = "
                       "conv.bias.reshape(1, out, 1, 1)",
            equations=_CONV2D_EQ, book_code=_CONV2D_BOOK),
    Concept("max-pool", "Max pooling (ties: the first maximum)", "5", "scratch.pooling:MaxPool2D",
            "torch_impl.pooling:MaxPool2D",
            (LayerSpec(lambda B, dtype: B.MaxPool2D(2), (2, 6, 5)),
             LayerSpec(lambda B, dtype: B.MaxPool2D(3, stride=2, padding=1, dilation=(1, 2), ceil_mode=True),
                       (2, 6, 7), label="padded, dilated, ceil_mode"),
             LayerSpec(lambda B, dtype: B.MaxPool2D((2, 3), stride=(1, 2), padding=(1, 0)), (2, 5, 6),
                       label="pair padding"),
             _unbatched(lambda B, dtype: B.MaxPool2D(2, stride=1, padding=1, ceil_mode=True), (2, 4, 5))),
            (f"{_POOL}::test_pooling_parity", f"{_POOL}::test_max_pool_ties_go_to_the_first_maximum",
             f"{_B}::test_pooling_book_parity", f"{_B}::test_max_pool_book_ties_go_to_the_first_maximum",
             f"{_OPT}::test_pooling_options_parity", f"{_OPT}::test_against_torch_functional",
             f"{_OPT}::test_rejects_what_pytorch_rejects"),
            fast="scratch.fast.pooling:MaxPool2D",
            show_scratch=("scratch.pooling:PoolOperation", "scratch.pooling:MaxPoolOperation",
                          "scratch.pooling:MaxPool2D"),
            equations=_MAX_POOL_EQ, book_code=_MAX_POOL_BOOK),
    Concept("avg-pool", "Average pooling", "5", "scratch.pooling:AvgPool2D", "torch_impl.pooling:AvgPool2D",
            (LayerSpec(lambda B, dtype: B.AvgPool2D((3, 2), stride=1), (2, 5, 6)),
             LayerSpec(lambda B, dtype: B.AvgPool2D(3, stride=2, padding=1, ceil_mode=True), (2, 6, 7),
                       label="padded, ceil_mode past the padded edge"),
             LayerSpec(lambda B, dtype: B.AvgPool2D((2, 3), stride=(2, 1), padding=1, ceil_mode=True,
                                                    count_include_pad=False), (2, 5, 6),
                       label="padding not counted"),
             LayerSpec(lambda B, dtype: B.AvgPool2D(2, stride=1, padding=1, divisor_override=3), (2, 4, 5),
                       label="divisor_override"),
             _unbatched(lambda B, dtype: B.AvgPool2D(3, stride=2, padding=1, count_include_pad=False),
                        (2, 5, 6))),
            (f"{_POOL}::test_pooling_parity", f"{_B}::test_pooling_book_parity",
             f"{_OPT}::test_pooling_options_parity", f"{_OPT}::test_against_torch_functional",
             f"{_OPT}::test_rejects_what_pytorch_rejects"),
            fast="scratch.fast.pooling:AvgPool2D",
            show_scratch=("scratch.pooling:PoolOperation", "scratch.pooling:AvgPoolOperation",
                          "scratch.pooling:AvgPool2D"),
            equations=_AVG_POOL_EQ, book_code=_AVG_POOL_BOOK),
    Concept("flatten", "Flatten (N, C, H, W) -> (N, C*H*W)", "5", "scratch.reshape:Flatten",
            "torch_impl.reshape:Flatten", LayerSpec(lambda B, dtype: B.Flatten(), (2, 4, 5)),
            (f"{_R}::test_reshape_parity",), equations=_FLATTEN_EQ, book_code=_FLATTEN_BOOK),
    Concept("reshape", "Reshape (batch axis kept)", "5", "scratch.reshape:Reshape", "torch_impl.reshape:Reshape",
            LayerSpec(lambda B, dtype: B.Reshape((3, 2, 4)), (24,)), (f"{_R}::test_reshape_parity",),
            equations=_RESHAPE_EQ, book_code=_RESHAPE_BOOK),
]
