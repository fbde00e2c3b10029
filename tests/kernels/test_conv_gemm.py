"""The chunked im2col + GEMM and GEMM + col2im against their one-piece references, across chunk
boundaries."""
import numpy as np
import pytest

from numpyuq.kernels import conv_gemm, im2col_nhwc
from numpyuq.kernels.im2col import conv_output_size
from tests.helpers import compiled_twins_run


@pytest.mark.parametrize("shape, F, k, s, p", [((5, 12, 12, 20), 50, 5, 1, 0), ((3, 7, 9, 2), 4, 3, 2, 1)])
def test_chunked_equals_reference(monkeypatch, rng, shape, F, k, s, p):
    calls = compiled_twins_run(monkeypatch, im2col_nhwc, "_im2col_nhwc_numba")
    x = rng.standard_normal(shape)
    w_mat = rng.standard_normal((F, k * k * shape[3]))
    cols_ref, y_ref = conv_gemm.im2col_gemm_reference(x, w_mat, k, k, s, p)
    pixels = conv_output_size(shape[1], k, s, p) * conv_output_size(shape[2], k, s, p)
    for chunk_bytes in (1, pixels * w_mat.shape[1] * 8 * 2, 1 << 20):     # 1 image, 2 images, all
        monkeypatch.setattr(conv_gemm, "CHUNK_BYTES", chunk_bytes)
        cols, y = conv_gemm.im2col_gemm(x, w_mat, k, k, s, p)
        np.testing.assert_array_equal(cols, cols_ref)
        np.testing.assert_allclose(y, y_ref, rtol=1e-12)
    assert calls["_im2col_nhwc_numba"] >= 3                  # the chunked path ran, chunk by chunk


@pytest.mark.parametrize("shape, F, k, s, p", [((5, 12, 12, 20), 50, 5, 1, 0), ((3, 7, 9, 2), 4, 3, 2, 1)])
def test_chunked_backward_equals_reference(monkeypatch, rng, shape, F, k, s, p):
    calls = compiled_twins_run(monkeypatch, im2col_nhwc, "_col2im_nhwc_numba")
    pixels = conv_output_size(shape[1], k, s, p) * conv_output_size(shape[2], k, s, p)
    dy = rng.standard_normal((shape[0] * pixels, F))
    w_mat = rng.standard_normal((F, k * k * shape[3]))
    dx_ref = conv_gemm.gemm_col2im_reference(dy, w_mat, shape, k, k, s, p)
    for chunk_bytes in (1, pixels * w_mat.shape[1] * 8 * 2, 1 << 20):     # 1 image, 2 images, all
        monkeypatch.setattr(conv_gemm, "CHUNK_BYTES", chunk_bytes)
        np.testing.assert_allclose(conv_gemm.gemm_col2im(dy, w_mat, shape, k, k, s, p), dx_ref, rtol=1e-12, atol=1e-12)
    assert calls["_col2im_nhwc_numba"] >= 3


@pytest.mark.parametrize("kernels", ["numba", "reference"])
def test_out_buffers_are_checked_then_written_on_every_path(monkeypatch, rng, kernels):
    from numpyuq.kernels import dispatch
    from numpyuq.kernels.im2col_nhwc import col2im_nhwc, im2col_nhwc, im2col_nhwc_reference
    monkeypatch.setattr(dispatch, "KERNELS", kernels)
    x = rng.standard_normal((2, 6, 6, 3))
    cols = np.empty((2 * 4 * 4, 27))
    assert im2col_nhwc(x, 3, 3, out=cols) is cols and np.array_equal(cols, im2col_nhwc_reference(x, 3, 3, 1, 0))
    dx = np.empty(x.shape)
    assert col2im_nhwc(cols, x.shape, 3, 3, out=dx) is dx
    for bad, error in ((np.empty((32, 26)), ValueError), (np.empty((27, 32)).T, ValueError), (cols.astype(np.float32), TypeError)):
        with pytest.raises(error, match="out"):
            im2col_nhwc(x, 3, 3, out=bad)
    with pytest.raises(ValueError, match="out"):
        col2im_nhwc(cols, x.shape, 3, 3, out=np.empty((2, 6, 6, 2)))


@pytest.mark.parametrize("shape, F, k, s, p", [((5, 12, 12, 20), 50, 5, 1, 0), ((3, 7, 9, 2), 4, 3, 2, 1)])
def test_weight_gradient_from_rebuilt_columns_equals_reference(monkeypatch, rng, shape, F, k, s, p):
    x = rng.standard_normal(shape)
    pixels = conv_output_size(shape[1], k, s, p) * conv_output_size(shape[2], k, s, p)
    dy = rng.standard_normal((shape[0] * pixels, F))
    dw_ref = conv_gemm.im2col_gemm_weights_reference(x, dy, k, k, s, p)
    for chunk_bytes in (1, pixels * k * k * shape[3] * 8 * 2, 1 << 20):     # 1 image, 2 images, all
        monkeypatch.setattr(conv_gemm, "CHUNK_BYTES", chunk_bytes)
        np.testing.assert_allclose(conv_gemm.im2col_gemm_weights(x, dy, k, k, s, p), dw_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernels", ["numba", "reference"])
def test_backward_kernels_name_the_bad_argument(monkeypatch, rng, kernels):
    from numpyuq.kernels import dispatch
    monkeypatch.setattr(dispatch, "KERNELS", kernels)
    x = rng.standard_normal((2, 6, 6, 3))
    dy, w_mat = rng.standard_normal((2 * 16, 4)), rng.standard_normal((4, 27))
    saved = [a.copy() for a in (x, dy, w_mat)]
    cases = [(lambda: conv_gemm.gemm_col2im(dy[:-1], w_mat, x.shape, 3, 3), ValueError, "dy must have shape"),
             (lambda: conv_gemm.gemm_col2im(dy, w_mat[:, :-1], x.shape, 3, 3), ValueError, "w_mat must have shape"),
             (lambda: conv_gemm.gemm_col2im(dy, w_mat.astype(np.float32), x.shape, 3, 3), TypeError, "w_mat"),
             (lambda: conv_gemm.im2col_gemm_weights(x, dy[:-1], 3, 3), ValueError, "dy must have shape"),
             (lambda: conv_gemm.im2col_gemm_weights(x, dy.astype(np.float32), 3, 3), TypeError, "dy must have dtype"),
             (lambda: conv_gemm.im2col_gemm_weights(x[0], dy, 3, 3), ValueError, "x must have 4 dimensions"),
             (lambda: conv_gemm.im2col_gemm_weights(x, dy, 7, 3), ValueError, "does not fit")]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    for before, after in zip(saved, (x, dy, w_mat)):
        np.testing.assert_array_equal(before, after)                 # a failed call changed nothing
