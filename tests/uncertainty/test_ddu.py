"""DDU: the class Gaussians against numpy and scipy, the jitter, bad input, and the OOD blob."""
import numpy as np
import pytest
import scipy.special
import scipy.stats

from numpyuq.uncertainty.ddu import DDU, penultimate_features
from tests.tiny_models import tiny_lenet, tiny_resnet


def moons_like(rng, n=300):
    x = rng.standard_normal((n, 2))
    return x, (x[:, 0] + 0.3 * rng.standard_normal(n) > 0).astype(int)


def test_means_covariances_and_log_densities_equal_numpy_and_scipy(rng):
    x, y = moons_like(rng)
    model = tiny_resnet(num_hidden=4, dtype=np.float64)
    ddu = DDU(model).fit(x, y)
    features = penultimate_features(model, x)
    for k in range(2):
        np.testing.assert_allclose(ddu.means_[k], features[y == k].mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(ddu.covariances_[k], np.cov(features[y == k], rowvar=False), rtol=1e-12)
    assert (ddu.jitters_ == 0).all() and ddu.priors_ == pytest.approx(np.bincount(y) / len(y))
    x_new = rng.standard_normal((40, 2)) * 3
    f_new = penultimate_features(model, x_new)
    joint = np.stack([np.log(ddu.priors_[k]) + scipy.stats.multivariate_normal.logpdf(
        f_new, ddu.means_[k], ddu.covariances_[k]) for k in range(2)], axis=1)
    np.testing.assert_allclose(ddu.log_density(x_new), scipy.special.logsumexp(joint, axis=1), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ddu.uncertainty(x_new), -ddu.log_density(x_new))
    np.testing.assert_allclose(ddu.predict_proba(x_new), model.predict_proba(x_new), rtol=1e-12)


def test_a_singular_covariance_gets_a_growing_jitter(rng):
    """More features than points in a class: the covariance is singular, and the jitter grows from
    1e-12 of its mean diagonal until the Cholesky factorisation succeeds."""
    model = tiny_resnet(num_hidden=8, dtype=np.float64)
    x = rng.standard_normal((12, 2))
    y = np.r_[np.zeros(6, int), np.ones(6, int)]
    ddu = DDU(model).fit(x, y)
    assert (ddu.jitters_ > 0).all()
    assert np.isfinite(ddu.log_density(x)).all()


def test_bad_input_is_refused(rng):
    x, y = moons_like(rng, 50)
    model = tiny_resnet()
    with pytest.raises(RuntimeError, match="not fitted"):
        DDU(model).uncertainty(x)
    with pytest.raises(ValueError, match=r"y has 0 point\(s\) of class 1"):
        DDU(model).fit(x, np.zeros(50, int))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 2\)"):
        DDU(model).fit(x, y + 2)
    with pytest.raises(TypeError, match="must be a numpyuq Module"):
        DDU(np.zeros(3))
    fitted = DDU(model).fit(x, y)
    before = fitted.means_.copy()
    with pytest.raises(ValueError, match="2 features"):
        fitted.uncertainty(rng.standard_normal((3, 5)))
    with pytest.raises(ValueError):
        fitted.fit(x, y[:-1])
    np.testing.assert_array_equal(fitted.means_, before)       # a failed fit changes nothing


def test_works_on_lenet_through_its_layers(rng):
    images = rng.random((30, 1, 28, 28)).astype(np.float32)
    labels = np.arange(30) % 3
    ddu = DDU(tiny_lenet(num_classes=3)).fit(images, labels)
    assert ddu.means_.shape == (3, 8) and np.isfinite(ddu.uncertainty(images)).all()


@pytest.mark.slow
def test_ddu_with_spectral_normalisation_detects_the_seed_ood_blob():
    """Two moons, the SNGP seed's DeepResNet (6 x 128, softmax head) with spectrally normalised
    hidden layers: the feature density tells the OOD blob apart (>= 0.95). Without spectral
    normalisation the test only reports it (the ablation table has it over five seeds)."""
    from numpyuq.data import make_moons_data, make_ood_data
    from numpyuq.losses import SoftmaxCrossEntropy
    from numpyuq.metrics import ood_auroc
    from numpyuq.models import DeepResNet
    from numpyuq.optim import keras_adam
    from numpyuq.training import fit
    x, y = make_moons_data(seed=0)
    x_test, _ = make_moons_data(seed=1000)
    blob = make_ood_data(seed=1)
    aurocs = {}
    for bound in (0.9, None):
        model = DeepResNet(2, num_layers=6, num_hidden=128, spec_norm_bound=bound, seed=0)
        fit(model, SoftmaxCrossEntropy(), keras_adam(model.parameters(), lr=1e-4), x, y, epochs=100, progress=False)
        ddu = DDU(model).fit(x, y)
        aurocs[bound] = ood_auroc(ddu.uncertainty(x_test), ddu.uncertainty(blob))
    print(f"DDU blob AUROC: spectrally normalised {aurocs[0.9]:.3f}, plain {aurocs[None]:.3f}")
    assert aurocs[0.9] >= 0.95
