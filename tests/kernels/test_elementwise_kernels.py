"""numba kernels for dropout masks and fused bias+ReLU against their plain NumPy references."""
import numpy as np
import pytest

from numpyuq.kernels.bias_relu import (bias_relu_forward, bias_relu_forward_reference,
                                       relu_bias_backward, relu_bias_backward_reference)
from numpyuq.kernels.dropout_mask import keep_mask, keep_mask_reference, rate_threshold


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (128, 128), (7, 300)])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_keep_mask_numba_equals_reference(shape, rate):
    like = np.zeros(shape, np.float32)
    fast = keep_mask(2024, shape, rate, like)
    slow = keep_mask_reference(2024, like.size, rate_threshold(rate)).reshape(shape)
    np.testing.assert_array_equal(fast, slow)
    assert fast.dtype == np.float32
    scale = 1 / (1 - rate)
    scaled = keep_mask(2024, shape, rate, like, value=scale)
    np.testing.assert_array_equal(scaled, keep_mask_reference(2024, like.size, rate_threshold(rate),
                                                              value=scale).reshape(shape))
    np.testing.assert_array_equal(scaled, fast * np.float32(scale))


def test_keep_mask_statistics_and_keys():
    like = np.zeros((200, 500))
    mask = keep_mask(7, like.shape, 0.3, like)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert abs(mask.mean() - 0.7) < 0.005          # 100,000 draws: 5 standard errors is 0.007
    assert not np.array_equal(mask, keep_mask(8, like.shape, 0.3, like))
    assert keep_mask(7, like.shape, 0.0, like).all()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 0), (np.float32, 0)])
@pytest.mark.parametrize("shape", [(1, 1), (4, 9), (128, 128)])
def test_bias_relu_kernels_equal_reference(rng, dtype, tol, shape):
    z = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    expected = bias_relu_forward_reference(z, b)
    y = bias_relu_forward(z.copy(), b)
    np.testing.assert_array_equal(y, expected)
    dz, db = relu_bias_backward(dy, y)
    dz_ref, db_ref = relu_bias_backward_reference(dy, y)
    np.testing.assert_array_equal(dz, dz_ref)
    np.testing.assert_allclose(db, db_ref, rtol=1e-6 if dtype == np.float32 else 1e-13)
