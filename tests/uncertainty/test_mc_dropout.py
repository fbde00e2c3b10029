"""MC dropout: averaging over masks, leaving every other state alone."""
import numpy as np
import pytest

from numpyuq.losses import softmax
from numpyuq.models import DeepResNetSNGP
from numpyuq.uncertainty import mc_dropout_predict
from tests.tiny_models import tiny_resnet


def test_mc_dropout_averages_and_leaves_state_alone(rng):
    model = DeepResNetSNGP(2, num_layers=2, num_hidden=16, num_inducing=32, dropout_rate=0.3, seed=0)
    x = rng.standard_normal((20, 2)).astype(np.float32)
    before = model.state_dict()
    probs, samples = mc_dropout_predict(model, x, num_samples=5, return_samples=True)
    assert samples.shape == (5, 20, 2)
    assert not np.allclose(samples[0], samples[1])            # dropout really was on
    np.testing.assert_allclose(probs, samples.mean(axis=0))
    for name, value in model.state_dict().items():           # no power iteration, no precision update
        np.testing.assert_array_equal(value, before[name])
    np.testing.assert_array_equal(softmax(model(x)), softmax(model(x)))    # dropout off again
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        mc_dropout_predict(model, x, num_samples=0)
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="x must be finite"):
        mc_dropout_predict(model, bad)


def test_mc_dropout_is_reproducible_leaves_the_model_alone_and_checks_batch_size():
    import numpy as np
    import pytest
    from numpyuq.uncertainty import mc_dropout_predict
    model = tiny_resnet(num_layers=2, num_hidden=16, dropout_rate=0.3)
    x = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    states = [layer.rng.bit_generator.state for layer in model.modules() if hasattr(layer, "rate")]
    first, second = mc_dropout_predict(model, x), mc_dropout_predict(model, x)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, mc_dropout_predict(model, x, seed=1))
    assert [layer.rng.bit_generator.state for layer in model.modules() if hasattr(layer, "rate")] == states
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        mc_dropout_predict(model, x, batch_size=0)
