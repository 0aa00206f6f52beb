"""Chapter 5, convolutional networks: Conv2D, max and average pooling, Flatten and Reshape."""

from __future__ import annotations

from study.spec import Concept, LayerSpec

_C, _B = "parity_tests/test_conv.py", "parity_tests/test_book_cnn_tsne.py"
_POOL, _R = "parity_tests/test_pooling.py", "parity_tests/test_reshape.py"
# --- the book's equations (LaTeX, one display equation each) and what the book's own code does ---------------
_CONV2D_EQ = (
    r"y_{n,o,h,w} = B_{o} + \sum_{c,i,j} \tilde{x}_{n,c,s h + i,s w + j} \, W_{c,o,i,j}, \quad "
    r"\tilde{x} = \text{the zero-padded } x",
    r"H_{o} = \left\lfloor \frac{H + p_{\mathrm{top}} + p_{\mathrm{bottom}} - k_{h}}{s} \right\rfloor + 1",
    r"\frac{\partial L}{\partial W_{c,o,i,j}} = \sum_{n,h,w} g_{n,o,h,w} \, \tilde{x}_{n,c,s h + i,s w + j}, \quad "
    r"g = \frac{\partial L}{\partial y}",
    r"\frac{\partial L}{\partial B_{o}} = \sum_{n,h,w} g_{n,o,h,w}",
    r"\frac{\partial L}{\partial \tilde{x}_{n,c,a,b}} = \sum_{o,h,w} g_{n,o,h,w} \, W_{c,o,a - s h,b - s w}, \quad "
    r"W_{c,o,i,j} = 0 \text{ outside } 0 \le i < k_{h}, \; 0 \le j < k_{w}",
)
_CONV2D_BOOK = (
    "The book derives the input gradient as a convolution of the padded output gradient with the flipped "
    "kernel, which holds only for stride 1; the book form here sends each product's gradient back along its "
    "edge, the same sum for any stride and padding. The book's Conv2D layer has no bias (`bias=False` gives "
    "exactly that layer). Its conv Glorot uses 2/(in + out) as the standard deviation and leaves out the kernel "
    "area, bugs not copied: both backends use fans C kh kw and O kh kw, as `torch.nn.init`, and the same NumPy "
    "draws."
)
_MAX_POOL_EQ = (
    r"y_{n,c,h,w} = \max_{0 \le i < k_{h}, \; 0 \le j < k_{w}} x_{n,c,s h + i,s w + j}",
    r"H_{o} = \left\lfloor \frac{H - k_{h}}{s} \right\rfloor + 1",
    r"\frac{\partial L}{\partial x_{n,c,a,b}} = \sum_{h,w} g_{n,c,h,w} \, "
    r"\mathbf{1}\left[ (a, b) \text{ is the first maximum of window } (h, w) \right]",
)
_MAX_POOL_BOOK = (
    "Nothing is known to be wrong in the book's code here. Both backends follow PyTorch's rules: no padding, the "
    "stride defaulting to the kernel, a last incomplete window dropped (`nn.MaxPool2d(ceil_mode=False)`), and "
    "on a tie the whole gradient goes to the first maximum in row-major order, as `np.argmax` and PyTorch's CPU "
    "kernel do."
)
_AVG_POOL_EQ = (
    r"y_{n,c,h,w} = \frac{1}{k_{h} k_{w}} \sum_{i=0}^{k_{h}-1} \sum_{j=0}^{k_{w}-1} x_{n,c,s h + i,s w + j}",
    r"H_{o} = \left\lfloor \frac{H - k_{h}}{s} \right\rfloor + 1",
    r"\frac{\partial L}{\partial x_{n,c,a,b}} = \frac{1}{k_{h} k_{w}} "
    r"\sum_{(h, w) \,:\, (a, b) \in \text{window } (h, w)} g_{n,c,h,w}",
)
_AVG_POOL_BOOK = (
    "Nothing is known to be wrong in the book's code here. Both backends follow `nn.AvgPool2d`: no padding, the "
    "stride defaulting to the kernel, a last incomplete window dropped; the backward spreads g / (kh kw) over "
    "every pixel of the window, adding where windows overlap."
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
    Concept("conv2d", "Conv2D: cross-correlation, NCHW (book: loops; fast: im2col + one matmul)", "5",
            "scratch.conv:Conv2D", "torch_impl.conv:Conv2D",
            (LayerSpec(lambda B, dtype: B.Conv2D(3, 3), (2, 5, 7), label="same"),
             LayerSpec(lambda B, dtype: B.Conv2D(3, (2, 3), stride=2, padding=1, activation="tanh"), (2, 7, 6),
                       label="strided")),
            (f"{_C}::test_conv2d_parity", f"{_C}::test_conv2d_finite_differences",
             f"{_B}::test_conv2d_book_parity", f"{_B}::test_conv2d_book_finite_differences"),
            fast="scratch.fast.conv:Conv2D",
            show_scratch=("scratch.conv:conv_2d", "scratch.conv:conv_2d_grads", "scratch.conv:conv_2d_multi",
                          "scratch.conv:conv_2d_multi_grads", "scratch.conv:Conv2DOperation",
                          "scratch.conv:Conv2D"),
            conversion="W (in, out, kh, kw) = conv.weight.permute(1, 0, 2, 3); B (1, out, 1, 1) = "
                       "conv.bias.reshape(1, out, 1, 1)",
            equations=_CONV2D_EQ, book_code=_CONV2D_BOOK),
    Concept("max-pool", "Max pooling (ties: the first maximum)", "5", "scratch.pooling:MaxPool2D",
            "torch_impl.pooling:MaxPool2D", LayerSpec(lambda B, dtype: B.MaxPool2D(2), (2, 6, 5)),
            (f"{_POOL}::test_pooling_parity", f"{_POOL}::test_max_pool_ties_go_to_the_first_maximum",
             f"{_B}::test_pooling_book_parity", f"{_B}::test_max_pool_book_ties_go_to_the_first_maximum"),
            fast="scratch.fast.pooling:MaxPool2D",
            show_scratch=("scratch.pooling:PoolOperation", "scratch.pooling:MaxPoolOperation",
                          "scratch.pooling:MaxPool2D"),
            equations=_MAX_POOL_EQ, book_code=_MAX_POOL_BOOK),
    Concept("avg-pool", "Average pooling", "5", "scratch.pooling:AvgPool2D", "torch_impl.pooling:AvgPool2D",
            LayerSpec(lambda B, dtype: B.AvgPool2D((3, 2), stride=1), (2, 5, 6)),
            (f"{_POOL}::test_pooling_parity", f"{_B}::test_pooling_book_parity"),
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
