"""The fused numba Adam kernel against its plain NumPy reference."""
import numpy as np
import pytest

from numpyuq.kernels import adam as adam_module
from numpyuq.kernels.adam import adam_update, adam_update_reference
from tests.helpers import compiled_twins_run


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.01, False), (0.01, True)])
@pytest.mark.parametrize("eps_placement", ["corrected", "raw"])
def test_numba_adam_matches_reference(monkeypatch, rng, dtype, rtol, weight_decay, decoupled, eps_placement):
    calls = compiled_twins_run(monkeypatch, adam_module, "_adam_update_numba")
    n = 1001
    arrays = [rng.standard_normal(n).astype(dtype) for _ in range(3)] + [rng.random(n).astype(dtype)]
    fused = [a.copy() for a in arrays]
    plain = [a.copy() for a in arrays]
    for step in (1, 2, 7):
        # eps = 1e-3 against gradients near 1: large enough that the placement matters.
        adam_update(*fused, 1e-3, 0.9, 0.999, 1e-3, weight_decay, decoupled, step, eps_placement)
        adam_update_reference(*plain, 1e-3, 0.9, 0.999, 1e-3, weight_decay, decoupled, step, eps_placement)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    assert fused[0].dtype == dtype
    assert calls["_adam_update_numba"] == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", ["compiled", "reference"])
def test_subnormal_moments_are_flushed_and_the_update_is_unchanged(monkeypatch, rng, dtype, path):
    """Moments that decay into the subnormal range (a dead unit's zero gradient) become 0 on both
    paths; every parameter gets the update the unflushed formula gives, and the others' moments are
    untouched."""
    tiny = np.finfo(dtype).tiny
    n = 2000
    value = rng.standard_normal(n).astype(dtype)
    grad = rng.standard_normal(n).astype(dtype)
    m = (rng.standard_normal(n) * 1e-2).astype(dtype)
    v = (rng.random(n) * 1e-4).astype(dtype)
    dead = rng.random(n) < 0.3
    grad[dead] = 0
    m[dead], v[dead] = dtype(tiny * 1.05), dtype(tiny * 1.0005)        # one decay step from subnormal
    expected = [a.astype(np.float64) for a in (value, grad, m, v)]
    adam_update_plain(*expected, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, 5)
    arrays = [a.copy() for a in (value, grad, m, v)]
    if path == "compiled":
        calls = compiled_twins_run(monkeypatch, adam_module, "_adam_update_numba")
        adam_update(*arrays, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, 5)
        assert calls["_adam_update_numba"] == 1
    else:
        adam_update_reference(*arrays, 1e-3, 0.9, 0.999, 1e-8, 0.0, False, 5)
    new_value, _, new_m, new_v = arrays
    assert not ((new_m != 0) & (np.abs(new_m) < tiny)).any() and not ((new_v != 0) & (new_v < tiny)).any()
    assert (new_m[dead] == 0).all() and (new_v[dead] == 0).all()
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(new_m[~dead], expected[2][~dead], rtol=rtol, atol=rtol * np.abs(expected[2]).max())
    np.testing.assert_allclose(new_value, expected[0], rtol=rtol, atol=rtol * np.abs(expected[0]).max())


def adam_update_plain(value, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """The textbook update in float64, without any flush (the oracle)."""
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    value -= lr / (1 - beta1 ** step) * m / (np.sqrt(v / (1 - beta2 ** step)) + eps)
