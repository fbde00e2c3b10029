"""Every model answers predict (probabilities as its method defines them), predict_logits and evaluate."""
import numpy as np
import pytest

from numpyuq.losses.cross_entropy import softmax
from numpyuq.metrics import classification_metrics
from numpyuq.models import DeepResNet, DeepResNetSNGP, EvidentialClassifier, LeNet, LeNetSNGP
from numpyuq.uncertainty import DeepEnsemble, mean_field_logits
from tests.tiny_models import tiny_lenet, tiny_resnet

X = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
Y = (X[:, 0] > 0).astype(int)
IMAGES = np.random.default_rng(1).random((5, 1, 28, 28), dtype=np.float32)


def test_a_softmax_model_predicts_the_softmax_of_its_logits():
    model = tiny_resnet()
    logits = model.predict_logits(X)
    np.testing.assert_allclose(model.predict(X), softmax(logits), rtol=1e-6)
    np.testing.assert_allclose(model.predict_logits(X.tolist()), logits, rtol=1e-6)     # lists work
    assert model.evaluate(X, Y) == classification_metrics(softmax(logits), Y)


def test_sngp_predicts_mean_field_probabilities():
    model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=32)
    logits, variance = model.predict_with_variance(X)
    np.testing.assert_allclose(model.predict_logits(X), logits, rtol=1e-5)
    expected = softmax(mean_field_logits(logits, variance))
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-6)
    assert not np.allclose(model.predict(X), softmax(logits))        # the variance matters
    assert set(model.evaluate(X, Y)) == {"accuracy", "nll", "brier", "ece"}


def test_an_evidential_model_predicts_alpha_over_s():
    model = EvidentialClassifier(tiny_resnet(), "softplus")
    evidence = np.log1p(np.exp(model.predict_logits(X).astype(np.float64)))
    alpha = evidence + 1
    np.testing.assert_allclose(model.predict(X), alpha / alpha.sum(axis=1, keepdims=True), rtol=1e-5)


def test_lenet_and_an_ensemble_offer_the_same_api():
    lenet = tiny_lenet()
    probs = lenet.predict(IMAGES)
    assert probs.shape == (5, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    ensemble = DeepEnsemble(lambda seed: tiny_resnet(seed=seed), size=2)
    ensemble.fit(X, Y, epochs=1, progress=False)
    np.testing.assert_allclose(softmax(ensemble.predict_logits(X)), ensemble.predict(X), rtol=1e-6)
    assert ensemble.evaluate(X, Y)["accuracy"] == pytest.approx(float((ensemble.predict(X).argmax(1) == Y).mean()))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 2\)"):
        ensemble.evaluate(X, Y + 1)


def test_errors_speak_in_the_users_terms():
    lenet = tiny_lenet()
    with pytest.raises(ValueError, match=r"got \(5, 28, 28, 1\): these look channels-last"):
        lenet.predict(IMAGES.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match=r"got \(5, 28, 28\): add the channel axis with x\[:, None\]"):
        lenet.predict(IMAGES[:, 0])
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\), got \(5, 1, 32, 32\) \(its Dense layer is sized for 28 x 28"):
        lenet.predict(np.zeros((5, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match="DeepResNet input x must have 2 features"):
        DeepResNet(2).predict(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="y must have 20 entries"):
        DeepResNet(2).evaluate(X, Y[:5])


@pytest.mark.parametrize("make, shape", [
    (lambda: LeNet(num_classes=3), (5, 1, 28, 28)),
    (lambda: LeNetSNGP(num_classes=3, num_inducing=32), (5, 1, 28, 28)),
    (lambda: tiny_resnet(num_layers=2, num_hidden=8), (5, 2)),
    (lambda: DeepResNetSNGP(2, num_layers=2, num_hidden=8, num_inducing=16), (5, 2))])
def test_prediction_leaves_no_cache_in_any_module(rng, make, shape):
    """predict / predict_with_variance keep nothing for a backward pass, in any module, after a
    training pass had filled every cache (a spectrally normalised convolution used to keep its
    im2col matrix: about 118 MB at a batch of 2048)."""
    model = make()
    x = rng.standard_normal(shape).astype(np.float32)
    model(x, training=True)
    assert any(m.has_cache() for m in model.modules())
    from numpyuq.uncertainty import MCDropout
    for name in ("predict", "predict_logits", "predict_with_variance", "uncertainty", "mc dropout"):
        if name == "mc dropout":
            model(x, training=True)
            MCDropout(model, num_samples=2).predict_proba(x)
        elif hasattr(model, name):
            getattr(model, name)(x)
        holding = [type(m).__name__ for m in model.modules() if m.has_cache()]
        assert not holding, f"{name} left caches in {holding}"


def test_every_model_and_method_has_the_same_face(rng):
    """predict_proba (probabilities, equal to predict), uncertainty (one score per row, finite and
    >= 0) and its documented kind, on every model and method wrapper."""
    from numpyuq.uncertainty import MCDropout
    x2 = X[:7]
    ensemble = DeepEnsemble(lambda seed: tiny_resnet(seed=seed), size=2)
    ensemble.fit(X, Y, epochs=1, progress=False)
    candidates = [(tiny_resnet(), x2), (DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16), x2),
                  (EvidentialClassifier(tiny_resnet()), x2), (tiny_lenet(), IMAGES), (ensemble, x2),
                  (MCDropout(tiny_resnet(dropout_rate=0.3), num_samples=4), x2)]
    for model, x in candidates:
        probs = model.predict_proba(x)
        np.testing.assert_array_equal(probs, model.predict(x))
        np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
        u = model.uncertainty(x)
        assert u.shape == (len(x),) and np.isfinite(u).all() and (u >= 0).all(), type(model).__name__
        assert isinstance(type(model).uncertainty_kind, str) and type(model).uncertainty_kind
        assert set(model.evaluate(x, np.zeros(len(x), int))) >= {"accuracy", "nll", "brier", "ece"}


def test_the_plain_functions_keep_their_one_meaning(rng):
    """training.predict_logits returns logits; the old training.predict still does, with a warning
    that says so; model.predict_proba gives probabilities."""
    from numpyuq import training
    model = tiny_resnet()
    logits = training.predict_logits(model, X)
    np.testing.assert_allclose(softmax(logits), model.predict_proba(X), rtol=1e-6)
    with pytest.warns(DeprecationWarning, match="renamed predict_logits"):
        np.testing.assert_array_equal(training.predict(model, X), logits)
