"""Chapter 5, convolutional networks: Conv2D, max and average pooling, Flatten and Reshape."""

from __future__ import annotations

from study.spec import Concept, LayerSpec

_C, _B = "parity_tests/test_conv.py", "parity_tests/test_book_cnn_tsne.py"
_POOL, _R = "parity_tests/test_pooling.py", "parity_tests/test_reshape.py"
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
                       "conv.bias.reshape(1, out, 1, 1)"),
    Concept("max-pool", "Max pooling (ties: the first maximum)", "5", "scratch.pooling:MaxPool2D",
            "torch_impl.pooling:MaxPool2D", LayerSpec(lambda B, dtype: B.MaxPool2D(2), (2, 6, 5)),
            (f"{_POOL}::test_pooling_parity", f"{_POOL}::test_max_pool_ties_go_to_the_first_maximum",
             f"{_B}::test_pooling_book_parity", f"{_B}::test_max_pool_book_ties_go_to_the_first_maximum"),
            fast="scratch.fast.pooling:MaxPool2D",
            show_scratch=("scratch.pooling:PoolOperation", "scratch.pooling:MaxPoolOperation",
                          "scratch.pooling:MaxPool2D")),
    Concept("avg-pool", "Average pooling", "5", "scratch.pooling:AvgPool2D", "torch_impl.pooling:AvgPool2D",
            LayerSpec(lambda B, dtype: B.AvgPool2D((3, 2), stride=1), (2, 5, 6)),
            (f"{_POOL}::test_pooling_parity", f"{_B}::test_pooling_book_parity"),
            fast="scratch.fast.pooling:AvgPool2D",
            show_scratch=("scratch.pooling:PoolOperation", "scratch.pooling:AvgPoolOperation",
                          "scratch.pooling:AvgPool2D")),
    Concept("flatten", "Flatten (N, C, H, W) -> (N, C*H*W)", "5", "scratch.reshape:Flatten",
            "torch_impl.reshape:Flatten", LayerSpec(lambda B, dtype: B.Flatten(), (2, 4, 5)),
            (f"{_R}::test_reshape_parity",)),
    Concept("reshape", "Reshape (batch axis kept)", "5", "scratch.reshape:Reshape", "torch_impl.reshape:Reshape",
            LayerSpec(lambda B, dtype: B.Reshape((3, 2, 4)), (24,)), (f"{_R}::test_reshape_parity",)),
]
