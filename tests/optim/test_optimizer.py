"""The optimizer base: argument checks."""
import numpy as np
import pytest

from numpyuq.nn import Parameter
from numpyuq.optim import SGD, Adam
from tests.tiny_models import tiny_resnet


def test_optimizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lr must be > 0, got -1"):
        Adam([Parameter(np.ones(2))], lr=-1)
    with pytest.raises(ValueError, match="at least one trainable"):
        Adam([])
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p])


def test_a_stale_optimizer_raises_instead_of_training_nothing():
    from numpyuq.optim import SGD, Adam

    model = tiny_resnet(num_layers=1, num_hidden=4, seed=0)
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


def test_state_dict_round_trip_and_mismatch_changes_nothing():
    from tests.helpers import state_bytes
    p = Parameter(np.ones(3))
    adam = Adam([p], lr=0.1, betas=(0.5, 0.9))
    p.grad[...] = [1.0, -2.0, 3.0]
    adam.step()
    state = adam.state_dict()
    assert set(state) == {"step_count", "lr", "exp_avg.0", "exp_avg_sq.0"} and int(state["step_count"]) == 1
    q = Parameter(p.value.copy())
    other = Adam([q], lr=0.5, betas=(0.5, 0.9))
    other.load_state_dict(state)
    assert state_bytes(other) == state_bytes(adam) and other.lr == 0.1
    q.grad[...] = p.grad
    adam.step(), other.step()
    np.testing.assert_array_equal(p.value, q.value)               # resumes exactly
    before = state_bytes(other)
    bad = dict(state, **{"exp_avg.0": np.zeros(4)})
    with pytest.raises(ValueError, match="shape mismatch"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        SGD([Parameter(np.ones(3))], momentum=0.9).load_state_dict(state)
    assert state_bytes(other) == before


def test_adam_beta_one_and_sgd_momentum_are_refused_before_packing():
    model = tiny_resnet(num_layers=1, num_hidden=4)
    owner = Adam(model.parameters())
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
        Adam(model.parameters(), betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="momentum must be < 1, got 1.5"):
        SGD(model.parameters(), momentum=1.5)
    owner.step()                 # the failed constructors did not take the parameters over
    with pytest.raises(TypeError, match="params must be an iterable of Parameters"):
        Adam(model)
