"""The chunked im2col + GEMM against its one-piece reference, across chunk boundaries."""
import numpy as np
import pytest

from numpyuq.kernels import conv_gemm
from numpyuq.kernels.im2col import conv_output_size


@pytest.mark.parametrize("shape, F, k, s, p", [((5, 12, 12, 20), 50, 5, 1, 0), ((3, 7, 9, 2), 4, 3, 2, 1)])
def test_chunked_equals_reference(monkeypatch, rng, shape, F, k, s, p):
    x = rng.standard_normal(shape)
    w_mat = rng.standard_normal((F, k * k * shape[3]))
    cols_ref, y_ref = conv_gemm.im2col_gemm_reference(x, w_mat, k, k, s, p)
    pixels = conv_output_size(shape[1], k, s, p) * conv_output_size(shape[2], k, s, p)
    for chunk_bytes in (1, pixels * w_mat.shape[1] * 8 * 2, 1 << 20):     # 1 image, 2 images, all
        monkeypatch.setattr(conv_gemm, "CHUNK_BYTES", chunk_bytes)
        cols, y = conv_gemm.im2col_gemm(x, w_mat, k, k, s, p, pixels)
        np.testing.assert_array_equal(cols, cols_ref)
        np.testing.assert_allclose(y, y_ref, rtol=1e-12)
