"""The fused bias+ReLU kernels against their plain NumPy references."""
import numpy as np
import pytest

from numpyuq.kernels.bias_relu import (
    bias_relu_forward,
    bias_relu_forward_reference,
    relu_bias_backward,
    relu_bias_backward_reference,
)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (4, 9), (128, 128)])
def test_bias_relu_kernels_equal_reference(rng, dtype, shape):
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
