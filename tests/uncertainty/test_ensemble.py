"""Deep ensembles: members differ, predictions average."""
import numpy as np
import pytest

from numpyuq.data import make_moons_data
from numpyuq.uncertainty import DeepEnsemble
from tests.tiny_models import tiny_resnet


def make_small_member(seed):
    return tiny_resnet(num_layers=2, num_hidden=16, seed=seed)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ensemble_members_differ_and_average(n_jobs):
    x, y = make_moons_data(sample_size=50, seed=0)
    ensemble = DeepEnsemble(make_small_member, size=3).fit(x, y, epochs=3, batch_size=32, n_jobs=n_jobs,
                                                           progress=False)
    probs, samples = ensemble.predict_proba(x, return_samples=True)
    assert samples.shape == (3, 100, 2)
    assert not np.allclose(samples[0], samples[1])
    np.testing.assert_allclose(probs, samples.mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        DeepEnsemble(make_small_member, size=0)
