"""Dropout: gradient checks with a fixed mask, scaling, inference behaviour."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import Dropout, dropout_at_inference
from numpyuq.nn.dropout import dropout_backward, dropout_forward
from tests.helpers import assert_grad_ok


@pytest.mark.parametrize("training", [False, True])
def test_dropout_gradients_with_fixed_mask(rng, training):
    assert_grad_ok(check_module(Dropout(0.3, seed=0), rng.standard_normal((8, 6)), training=training))


def test_dropout_scales_survivors_and_is_identity_at_inference(rng):
    layer = Dropout(0.25, seed=0)
    x = np.ones((400, 50))
    y = layer(x, training=True)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.01
    np.testing.assert_array_equal(layer(x, training=False), x)
    with dropout_at_inference(layer):
        assert (layer(x, training=False) == 0).any()
    np.testing.assert_array_equal(layer(x, training=False), x)
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\), got 1.5"):
        Dropout(1.5)


def test_pure_pair_with_a_given_multiplier(rng):
    multiplier = (rng.random((5, 6)) > 0.3) / 0.7
    report = check_pair(dropout_forward, dropout_backward, {"x": rng.standard_normal((5, 6)), "multiplier": multiplier})
    assert list(report.per_array) == ["x"]          # the mask is a draw, not a parameter
    assert_grad_ok(report)
