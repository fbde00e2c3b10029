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
def test_bias_relu_kernels_equal_reference(monkeypatch, rng, dtype, shape):
    from numpyuq.kernels import bias_relu as mod
    from tests.helpers import compiled_twins_run
    calls = compiled_twins_run(monkeypatch, mod, "_bias_relu_forward_numba", "_relu_bias_backward_numba")
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
    assert calls == {"_bias_relu_forward_numba": 1, "_relu_bias_backward_numba": 1}


@pytest.mark.parametrize("fn", ["loops", "numba"])
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_non_finite_values_propagate_as_in_numpy(fn):
    """max(NaN, 0) and NaN * 0 are NaN: the kernels keep NumPy's semantics, not a branch's 0."""
    from numpyuq.kernels import bias_relu as mod
    forward = mod._bias_relu_forward_loops if fn == "loops" else mod._bias_relu_forward_numba
    backward = mod._relu_bias_backward_loops if fn == "loops" else mod._relu_bias_backward_numba
    z = np.array([[np.nan, -1.0, 2.0, np.inf, -np.inf]], np.float32)
    b = np.zeros(5, np.float32)
    expected = bias_relu_forward_reference(z, b)
    forward(z, b)
    np.testing.assert_array_equal(z, expected)                       # [nan, 0, 2, inf, 0]
    dy = np.array([[1.0, np.nan, np.inf, 2.0, np.nan]], np.float32)
    y = np.array([[1.0, 0.0, -1.0, 3.0, 2.0]], np.float32)
    dz, db = np.empty_like(dy), np.empty(5, np.float32)
    backward(dy, y, dz, db)
    dz_ref, db_ref = relu_bias_backward_reference(dy, y)
    np.testing.assert_array_equal(dz, dz_ref)                        # NaN * 0 and inf * 0 are NaN
    np.testing.assert_array_equal(db, db_ref)
