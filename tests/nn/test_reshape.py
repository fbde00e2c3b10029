"""Flatten and ChannelsLast: shapes and gradients."""
from numpyuq.gradcheck import check_module
from numpyuq.nn import Flatten
from tests.helpers import assert_grad_ok


def test_flatten_round_trip(rng):
    layer = Flatten()
    x = rng.standard_normal((2, 3, 4, 5))
    assert layer(x).shape == (2, 60)
    assert_grad_ok(check_module(layer, x))
