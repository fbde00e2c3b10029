"""Adam: hand-computed steps, weight decay in both forms."""
import numpy as np

from numpyuq.nn import Parameter
from numpyuq.optim import Adam
from tests.helpers import run_two_steps


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


def test_eps_placement_torch_and_keras():
    # One step, g = 1, lr = 0.1, eps = 0.01: m_hat = 1, v_hat = 1 and sqrt(v) = sqrt(0.001).
    # torch ("corrected"): 0.1 / (1 + 0.01).  Keras/labml ("raw"): 0.1 / (1 + 0.01 / sqrt(0.001)).
    corrected = run_two_steps(lambda ps: Adam(ps, lr=0.1, eps=0.01), [0.0], [[1.0]])
    raw = run_two_steps(lambda ps: Adam(ps, lr=0.1, eps=0.01, eps_placement="raw"), [0.0], [[1.0]])
    np.testing.assert_allclose(corrected, [-0.1 / 1.01], rtol=1e-14)
    np.testing.assert_allclose(raw, [-0.1 / (1 + 0.01 / np.sqrt(0.001))], rtol=1e-14)


def test_adam_rejects_bad_arguments_before_touching_the_parameters():
    import pytest
    p = Parameter(np.ones(3))
    for kwargs, match in (({"eps_placement": "inside"}, "eps_placement must be one of"),
                          ({"betas": (0.9, 1.0)}, "betas must be two numbers"), ({"eps": -1.0}, "eps must be a number >= 0")):
        value = p.value
        with pytest.raises(ValueError, match=match):
            Adam([p], **kwargs)
        assert p.value is value          # not packed into a flat buffer by the failed call
