"""The CUDA kernels against their xp references, on real CuPy.

They cannot run without CUDA: the CuPy stand-in cannot compile kernels, so on machines without a
GPU every test here is skipped with that reason (``make test-gpu`` runs them where there is one).
The dispatch test runs everywhere: it proves the stand-in takes the references.
"""
import numpy as np
import pytest

from numpyuq.kernels import cuda, dispatch
from numpyuq.kernels.im2col import conv_output_size
from numpyuq.kernels.im2col_nhwc import col2im_nhwc_reference, im2col_nhwc_reference
from numpyuq.kernels.pooling import pool_output_size
from numpyuq.kernels.pooling_nhwc import maxpool_nhwc_backward_reference, maxpool_nhwc_forward_reference
from tests import fake_cupy
from tests.conftest import cupy_usable

def needs_cuda(test):
    return pytest.mark.gpu(pytest.mark.skipif(not cupy_usable(), reason="the CUDA kernels need CuPy and a GPU")(test))

GEOMETRIES = [((2, 8, 7, 3), 3, 3, 1, 0), ((2, 28, 28, 1), 5, 5, 1, 0), ((3, 9, 9, 4), 3, 2, 2, 1), ((1, 6, 6, 2), 2, 2, 1, 2)]


@pytest.mark.parametrize("shape, KH, KW, stride, padding", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@needs_cuda
def test_im2col_and_col2im_match_the_references(shape, KH, KW, stride, padding, dtype):
    import cupy
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    OH, OW = (conv_output_size(n, k, stride, padding) for n, k in zip(shape[1:3], (KH, KW)))
    cols = cuda.im2col_nhwc(cupy.asarray(x), KH, KW, stride, padding, OH, OW)
    np.testing.assert_array_equal(cols.get(), im2col_nhwc_reference(x, KH, KW, stride, padding))
    dcols = np.random.default_rng(1).standard_normal(cols.shape).astype(dtype)
    dx = cuda.col2im_nhwc(cupy.asarray(dcols), shape, KH, KW, stride, padding, OH, OW)
    np.testing.assert_allclose(dx.get(), col2im_nhwc_reference(dcols, shape, KH, KW, stride, padding), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("shape, size, stride", [((2, 24, 24, 20), 2, 2), ((2, 7, 5, 3), 2, 2), ((1, 9, 8, 2), 3, 2),
                                                 ((1, 6, 6, 2), 2, 1)])
@needs_cuda
def test_max_pooling_matches_the_reference_with_ties_and_nans(shape, size, stride):
    import cupy
    x = np.random.default_rng(0).integers(0, 3, shape).astype(np.float32)     # many ties
    x.reshape(-1)[::17] = np.nan
    y, argmax = cuda.maxpool_nhwc_forward(cupy.asarray(x), size, stride, pool_output_size(shape[1], size, stride),
                                          pool_output_size(shape[2], size, stride))
    y_ref, argmax_ref = maxpool_nhwc_forward_reference(x, size, stride)
    np.testing.assert_array_equal(y.get(), y_ref)
    np.testing.assert_array_equal(argmax.get(), argmax_ref)
    dy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(np.float32)
    dx = cuda.maxpool_nhwc_backward(cupy.asarray(dy), argmax, shape, size, stride)
    np.testing.assert_allclose(dx.get(), maxpool_nhwc_backward_reference(dy, argmax_ref, shape, size, stride),
                               rtol=1e-6)


def test_the_stand_in_takes_the_references(monkeypatch):
    cp = fake_cupy.install(monkeypatch)
    assert not dispatch.use_cuda(cp.ones((1, 4, 4, 1)))
    assert not dispatch.use_cuda(np.ones((1, 4, 4, 1)))
