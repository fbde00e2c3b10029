"""LayerNorm: gradient checks and output statistics."""
import numpy as np

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import LayerNorm
from numpyuq.nn.normalization import layernorm_backward, layernorm_forward
from tests.helpers import assert_grad_ok


def test_layernorm_gradients_and_statistics(rng):
    layer = LayerNorm(6, dtype=np.float64)
    layer.gamma.value[...] = rng.uniform(0.5, 1.5, 6)
    layer.beta.value[...] = rng.standard_normal(6)
    assert_grad_ok(check_module(layer, 3 * rng.standard_normal((5, 6)) + 2))
    plain = LayerNorm(6, dtype=np.float64)
    y = plain(rng.standard_normal((5, 6)) * 4 + 1)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1, rtol=1e-4)


def test_pure_pair(rng):
    inputs = {"x": 3 * rng.standard_normal((5, 6)) + 2, "gamma": rng.uniform(0.5, 1.5, 6),
              "beta": rng.standard_normal(6)}
    assert_grad_ok(check_pair(layernorm_forward, layernorm_backward, inputs))


def test_layernorm_refuses_a_bad_eps_and_a_wrong_width():
    import numpy as np
    import pytest
    from numpyuq.nn import LayerNorm
    with pytest.raises(ValueError, match="eps must be > 0, got -1e-05"):
        LayerNorm(4, eps=-1e-5)
    with pytest.raises(ValueError, match="LayerNorm input x must have 4 features"):
        LayerNorm(4)(np.zeros((2, 3), np.float32))
