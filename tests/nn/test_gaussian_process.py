"""RandomFeatureGP: gradients, the kernel it approximates, and its posterior covariance."""
import warnings

import numpy as np
import pytest

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import RandomFeatureGP
from numpyuq.nn.gaussian_process import (
    random_features_backward,
    random_features_forward,
)
from tests.helpers import assert_grad_ok


def small_gp(rng, **kwargs):
    kwargs.setdefault("num_inducing", 12)
    return RandomFeatureGP(4, 3, seed=rng, dtype=np.float64, **kwargs)


@pytest.mark.parametrize("normalize_input", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_gp_gradients(rng, normalize_input, training):
    gp = small_gp(rng, normalize_input=normalize_input, kernel_scale=2.0)
    if normalize_input:
        gp.input_norm.gamma.value[...] = rng.uniform(0.5, 1.5, 4)
        gp.input_norm.beta.value[...] = rng.standard_normal(4) * 0.1
    report = check_module(gp, rng.standard_normal((6, 4)), training=training)
    expected = {"input", "output_weights"} | ({"input_norm.gamma", "input_norm.beta"} if normalize_input else set())
    assert set(report.per_array) == expected
    assert_grad_ok(report)


def test_l2_penalty_gradient(rng):
    gp = small_gp(rng, l2_regularization=0.3)
    beta = gp.output_weights.value
    gp.zero_grad()
    gp.penalty_backward()
    np.testing.assert_allclose(gp.penalty(), 0.3 * (beta ** 2).sum())
    np.testing.assert_allclose(gp.output_weights.grad, 0.6 * beta)


@pytest.mark.parametrize("kernel_scale", [1.0, 3.0])
def test_random_features_approximate_the_rbf_kernel_with_factor_two(kernel_scale):
    rng = np.random.default_rng(0)
    points = rng.standard_normal((30, 5)) * 0.8
    sq_dist = ((points[:, None] - points[None]) ** 2).sum(-1)
    exact = np.exp(-sq_dist / (2 * kernel_scale))
    errors = {}
    for m in (640, 10240):
        gp = RandomFeatureGP(5, 2, num_inducing=m, kernel_scale=kernel_scale, seed=1, dtype=np.float64)
        phi = gp.random_features(points)
        errors[m] = np.abs(phi @ phi.T - exact).max()
    assert errors[10240] < 0.05
    # Monte-Carlo error shrinks like 1/sqrt(M): 16x the features, about 4x smaller error.
    assert 2.0 < errors[640] / errors[10240] < 8.0
    wrong = np.exp(-sq_dist / kernel_scale)          # the reference docstring's formula
    assert np.abs(phi @ phi.T - wrong).max() > 5 * errors[10240]


def test_posterior_variance_matches_dense_inverse(rng):
    gp = small_gp(rng, num_inducing=20, cov_ridge_penalty=0.7)
    train = rng.standard_normal((15, 4))
    gp(train, training=True)
    gp(train[:5], training=True)
    test = rng.standard_normal((9, 4))
    phi = gp.random_features(test)
    phi_train = np.concatenate([gp.random_features(train), gp.random_features(train[:5])])
    precision = 0.7 * np.eye(20) + phi_train.T @ phi_train
    expected = 0.7 * phi @ np.linalg.inv(precision) @ phi.T
    np.testing.assert_allclose(gp.precision, precision, rtol=1e-12)
    np.testing.assert_allclose(gp.predictive_covariance(phi), expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(gp.predictive_variance(phi), np.diag(expected), rtol=1e-8, atol=1e-12)


def test_momentum_update_and_reset(rng):
    gp = small_gp(rng, cov_momentum=0.9, cov_ridge_penalty=2.0)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    gp(a, training=True)
    gp(b, training=True)
    pa, pb = gp.random_features(a), gp.random_features(b)
    expected = 2.0 * np.eye(12)
    for p in (pa, pb):
        expected = 0.9 * expected + 0.1 * p.T @ p / len(p)
    np.testing.assert_allclose(gp.precision, expected, rtol=1e-12)
    gp.reset_covariance()
    np.testing.assert_array_equal(gp.precision, 2.0 * np.eye(12))
    assert gp.num_accumulated == 0


def test_inference_leaves_precision_alone_and_cholesky_is_refreshed(rng):
    gp = small_gp(rng)
    x = rng.standard_normal((5, 4))
    gp(x)
    np.testing.assert_array_equal(gp.precision, np.eye(12))
    v0 = gp.predictive_variance(gp.random_features(x))
    gp(x, training=True)
    v1 = gp.predictive_variance(gp.random_features(x))
    assert np.all(v1 < v0)              # more data, less posterior variance


def test_large_grid_diagonal_needs_no_square_matrix(rng):
    gp = RandomFeatureGP(4, 2, num_inducing=64, seed=0)
    phi = gp.random_features(rng.standard_normal((20000, 4)).astype(np.float32))
    variance = gp.predictive_variance(phi)          # 20,000^2 float64 would be 3.2 GB
    assert variance.shape == (20000,) and np.all(variance > 0)


def test_counting_data_twice_warns(rng):
    gp = small_gp(rng)
    gp.num_training_samples = 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gp(rng.standard_normal((8, 4)), training=True)
    with pytest.warns(RuntimeWarning, match="counted twice"):
        gp(rng.standard_normal((8, 4)), training=True)


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="cov_momentum"):
        RandomFeatureGP(4, 2, cov_momentum=1.5)
    with pytest.raises(ValueError, match="kernel_scale must be > 0"):
        RandomFeatureGP(4, 2, kernel_scale=0)
    with pytest.raises(ValueError, match=r"4 features.*\(3, 5\)"):
        RandomFeatureGP(4, 2)(np.zeros((3, 5), np.float32))


def test_predict_is_a_pure_function_of_its_input(rng):
    gp = small_gp(rng)
    gp(rng.standard_normal((9, 4)), training=True)
    x = rng.standard_normal((5, 4))
    before = gp.state_dict()
    logits, variance = gp.predict(x)
    gp(rng.standard_normal((3, 4)))                 # another pass in between changes nothing
    logits2, variance2 = gp.predict(x)
    np.testing.assert_array_equal(logits, logits2)
    np.testing.assert_array_equal(variance, variance2)
    np.testing.assert_allclose(logits, gp(x))
    for name, value in gp.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    with pytest.raises(ValueError, match=r"4 features.*\(2, 3\)"):
        gp.predict(np.zeros((2, 3)))


def test_precision_updates_switch(rng):
    gp = small_gp(rng)
    x = rng.standard_normal((6, 4))
    gp.precision_update_mode = "off"
    gp(x, training=True)
    np.testing.assert_array_equal(gp.precision, np.eye(12))
    gp.precision_update_mode = "always"
    gp(x, training=False)
    phi = gp.random_features(x)
    np.testing.assert_allclose(gp.precision, np.eye(12) + phi.T @ phi, rtol=1e-12)
    gp.precision_update_mode = "sometimes"
    with pytest.raises(ValueError, match="precision_update_mode must be one of"):
        gp(x)


def test_precision_stays_float64_in_a_float32_model(rng):
    gp = RandomFeatureGP(4, 2, num_inducing=8, seed=0, dtype=np.float64).astype(np.float32)
    assert gp.precision.dtype == np.float64 and gp.output_weights.value.dtype == np.float32


def test_random_features_pure_pair(rng):
    report = check_pair(random_features_forward, random_features_backward, {"h": rng.standard_normal((5, 3))},
                        random_weights=rng.standard_normal((3, 8)), random_offset=rng.uniform(0, 6.28, 8),
                        feature_scale=0.5)
    assert_grad_ok(report)


def test_degenerate_gp_arguments_are_refused_by_name():
    import numpy as np
    import pytest
    from numpyuq.nn import RandomFeatureGP
    for kwargs, message in ((dict(num_inducing=0), "num_inducing must be >= 1, got 0"),
                            (dict(l2_regularization=-1.0), "l2_regularization must be >= 0, got -1.0"),
                            (dict(kernel_scale=0.0), "kernel_scale must be > 0"),
                            (dict(cov_ridge_penalty=float("nan")), "cov_ridge_penalty must be finite"),
                            (dict(dtype=np.float16), "dtype must be float32 or float64")):
        with pytest.raises((ValueError, TypeError), match=message):
            RandomFeatureGP(2, 2, **kwargs)


def test_fit_resets_an_exact_covariance_by_itself():
    """Without ResetCovariance the exact precision used to count the data once per epoch (OOD
    variance 0.089 instead of 0.529 in the issue's run); fit now adds the reset on its own, and the
    result is the same as with the callback given explicitly."""
    import numpy as np
    from numpyuq.losses import SoftmaxCrossEntropy
    from numpyuq.models import DeepResNetSNGP
    from numpyuq.optim import Adam
    from numpyuq.training import fit
    from numpyuq.uncertainty import ResetCovariance
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    precisions = []
    for callbacks in ((), (ResetCovariance(),)):
        model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16)
        fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=3, callbacks=callbacks,
            progress=False)
        precisions.append(model.classifier.precision.copy())
        assert int(model.classifier.num_accumulated) == 64          # one epoch's worth, not three
    np.testing.assert_array_equal(*precisions)
    moving = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16, cov_momentum=0.99)
    assert moving.classifier.training_callbacks() == ()
