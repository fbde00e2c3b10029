"""The Dirichlet KL kernel: its scalar special functions against scipy, and the loops and their
numba twin against the xp reference, from evidence 0 to 1e8."""
import numpy as np
import pytest
import scipy.special

from numpyuq.kernels import dirichlet_kl as mod
from tests.helpers import compiled_twins_run

POINTS = np.concatenate([np.logspace(-8, 12, 400), np.linspace(0.05, 30, 400), [1.0, 2.0, 1.4616321449683622]])
SCALARS = {"python": (mod._digamma_trigamma, mod._log_gamma_1p),
           "numba": (mod.digamma_trigamma_scalar, mod.log_gamma_1p_scalar)}


@pytest.mark.parametrize("kind", sorted(SCALARS))
def test_scalar_special_functions_match_scipy(kind):
    digamma_trigamma, log_gamma_1p = SCALARS[kind]
    psi, dpsi = np.array([digamma_trigamma(x) for x in POINTS]).T
    # relative error, except near psi's root (x = 1.4616...), where only the absolute error is small
    np.testing.assert_allclose(psi, scipy.special.digamma(POINTS), rtol=2e-14, atol=1e-15)
    np.testing.assert_allclose(dpsi, scipy.special.polygamma(1, POINTS), rtol=2e-14, atol=0)
    # log Gamma(1 + x): the array version (series below 0.2, gammaln above) to full relative precision
    # (atol: near x = 1, where log Gamma(2) = 0, only the absolute error is small)
    np.testing.assert_allclose([log_gamma_1p(x) for x in POINTS], mod.log_gamma_1p(POINTS), rtol=2e-14, atol=1e-15)


def test_log_gamma_1p_keeps_relative_precision_near_zero():
    x = np.array([1e-12, 1e-6, 1e-4])
    # -gamma x + zeta(2) x^2 / 2 - zeta(3) x^3 / 3 + zeta(4) x^4 / 4: the rest is below 1e-19 relative here
    expected = -np.euler_gamma * x + np.pi ** 2 / 12 * x ** 2 - scipy.special.zeta(3) / 3 * x ** 3 + np.pi ** 4 / 360 * x ** 4
    np.testing.assert_allclose(mod.log_gamma_1p(x), expected, rtol=1e-15)
    assert abs(mod.log_gamma_1p(np.array([1e-12]))[0] - scipy.special.gammaln(1 + 1e-12)) > 1e-26  # what it fixes


def batch(rng, N, K, scale):
    alpha = 1 + np.abs(rng.standard_normal((N, K))) * scale
    alpha[0] = 1.0                                                  # no evidence at all
    return alpha, np.eye(K)[rng.integers(0, K, N)]


@pytest.mark.parametrize("fn", [mod._dirichlet_kl_loops, mod._dirichlet_kl_numba], ids=["loops", "numba"])
@pytest.mark.parametrize("scale", [1e-6, 1e-2, 1.0, 30.0, 1e4, 1e8])
@pytest.mark.parametrize("K", [2, 10])
def test_kernel_equals_reference(monkeypatch, fn, scale, K, rng):
    alpha, y = batch(rng, 16, K, scale)
    kl, grad = np.full(16, np.nan), np.full((16, K), np.nan)
    fn(alpha, y, kl, grad)
    kl_ref, grad_ref = mod.dirichlet_kl_reference(alpha, y)
    # Both sum terms of size ~ K e (1 + |log e|) that cancel (to a second-order KL at small evidence,
    # and to about log e at large): the two paths agree to round-off on that scale.
    scale_of_terms = K * scale * (1 + abs(np.log(scale)))
    np.testing.assert_allclose(kl, kl_ref, rtol=1e-11, atol=1e-14 * scale_of_terms)
    np.testing.assert_allclose(grad, grad_ref, rtol=1e-11, atol=1e-14)
    assert kl[0] == 0 and not grad[0].any()                          # alpha = 1: KL and its gradient vanish
    if fn is mod._dirichlet_kl_numba:                                 # the dispatcher runs the twin
        calls = compiled_twins_run(monkeypatch, mod, "_dirichlet_kl_numba")
        np.testing.assert_array_equal(mod.dirichlet_kl(alpha, y)[0], kl)
        assert calls["_dirichlet_kl_numba"] == 1


def test_gradient_matches_finite_differences(rng):
    """The kernel's gradient is that of its own KL values (central differences, float64)."""
    alpha, y = batch(rng, 4, 5, 2.0)
    _, grad = mod.dirichlet_kl(alpha, y)
    h = 1e-6
    for n, k in [(1, 0), (2, 3), (3, 4)]:
        up, down = alpha.copy(), alpha.copy()
        up[n, k] += h
        down[n, k] -= h
        numeric = (mod.dirichlet_kl(up, y)[0][n] - mod.dirichlet_kl(down, y)[0][n]) / (2 * h)
        assert abs(numeric - grad[n, k]) <= 1e-6 * max(1.0, abs(grad[n, k]))


@pytest.mark.parametrize("alpha, y, error", [
    (np.full((2, 3), 0.5), np.zeros((2, 3)), "alpha must be finite and >= 1"),
    (np.full((2, 3), np.inf), np.zeros((2, 3)), "alpha must be finite and >= 1"),
    (np.ones((2, 3)), np.full((2, 3), 2.0), "y must hold one-hot targets"),
    (np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32), "must be float64"),
])
def test_invalid_inputs_raise_clear_errors(alpha, y, error):
    with pytest.raises((ValueError, TypeError), match=error):
        mod.dirichlet_kl(alpha, y)


@pytest.mark.parametrize("add", [mod._compensated_add, mod.compensated_add], ids=["python", "numba"])
def test_compensated_add_keeps_what_plain_summation_loses(add):
    total, lost = 0.0, 0.0
    for term in (1e16, 1.0, -1e16, 1e-3):
        total, lost = add(total, lost, term)
    assert total + lost == 1.001 and 1e16 + 1.0 - 1e16 + 1e-3 != 1.001


# ---- the whole float32 range, against 80-digit values ----------------------------------------------
mpmath = pytest.importorskip("mpmath")        # a test-only dependency ([dev]); the oracle we did not write


def kl_and_grad_in_80_digits(alpha, y):
    """KL(Dir(alpha~) || Dir(1)) and its gradient by the textbook formula, in 80-digit arithmetic."""
    with mpmath.workdps(80):
        kls, grads = [], []
        for a_row, y_row in zip(alpha, y):
            at = [mpmath.mpf(1) + (1 - int(t)) * (mpmath.mpf(float(a)) - 1) for a, t in zip(a_row, y_row)]
            S, K = sum(at), len(at)
            kl = (mpmath.loggamma(S) - mpmath.loggamma(K) - sum(mpmath.loggamma(a) for a in at)
                  + sum((a - 1) * (mpmath.digamma(a) - mpmath.digamma(S)) for a in at))
            kls.append(float(kl))
            grads.append([float(((a - 1) * mpmath.psi(1, a) - (S - K) * mpmath.psi(1, S)) * (1 - int(t)))
                          for a, t in zip(at, y_row)])
    return np.array(kls), np.array(grads)


@pytest.mark.parametrize("scale", [1e-6, 1e-2, 1.0, 1e3, 5e3, 1e4, 2e4, 1e6, 1e9, 1e12, 1e17, 1e20, 1e30, 3.4e38])
def test_both_paths_are_accurate_over_the_whole_float32_range(monkeypatch, rng, scale):
    """At evidence 1e20 (which float32 holds) the compiled kernel gave 421, the reference -1.3e6 or
    5.2e5, for a true value near 226: rows of large evidence now take Stirling's form. Both paths
    agree with 80-digit values, in the KL and its gradient, from evidence 1e-6 to float32's max."""
    K = 10
    y = np.eye(K)[rng.integers(0, K, 12)]
    alpha = 1 + rng.random((12, K)) * scale * (rng.random((12, K)) < 0.6)   # some classes without evidence
    alpha[:, 3] = 1 + scale                                                  # and rows around the threshold
    kl_true, grad_true = kl_and_grad_in_80_digits(alpha, y)
    kl_ref, grad_ref = mod.dirichlet_kl_reference(alpha, y)
    calls = compiled_twins_run(monkeypatch, mod, "_dirichlet_kl_numba")
    kl_fast, grad_fast = mod.dirichlet_kl(alpha, y)
    assert calls["_dirichlet_kl_numba"] == 1
    tolerance = 1e-6 if scale < 1e-3 else 1e-11          # tiny evidence: a KL of ~1e-13 from terms of ~1e-6
    for name, kl in (("reference", kl_ref), ("compiled", kl_fast)):
        np.testing.assert_allclose(kl, kl_true, rtol=tolerance, atol=1e-300, err_msg=name)
        assert (kl >= 0).all(), name
    grad_scale = np.abs(grad_true).max()
    for name, grad in (("reference", grad_ref), ("compiled", grad_fast)):
        np.testing.assert_allclose(grad, grad_true, rtol=1e-9, atol=1e-9 * grad_scale, err_msg=name)
    np.testing.assert_allclose(kl_fast, kl_ref, rtol=tolerance)
