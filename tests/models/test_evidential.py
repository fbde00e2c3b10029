"""EvidentialClassifier: whole-network gradient checks and the Dirichlet predictions."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module
from numpyuq.models import DeepResNet, EvidentialClassifier, LeNet
from numpyuq.uncertainty import dirichlet_uncertainty
from tests.helpers import assert_grad_ok
from tests.tiny_models import tiny_resnet


@pytest.mark.parametrize("evidence", ["softplus", "exp"])
@pytest.mark.parametrize("training", [False, True])
def test_gradients_on_lenet_and_deep_resnet(rng, evidence, training):
    lenet = EvidentialClassifier(LeNet(dropout_rate=0.3, channels=(2, 3), num_hidden=8, seed=0, input_grad=True,
                                       dtype=np.float64), evidence)
    # L sums 20 evidence values built from 1,568 pixels: its round-off over a step of 1e-5 is what
    # limits the smallest pixel gradients (about 3e-6 relative), so the step is 1e-4 (3e-7).
    assert_grad_ok(check_module(lenet, rng.standard_normal((2, 1, 28, 28)), training=training, eps=1e-4))
    resnet = EvidentialClassifier(DeepResNet(3, num_layers=2, num_hidden=6, seed=0, dtype=np.float64), evidence)
    assert_grad_ok(check_module(resnet, rng.standard_normal((5, 2)), training=training))


def test_predictions_are_the_dirichlet_mean_and_mass(rng):
    model = EvidentialClassifier(DeepResNet(3, num_layers=1, num_hidden=8, seed=0))
    x = rng.standard_normal((7, 2)).astype(np.float32)
    evidence = model(x)
    probs, u = dirichlet_uncertainty(evidence.astype(np.float64))
    np.testing.assert_allclose(model.predict(x), probs, rtol=1e-6)
    np.testing.assert_allclose(model.uncertainty(x), u, rtol=1e-6)
    assert repr(model).startswith("EvidentialClassifier(DeepResNet(") and "Evidence('softplus')" in repr(model)


def test_edl_on_the_deep_resnet_gradients(rng):
    """EDL on the SNGP seed's DeepResNet (the fifth method on two moons), float64, whole network."""
    from numpyuq.gradcheck import check_module
    from tests.helpers import assert_grad_ok
    for evidence in ("softplus", "relu", "exp"):
        model = EvidentialClassifier(tiny_resnet(num_layers=2, num_hidden=8, dtype=np.float64), evidence)
        assert_grad_ok(check_module(model, rng.standard_normal((5, 2)), training=False))
