"""Residual: gradient checks and the in-place add guard."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module
from numpyuq.nn import Dense, Dropout, Residual, Sequential
from tests.helpers import assert_grad_ok


@pytest.mark.parametrize("training", [False, True])
def test_residual_sequential_gradients(rng, training):
    block = Residual(Sequential(Dense(4, 4, activation="relu", seed=rng, dtype=np.float64),
                                Dropout(0.2, seed=1)))
    assert_grad_ok(check_module(block, rng.standard_normal((5, 4)), training=training))


def test_residual_with_a_pass_through_branch_does_not_corrupt_dy(rng):
    block = Residual(Dropout(0.0))             # the branch returns dy itself
    x = rng.standard_normal((3, 4))
    block(x)
    dy = rng.standard_normal((3, 4))
    saved = dy.copy()
    np.testing.assert_array_equal(block.backward(dy), 2 * saved)
    np.testing.assert_array_equal(dy, saved)
