"""Evidence functions: gradient checks of each pure pair and module, and the exp clip."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import Evidence
from numpyuq.nn.evidence import (
    EVIDENCE_FUNCTIONS,
    exp_evidence_backward,
    exp_evidence_forward,
)
from tests.helpers import assert_grad_ok


def off_kinks(rng, shape, margin=0.05):
    x = rng.standard_normal(shape) * 3
    return np.where(np.abs(x) < margin, margin, x)


@pytest.mark.parametrize("function", list(EVIDENCE_FUNCTIONS))
def test_gradients(rng, function):
    forward, backward = EVIDENCE_FUNCTIONS[function]
    x = off_kinks(rng, (5, 4))
    assert_grad_ok(check_pair(forward, backward, {"z": x}))
    assert_grad_ok(check_module(Evidence(function), x))


def test_exp_is_clipped_without_overflow_and_with_zero_gradient_outside():
    z = np.array([[-1e4, -3.0, 0.0, 3.0, 1e4]], np.float32)
    e, cache = exp_evidence_forward(z, max_logit=10.0)
    np.testing.assert_allclose(e, np.exp(np.clip(z, -10, 10)), rtol=1e-6)
    (dz,) = exp_evidence_backward(np.ones_like(z), cache)
    np.testing.assert_allclose(dz, [[0.0, np.exp(-3.0), 1.0, np.exp(3.0), 0.0]], rtol=1e-6)
    assert e.dtype == np.float32 and np.all(np.isfinite(e))


def test_every_function_is_non_negative_and_monotone(rng):
    z = np.sort(rng.standard_normal(200) * 20)[None]
    for function in EVIDENCE_FUNCTIONS:
        e = Evidence(function)(z)
        assert np.all(e >= 0) and np.all(np.diff(e[0]) >= 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"function must be one of \('relu', 'softplus', 'exp'\), got 'tanh'"):
        Evidence("tanh")
    with pytest.raises(ValueError, match="max_logit must be > 0"):
        Evidence("exp", max_logit=0)
    assert repr(Evidence("exp")) == "Evidence('exp', max_logit=10.0)"
