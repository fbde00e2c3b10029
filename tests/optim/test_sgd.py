"""SGD with momentum: hand-computed steps."""
import numpy as np

from numpyuq.optim import SGD
from tests.helpers import run_two_steps


def test_sgd_momentum_two_steps():
    # buf1 = g1 = 1, w1 = 1 - 0.1 = 0.9; buf2 = 0.5 * 1 + 2 = 2.5, w2 = 0.9 - 0.25 = 0.65.
    w = run_two_steps(lambda ps: SGD(ps, lr=0.1, momentum=0.5), [1.0], [[1.0], [2.0]])
    np.testing.assert_allclose(w, [0.65], atol=1e-15)
