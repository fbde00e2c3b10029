"""The subnormal probes, and Adam's state after a run that used to fill it with subnormals."""
import numpy as np
import pytest

from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.optim import SGD, Adam
from numpyuq.subnormals import activation_subnormals, flush_subnormals, state_subnormals, subnormal_count, summarize
from numpyuq.training import fit
from tests.tiny_models import tiny_resnet


def test_subnormal_count_counts_exactly_the_subnormals():
    tiny = np.finfo(np.float32).tiny
    values = np.array([0.0, tiny, tiny / 2, -tiny / 4, 1.0, np.nan, np.inf, -tiny * 0.999], np.float32)
    assert subnormal_count(values) == 3
    assert subnormal_count(values.astype(np.float64)) == 0          # normal in float64
    assert subnormal_count(np.arange(3)) == 0


def dead_unit_run(make_optimizer=lambda params: Adam(params, lr=1e-3)):
    """A DeepResNet trained a few epochs, then one hidden unit killed (its bias far below zero, so its
    ReLU passes no gradient) and trained on: that unit's Adam moments decay by beta1 every step
    (SGD's momentum buffer by its momentum)."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 2)).astype(np.float32), rng.integers(0, 2, 32)
    model = tiny_resnet(num_layers=1, num_hidden=8, dropout_rate=0.0)
    optimizer = make_optimizer(model.parameters())
    fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=5, batch_size=32, progress=False)
    dense = model.blocks[0].branch.layers[0]
    dense.b.value[3] = -1e3                                       # in place: the optimizer holds views
    fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=900, batch_size=32, progress=False)
    return model, optimizer, x


def test_adam_state_holds_no_subnormals_after_a_run_that_used_to_produce_them(monkeypatch):
    """With the flush removed, 0.9^900 of the dead unit's first moments is subnormal in float32;
    with it, Adam's state has none."""
    from numpyuq.kernels import adam as adam_module
    from numpyuq.kernels import dispatch
    model, optimizer, x = dead_unit_run()
    count, size, holding = summarize({k: v for k, v in state_subnormals(model, optimizer).items()
                                      if k.startswith("optimizer/")})
    assert count == 0 and size > 0, holding
    if dispatch.KERNELS == "reference":
        pytest.skip("the run without the flush replaces the compiled kernel")
    real = adam_module._adam_update_numba
    monkeypatch.setattr(adam_module, "_adam_update_numba", lambda *args: real(*args[:-1], args[-1] * 0))
    model, optimizer, x = dead_unit_run()                         # tiny = 0: nothing is flushed
    report = state_subnormals(model, optimizer)
    assert report["optimizer/exp_avg.0"][0] > 0                    # the probe sees what the flush removes


def test_sgd_momentum_holds_no_subnormals_after_a_run_that_used_to_produce_them(monkeypatch):
    """The same run with SGD's momentum 0.9: unflushed, 0.9^900 of the dead unit's buffer is subnormal."""
    from numpyuq.optim import sgd as sgd_module
    sgd = lambda params: SGD(params, lr=1e-2, momentum=0.9)       # noqa: E731
    model, optimizer, _ = dead_unit_run(sgd)
    count, size, holding = summarize({k: v for k, v in state_subnormals(model, optimizer).items()
                                      if k.startswith("optimizer/")})
    assert count == 0 and size > 0, holding
    monkeypatch.setattr(sgd_module, "flush_subnormals", lambda array: array)
    model, optimizer, _ = dead_unit_run(sgd)
    assert state_subnormals(model, optimizer)["optimizer/momentum_buffer.0"][0] > 0


def test_activation_probe_visits_every_module_and_leaves_the_model_as_it_was():
    from tests.tiny_models import tiny_sngp
    model = tiny_sngp(num_layers=2, num_hidden=4)              # a training pass changes the GP precision
    x = np.full((3, 2), -1e30, np.float32)
    before, generators = model.state_dict(), model.generator_states()
    report = activation_subnormals(model, x)
    assert {"model", "model.input_layer", "model.classifier"} <= set(report)
    assert all(size > 0 for _, size in report.values())
    assert not any("forward" in vars(m) for m in model.modules())          # the probes are gone
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert model.generator_states() == generators


def test_flush_subnormals_zeroes_exactly_the_subnormals():
    tiny = np.finfo(np.float32).tiny
    values = np.array([0.0, tiny, tiny / 2, -tiny / 4, -1.0, np.nan, np.inf, -np.inf, -tiny * 0.999], np.float32)
    expected = values.copy()
    expected[[2, 3, 8]] = 0
    out = flush_subnormals(values)
    assert out is values
    np.testing.assert_array_equal(values, expected)              # NaN where NaN was, the rest bit for bit
    assert subnormal_count(values) == 0


def test_flush_subnormals_names_a_non_array_and_leaves_integers_alone():
    values = [1e-40, 1.0]
    with pytest.raises(TypeError, match="array of type list"):
        flush_subnormals(values)
    assert values == [1e-40, 1.0]
    counts = np.array([0, 1, 2])
    assert flush_subnormals(counts) is counts and counts.tolist() == [0, 1, 2]
