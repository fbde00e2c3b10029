"""The module protocol: named parameters, buffers, state dicts."""
from numpyuq.nn import Dense, Residual, Sequential


def test_parameters_are_named_by_path(rng):
    net = Sequential(Dense(2, 3, seed=rng), Residual(Sequential(Dense(3, 3, seed=rng))))
    names = [name for name, _ in net.named_parameters()]
    assert names == ["layers.0.w", "layers.0.b", "layers.1.branch.layers.0.w", "layers.1.branch.layers.0.b"]
