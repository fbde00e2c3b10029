import time

import numpy as np
import pytest

from numpyuq.data import make_moons_data
from numpyuq.gradcheck import check_module
from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.models import DeepResNet, DeepResNetSNGP
from numpyuq.optim import Adam
from numpyuq.training import fit
from tests.helpers import assert_grad_ok


@pytest.mark.parametrize("training", [False, True])
def test_deep_resnet_gradients(rng, training):
    model = DeepResNet(num_classes=3, num_layers=3, num_hidden=8, dropout_rate=0.2, seed=0,
                       dtype=np.float64)
    for p in model.parameters():
        p.value[...] += 0.1 * rng.standard_normal(p.value.shape)   # non-zero biases
    assert_grad_ok(check_module(model, rng.standard_normal((5, 2)), training=training))


def test_deep_resnet_structure_matches_the_seed():
    model = DeepResNet(num_classes=2, num_layers=6, num_hidden=128)
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["input_layer.w", "input_layer.b"]
    assert not model.input_layer.w.trainable
    assert len(model.parameters()) == 6 * 2 + 2
    assert sum(p.value.size for p in model.parameters()) == 6 * (128 * 128 + 128) + 128 * 2 + 2


def test_same_seed_same_model():
    a, b = DeepResNet(2, seed=3), DeepResNet(2, seed=3)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.value, q.value)


@pytest.mark.slow
def test_seed_configuration_reaches_99_percent_training_accuracy():
    x, y = make_moons_data(seed=0)
    model = DeepResNet(num_classes=2, num_layers=6, num_hidden=128, seed=0)
    start = time.perf_counter()
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-4), x, y,
                  epochs=100, batch_size=128, seed=0, progress=False)
    print(f"\nDeepResNet 6x128, 100 epochs, 800 Adam steps: {time.perf_counter() - start:.2f} s")
    assert history.accuracy[-1] >= 0.99
    assert history.loss[-1] < history.loss[0] / 10


@pytest.mark.parametrize("mode", ["project", "reparam"])
@pytest.mark.parametrize("training", [False, True])
def test_deep_resnet_sngp_gradients(rng, mode, training):
    from numpyuq.models import DeepResNetSNGP
    model = DeepResNetSNGP(num_classes=2, num_layers=2, num_hidden=6, num_inducing=10, seed=0,
                           spec_norm_bound=50.0 if training else 0.9, spec_norm_mode=mode,
                           dtype=np.float64)
    model(rng.standard_normal((4, 2)), training=True)     # settle the projection
    assert_grad_ok(check_module(model, rng.standard_normal((5, 2)), training=training))


def test_sngp_structure():
    from numpyuq.models import DeepResNetSNGP
    from numpyuq.nn import RandomFeatureGP, SpectralNorm
    model = DeepResNetSNGP(num_classes=2, num_layers=6, num_hidden=128)
    assert sum(isinstance(m, SpectralNorm) for m in model.modules()) == 6
    assert isinstance(model.classifier, RandomFeatureGP)
    assert model.classifier.cov_momentum == -1 and model.classifier.num_inducing == 1024


def test_sngp_predict_rejects_bad_input():
    from numpyuq.models import DeepResNetSNGP
    model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16)
    with pytest.raises(ValueError, match="x must be finite, got 1 NaN"):
        model.predict_with_variance(np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match="DeepResNetSNGP input x must have 2 features"):
        model.predict_with_variance(np.zeros((3, 5), np.float32))
    logits, cov = model.predict_with_variance(np.zeros((3, 2), np.float32), return_covmat=True)
    assert logits.shape == (3, 2) and cov.shape == (3, 3)


def test_sngp_predict_does_not_depend_on_the_last_forward(rng):
    model = DeepResNetSNGP(2, num_layers=2, num_hidden=8, num_inducing=16, seed=0)
    model(rng.standard_normal((20, 2)).astype(np.float32), training=True)
    x = rng.standard_normal((7, 2)).astype(np.float32)
    logits, variance = model.predict_with_variance(x)
    model(rng.standard_normal((3, 2)).astype(np.float32))          # another batch in between
    logits2, variance2 = model.predict_with_variance(x, batch_size=2)
    np.testing.assert_allclose(logits, logits2, rtol=1e-5, atol=1e-6)      # float32, other batch split
    np.testing.assert_allclose(variance, variance2, rtol=1e-6)


@pytest.mark.slow
def test_sngp_epoch_memory_is_independent_of_the_data_size():
    """One epoch over 60,000 points: the GP keeps O(M^2 + batch M), not an epoch of features."""
    import tracemalloc

    x = np.random.default_rng(0).standard_normal((60_000, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = DeepResNetSNGP(2, num_layers=6, num_hidden=128, seed=0)
    optimizer = Adam(model.parameters(), lr=1e-4)
    tracemalloc.start()
    fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=1, batch_size=128, seed=0, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # fit's own float32 copy of x and its index permutation are data, not GP state: allow them.
    data_bytes = x.nbytes + 60_000 * 8
    assert peak - data_bytes < 100 * 2**20, f"peak {peak / 2**20:.1f} MiB above {data_bytes / 2**20:.1f} MiB of data"


def test_degenerate_resnet_sizes_are_refused_by_name():
    import pytest
    from numpyuq.models import DeepResNet, DeepResNetSNGP, LeNet
    for make, message in ((lambda: DeepResNet(1), "num_classes must be >= 2, got 1"),
                          (lambda: DeepResNet(0), "num_classes must be >= 2, got 0"),
                          (lambda: DeepResNet(2, num_hidden=0), "num_hidden must be >= 1, got 0"),
                          (lambda: DeepResNetSNGP(2, num_inducing=0), "num_inducing must be >= 1, got 0"),
                          (lambda: LeNet(num_classes=1), "num_classes must be >= 2, got 1")):
        with pytest.raises(ValueError, match=message):
            make()
