import math

import numpy as np
import pytest

from numpyuq.nn import Parameter
from numpyuq.optim import SGD, Adam, RelativePiecewise


def run_two_steps(optimizer_factory, w0, grads, dtype=np.float64):
    p = Parameter(np.array(w0, dtype))
    opt = optimizer_factory([p])
    for g in grads:
        opt.zero_grad()
        p.grad += np.array(g, dtype)
        opt.step()
    return p.value


def test_adam_two_steps_match_hand_computed_values():
    # Kingma & Ba (2015), Algorithm 1, lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 0.
    # w0 = (1, -2), g1 = (0.5, -1), g2 = (0.1, 0.2).
    # Step 1: m_hat = g1, v_hat = g1^2, so w1 = w0 - 0.1 sign(g1) = (0.9, -1.9).
    # Step 2: m = 0.9 m1 + 0.1 g2 = (0.055, -0.07); v = 0.999 v1 + 0.001 g2^2 = (0.00025975, 0.001039)
    #   m_hat = m / 0.19, v_hat = v / 0.001999; w2 = w1 - 0.1 m_hat / sqrt(v_hat), worked out to 40
    #   digits with decimal arithmetic:
    expected = [0.8196959021569019574312560173265660419529, -1.848897392281664882001708374662360208516]
    w2 = run_two_steps(lambda ps: Adam(ps, lr=0.1, eps=0.0), [1.0, -2.0], [[0.5, -1.0], [0.1, 0.2]])
    np.testing.assert_allclose(w2, expected, rtol=0, atol=1e-12)


def test_adam_weight_decay_l2_and_decoupled():
    # L2 (torch.optim.Adam): g <- g + wd w.  One step from w0 = 2 with g = 0, wd = 0.5: g = 1,
    # so the step is -lr sign(g) = -0.1 (eps = 0).
    w = run_two_steps(lambda ps: Adam(ps, lr=0.1, eps=0.0, weight_decay=0.5), [2.0], [[0.0]])
    np.testing.assert_allclose(w, [1.9], atol=1e-15)
    # Decoupled (AdamW): w <- w (1 - lr wd) then the Adam step of g = 1: 2 * 0.95 - 0.1 = 1.8.
    w = run_two_steps(lambda ps: Adam(ps, lr=0.1, eps=0.0, weight_decay=0.5, decoupled=True),
                      [2.0], [[1.0]])
    np.testing.assert_allclose(w, [1.8], atol=1e-15)


def test_sgd_momentum_two_steps():
    # buf1 = g1 = 1, w1 = 1 - 0.1 = 0.9; buf2 = 0.5 * 1 + 2 = 2.5, w2 = 0.9 - 0.25 = 0.65.
    w = run_two_steps(lambda ps: SGD(ps, lr=0.1, momentum=0.5), [1.0], [[1.0], [2.0]])
    np.testing.assert_allclose(w, [0.65], atol=1e-15)


def test_flat_buffer_keeps_parameters_as_views():
    a, b = Parameter(np.ones((2, 3))), Parameter(np.zeros(4))
    opt = Adam([a, b], lr=0.1)
    a.grad += 1.0
    b.grad -= 1.0
    opt.step()
    np.testing.assert_allclose(a.value, 0.9, atol=1e-6)
    np.testing.assert_allclose(b.value, 0.1, atol=1e-6)
    assert a.value.base is opt.groups[0].value
    opt.zero_grad()
    assert not a.grad.any() and not b.grad.any()


def test_optimizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lr must be > 0, got -1"):
        Adam([Parameter(np.ones(2))], lr=-1)
    with pytest.raises(ValueError, match="at least one trainable"):
        Adam([])
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p])


def test_relative_piecewise_matches_the_edl_schedule():
    schedule = RelativePiecewise([(0, 0.0), (0.2, 0.01), (1, 1.0)], total=1000)
    assert schedule(0) == 0.0
    assert math.isclose(schedule(100), 0.005)
    assert math.isclose(schedule(200), 0.01)
    assert math.isclose(schedule(600), 0.01 + 0.99 * 0.5)
    assert schedule(1000) == 1.0 and schedule(5000) == 1.0
