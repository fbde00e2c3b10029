"""Each refusal of the CuPy stand-in fires: if one did not, the backend tests could pass over a
silent move to the host."""
import numpy as np
import pytest
import scipy.special
from sklearn.metrics import roc_auc_score

from tests import fake_cupy


@pytest.fixture
def cp(monkeypatch):
    return fake_cupy.install(monkeypatch)


def test_it_is_a_wrapper_not_an_ndarray_subclass(cp):
    x = cp.asarray(np.arange(3.0))
    assert not isinstance(x, np.ndarray)
    assert type(x).__mro__ == (cp.ndarray, object)


@pytest.mark.parametrize("convert", [np.asarray, np.array, memoryview, lambda x: np.float64(1.0) + np.ones(3) * x],
                         ids=["np.asarray", "np.array", "buffer protocol", "numpy operator"])
def test_no_implicit_conversion_to_numpy(cp, convert):
    with pytest.raises(TypeError):
        convert(cp.ones(3))


def test_numpy_functions_and_ufuncs_refuse_device_arrays(cp):
    x = cp.ones(3)
    with pytest.raises(TypeError):
        np.exp(x)
    with pytest.raises(TypeError):
        np.concatenate([x, x])
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.sum(x)


@pytest.mark.parametrize("mix", [lambda x, h: x + h, lambda x, h: h + x, lambda x, h: x @ h,
                                 lambda x, h: x.__setitem__(0, h), lambda x, h: x[h],
                                 lambda x, h: fake_cupy.maximum(x, h), lambda x, h: fake_cupy.concatenate([x, h])],
                         ids=["x + numpy", "numpy + x", "x @ numpy", "x[...] = numpy", "x[numpy index]",
                              "cupy.maximum(x, numpy)", "cupy.concatenate([x, numpy])"])
def test_mixing_device_and_host_arrays_raises(cp, mix):
    with pytest.raises(TypeError, match="Unsupported type"):
        mix(cp.ones(3), np.ones(3, dtype=np.int64) if "index" in mix.__code__.co_names else np.ones(3))


def test_scalars_mix_freely(cp):
    x = cp.ones(3, dtype=np.float32)
    y = 2 * x + np.float32(1.0) - 0.5
    assert isinstance(y, cp.ndarray) and y.dtype == np.float32
    np.testing.assert_array_equal(y.get(), np.full(3, 2.5, np.float32))


def test_reductions_return_device_scalars_that_convert_explicitly(cp):
    x = cp.asarray(np.array([1.0, 2.0, 3.0]))
    total = x.sum()
    assert isinstance(total, cp.ndarray) and total.shape == ()
    assert isinstance(x[0], cp.ndarray) and isinstance(cp.max(x), cp.ndarray)
    assert float(total) == 6.0 and int(x.argmax()) == 2 and bool(x[0] == 1.0)


def test_get_and_asnumpy_are_the_ways_out(cp):
    host = np.arange(4.0)
    x = cp.asarray(host)
    assert isinstance(x.get(), np.ndarray) and isinstance(cp.asnumpy(x), np.ndarray)
    np.testing.assert_array_equal(x.get(), host)
    host[0] = 9                                  # asarray copied: the device array is independent
    assert float(x[0]) == 0.0


def test_only_names_cupy_has(cp):
    for missing in ("fromfunction", "nditer", "vectorize", "frompyfunc"):
        assert not hasattr(cp, missing)
    generator = cp.random.default_rng(0)
    assert isinstance(generator.standard_normal((2, 2)), cp.ndarray)
    for missing in ("normal", "permutation", "shuffle", "choice", "spawn"):
        with pytest.raises(AttributeError):
            getattr(generator, missing)


def test_ufunc_at_only_where_cuda_has_atomics(cp):
    a = cp.zeros(3, dtype=np.float32)
    cp.add.at(a, cp.asarray(np.array([0, 0, 2])), 1.0)
    np.testing.assert_array_equal(a.get(), [2, 0, 1])
    with pytest.raises(TypeError, match="int64"):
        cp.add.at(cp.zeros(3, dtype=np.int64), cp.asarray(np.array([0])), 1)
    with pytest.raises(NotImplementedError):
        cp.multiply.at(a, cp.asarray(np.array([0])), 2.0)
    for method in ("reduce", "accumulate", "outer"):
        assert not hasattr(cp.add, method)


def test_scipy_and_sklearn_refuse_device_arrays(cp):
    x = cp.asarray(np.array([0.2, 0.8]))
    with pytest.raises(TypeError):
        scipy.special.digamma(x)
    with pytest.raises(TypeError):
        roc_auc_score(cp.asarray(np.array([0, 1])), x)
    import cupyx.scipy.special
    assert isinstance(cupyx.scipy.special.digamma(x), cp.ndarray)


def test_the_stand_in_is_gone_after_the_test():
    import sys
    assert sys.modules.get("cupy") is not fake_cupy
