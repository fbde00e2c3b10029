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
