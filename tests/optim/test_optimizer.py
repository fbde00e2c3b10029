"""The optimizer base: argument checks."""
import numpy as np
import pytest

from numpyuq.nn import Parameter
from numpyuq.optim import SGD, Adam


def test_optimizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lr must be a number > 0, got -1"):
        Adam([Parameter(np.ones(2))], lr=-1)
    with pytest.raises(ValueError, match="at least one trainable"):
        Adam([])
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p])


def test_a_stale_optimizer_raises_instead_of_training_nothing():
    from numpyuq.models import DeepResNet
    from numpyuq.optim import SGD, Adam

    model = DeepResNet(2, num_layers=1, num_hidden=4, seed=0)
    first = Adam(model.parameters())
    second = SGD(model.parameters())           # packs the same parameters into its own buffer
    second.step()                              # the newest optimizer works
    with pytest.raises(RuntimeError, match="Adam no longer holds its parameters: another optimizer"):
        first.step()
    assert first.step_count == 0
    third = Adam(model.parameters())
    model.astype(np.float64)                   # rebinds every parameter
    with pytest.raises(RuntimeError, match="cast \\(astype\\)"):
        third.step()
    Adam(model.parameters()).step()            # built again, it trains
