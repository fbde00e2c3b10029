"""The method registry: every entry trains to a model with numpyuq's one face."""
import numpy as np

from numpyuq.experiments.data import load_dataset
from numpyuq.experiments.methods import METHODS, Run, predict_outputs, train_method


def test_every_registered_method_trains_and_predicts_probabilities_with_its_own_uncertainty():
    data = load_dataset("moons", fast=True)
    run = Run(data, seed=0, epochs=1, batch_size=128, ensemble_size=2, mc_samples=3)
    for name, method in METHODS.items():
        trained = train_method(name, run)
        probs, own = trained.predict(data.x_test[:50])
        assert probs.shape == (50, 2) and own.shape == (50,) and probs.dtype == own.dtype == np.float64
        np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
        assert trained.train_seconds > 0 and method.title and method.own_uncertainty
    # deterministic, MC dropout and last-layer Laplace share one training run; DDU fits on the
    # spectrally normalised softmax network
    network, sn_network = run.shared["network"][0], run.shared["sn_network"][0]
    assert network is train_method("mc_dropout", run).model.model is train_method("laplace", run).model.model
    assert train_method("ddu", run).model.model is sn_network and sn_network.spec_norm_bound == 0.9
    assert network.spec_norm_bound is None
    assert {m for m, method in METHODS.items() if method.post_hoc_on} == {"mc_dropout", "ddu", "laplace"}


def test_predict_outputs_is_the_models_own_pair():
    data = load_dataset("moons", fast=True)
    trained = train_method("edl", Run(data, seed=0, epochs=1, batch_size=128))
    probs, own = predict_outputs(trained.model, data.x_test)
    np.testing.assert_allclose(own, trained.model.uncertainty(data.x_test), rtol=1e-12)
    np.testing.assert_allclose(probs, trained.model.predict_proba(data.x_test), rtol=1e-12)
