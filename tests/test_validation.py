"""Input checks: every message names the argument, what it got and what it needs."""
import numpy as np
import pytest

from numpyuq.validation import (
    check_features,
    check_finite,
    check_labels,
    check_positive_int,
    check_probability,
)


def test_check_features():
    check_features(np.zeros((2, 3)), "x", ndim=2, size=3)
    with pytest.raises(TypeError, match="x must be an array, got list"):
        check_features([[0.0]], "x", ndim=2)
    with pytest.raises(ValueError, match=r"x must have 2 dimensions, got shape \(3,\)"):
        check_features(np.zeros(3), "x", ndim=2)
    with pytest.raises(ValueError, match=r"x must have 4 features on axis -1, got shape \(2, 3\)"):
        check_features(np.zeros((2, 3)), "x", ndim=2, size=4)
    with pytest.raises(TypeError, match="floating-point array, got dtype int64"):
        check_features(np.zeros((2, 3), np.int64), "x", ndim=2)


def test_check_finite_counts():
    with pytest.raises(ValueError, match="x must be finite, got 2 NaN or infinite"):
        check_finite(np.array([0.0, np.nan, np.inf]), "x")


def test_check_labels():
    check_labels(np.array([0, 2]), "labels", 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[-1, 2\]"):
        check_labels(np.array([-1, 2]), "labels", 3)
    with pytest.raises(TypeError, match="integer class indices, got dtype float64"):
        check_labels(np.array([0.0]), "labels", 3)
    with pytest.raises(ValueError, match="labels must have 5 entries"):
        check_labels(np.array([0, 1]), "labels", 3, length=5)


def test_check_positive_int_and_probability():
    with pytest.raises(TypeError, match="epochs must be an integer, got bool"):
        check_positive_int(True, "epochs")
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        check_positive_int(0, "epochs")
    with pytest.raises(ValueError, match=r"rate must lie in \(0, 1\), got 0"):
        check_probability(0, "rate", allow_zero=False)


def test_the_same_mistake_raises_the_same_exception_everywhere():
    """A wrong type is a TypeError and a wrong value a ValueError, whichever class is called."""
    import pytest
    from numpyuq.nn import Conv2D, Dense, RandomFeatureGP, SpectralNorm
    from numpyuq.optim import SGD
    from numpyuq.uncertainty import mean_field_logits
    for make in (lambda: Dense("3", 2), lambda: Conv2D(1, 2, "3"), lambda: RandomFeatureGP("3", 2),
                 lambda: SpectralNorm(Dense(3, 2), iterations="1"), lambda: SGD(Dense(2, 2).parameters(), lr="1")):
        with pytest.raises(TypeError, match="must be"):
            make()
    for make in (lambda: Dense(0, 2), lambda: RandomFeatureGP(0, 2), lambda: SpectralNorm(Dense(3, 2), iterations=0),
                 lambda: SGD(Dense(2, 2).parameters(), lr=np.inf), lambda: Dense(2, 2, activation="tanh"),
                 lambda: mean_field_logits(np.zeros((2, 3)), np.array([-1.0, 1.0]))):
        with pytest.raises(ValueError, match="must be"):
            make()


def test_a_float32_model_takes_float64_data_as_keras_does(rng):
    from numpyuq.models import LeNet
    from tests.tiny_models import tiny_resnet
    x = rng.standard_normal((3, 2))
    model = tiny_resnet()
    np.testing.assert_array_equal(model(x), model(x.astype(np.float32)))
    images = rng.random((2, 1, 28, 28))
    lenet = LeNet(channels=(2, 3), num_hidden=8)
    assert lenet(images).dtype == np.float32
    np.testing.assert_array_equal(lenet(images), lenet(images.astype(np.float32)))


def test_check_positive_ints_names_the_argument_and_the_count():
    from numpyuq.validation import check_positive_ints
    check_positive_ints((6, 16, 120), "channels", 3)
    with pytest.raises(ValueError, match=r"channels must be a triple \(c1, c2, c3\), got \(6, 16\)"):
        check_positive_ints((6, 16), "channels", 3)
    with pytest.raises(ValueError, match="channels must be a pair"):
        check_positive_ints([2], "channels", 2)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        check_positive_ints((2, 0), "channels", 2)
    with pytest.raises(TypeError, match="channels must be an integer"):
        check_positive_ints((2, 1.5), "channels", 2)
