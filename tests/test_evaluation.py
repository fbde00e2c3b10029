"""The EDL paper's evaluations, on models whose answers we know."""
import numpy as np
import pytest

from numpyuq.evaluation import (
    ROTATION_ANGLES,
    entropy_cdf,
    rotate_images,
    rotation_curve,
    split_by_correctness,
)
from tests.tiny_models import tiny_lenet


def test_rotation_by_90_degrees_is_exact_and_keeps_the_size():
    image = np.zeros((1, 28, 28))
    image[0, 4:24, 13:15] = 1.0                       # a vertical bar
    rotated = rotate_images(image, [0, 90, 180])
    assert rotated.shape == (3, 1, 28, 28)
    np.testing.assert_allclose(rotated[0], image, atol=1e-12)
    np.testing.assert_allclose(rotated[1, 0], np.rot90(image[0]), atol=1e-9)   # now horizontal
    np.testing.assert_allclose(rotated[2, 0], np.rot90(image[0], 2), atol=1e-9)
    with pytest.raises(ValueError, match=r"image must have shape \(C, H, W\)"):
        rotate_images(image[0], [0])


def test_rotation_curve_calls_the_model_on_every_angle():
    image = np.zeros((1, 28, 28))
    image[0, 4:24, 13:15] = 1.0

    def verticality(x):                               # a "model" that knows vertical from horizontal
        v = x[:, 0, 4:24, 12:16].sum(axis=(1, 2)) / x.sum(axis=(1, 2, 3))
        return np.stack([v, 1 - v], axis=1)
    curve = rotation_curve(verticality, image, uncertainty=lambda x: np.ones(len(x)))
    np.testing.assert_array_equal(curve.angles, ROTATION_ANGLES)
    assert curve.probs[0, 0] > 0.99 and curve.probs[9, 0] < 0.3 and curve.probs[18, 0] > 0.99
    assert curve.uncertainty.shape == (19,)
    with pytest.raises(ValueError, match=r"must return \(19, K\) probabilities"):
        rotation_curve(lambda x: np.ones((3, 2)) / 2, image)


def test_entropy_cdf():
    probs = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5], [0.9, 0.1]])
    grid, cdf = entropy_cdf(probs, num_points=3)
    np.testing.assert_allclose(grid, [0, np.log(2) / 2, np.log(2)])
    np.testing.assert_allclose(cdf, [0.25, 0.5, 1.0])              # H(0.9, 0.1) = 0.325 < log 2 / 2
    with pytest.raises(ValueError, match="probs must have shape"):
        entropy_cdf(np.zeros((0, 3)))


def test_split_by_correctness():
    correct, wrong = split_by_correctness(np.array([1.0, 2.0, 3.0]), np.eye(3), np.array([0, 2, 2]))
    np.testing.assert_array_equal(correct, [1.0, 3.0])
    np.testing.assert_array_equal(wrong, [2.0])
    with pytest.raises(ValueError, match="same length"):
        split_by_correctness(np.ones(2), np.eye(3), np.arange(3))


def test_rotation_curve_accepts_models(rng):
    from numpyuq.models import EvidentialClassifier
    from numpyuq.uncertainty import DeepEnsemble
    image = rng.standard_normal((1, 28, 28)).astype(np.float32)
    edl = EvidentialClassifier(tiny_lenet(seed=0))
    curve = rotation_curve(edl, image, angles=[0, 90])
    np.testing.assert_allclose(curve.probs.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(curve.uncertainty, edl.uncertainty(curve.images), rtol=1e-6)   # u by default
    softmax_curve = rotation_curve(tiny_lenet(seed=0), image, angles=[0, 90])
    assert softmax_curve.uncertainty is None and np.allclose(softmax_curve.probs.sum(axis=1), 1)
    ensemble = DeepEnsemble(lambda seed: tiny_lenet(seed=seed), size=2)
    ensemble.members = [tiny_lenet(seed=s) for s in (0, 1)]
    assert rotation_curve(ensemble, image, angles=[0]).probs.shape == (1, 10)
    with pytest.raises(TypeError, match="model must be a numpyuq model, a Module or a callable"):
        rotation_curve(3, image)
