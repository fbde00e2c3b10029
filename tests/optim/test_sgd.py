"""SGD with momentum: hand-computed steps."""
import numpy as np
import pytest

from numpyuq.optim import SGD
from tests.helpers import run_two_steps


def test_sgd_momentum_two_steps():
    # buf1 = g1 = 1, w1 = 1 - 0.1 = 0.9; buf2 = 0.5 * 1 + 2 = 2.5, w2 = 0.9 - 0.25 = 0.65.
    w = run_two_steps(lambda ps: SGD(ps, lr=0.1, momentum=0.5), [1.0], [[1.0], [2.0]])
    np.testing.assert_allclose(w, [0.65], atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decoupled, weight_decay", [(False, 0.0), (False, 1e-2), (True, 1e-2)])
def test_subnormal_momentum_is_flushed_and_the_update_is_unchanged(rng, dtype, decoupled, weight_decay):
    """Buffer entries that one more decay takes below the smallest normal (a dead unit's zero
    gradient) become 0; every parameter gets the update the unflushed formula gives."""
    from numpyuq.nn import Parameter
    tiny = np.finfo(dtype).tiny
    n = 2000
    value, grad = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    buf = (rng.standard_normal(n) * 1e-2).astype(dtype)
    dead = rng.random(n) < 0.3
    grad[dead], buf[dead] = 0, dtype(tiny * 1.05)                 # 0.9 * 1.05 tiny is subnormal
    value[dead] = 0                                               # no L2 term either
    p = Parameter(value.copy())
    optimizer = SGD([p], lr=0.1, momentum=0.9, weight_decay=weight_decay, decoupled=decoupled)
    state = optimizer.state_dict()
    state["momentum_buffer.0"] = buf.copy()
    optimizer.load_state_dict(state)
    p.grad[...] = grad
    optimizer.step()
    # the textbook step in float64, nothing flushed
    w, g, b = (a.astype(np.float64) for a in (value, grad, buf))
    if decoupled:
        w = w * (1 - 0.1 * weight_decay)
    else:
        g = g + weight_decay * w
    b = 0.9 * b + g
    w = w - 0.1 * b
    new_buf = optimizer.state_dict()["momentum_buffer.0"]
    assert (new_buf[dead] == 0).all()
    assert not ((new_buf != 0) & (np.abs(new_buf) < tiny)).any()
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(new_buf[~dead], b[~dead], rtol=rtol, atol=rtol * np.abs(b).max())
    np.testing.assert_allclose(p.value, w, rtol=rtol, atol=rtol * np.abs(w).max())


def test_sgd_without_momentum_keeps_its_gradient_as_it_is():
    """Without momentum nothing decays: a subnormal gradient still moves a subnormal weight."""
    tiny = np.finfo(np.float64).tiny
    w = run_two_steps(lambda ps: SGD(ps, lr=1.0), [tiny / 2], [[tiny / 4]])
    assert w[0] == tiny / 4
