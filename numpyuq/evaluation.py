"""The evaluations of Sensoy et al. 2018, for any classifier that gives probabilities.

* ``rotation_curve``: a digit rotated from 0 to 180 degrees in 10-degree steps, the class
  probabilities at each angle and, for an evidential model, u = K / S (the paper's Figure 1).
* ``entropy_cdf``: the empirical CDF of the predictive entropy on out-of-distribution images (the
  paper's notMNIST figure); a model that knows it has never seen such images puts its curve in the
  bottom right, near the maximum entropy log K.
* ``split_by_correctness``: an uncertainty score separated into correct and wrong predictions, for
  the histograms of the two.

They return arrays; ``numpyuq.plotting.evaluation`` draws them.
"""
from typing import NamedTuple

import numpy as np
import scipy.ndimage

from .backend import to_numpy
from .metrics import predictive_entropy

ROTATION_ANGLES = tuple(range(0, 181, 10))


class RotationCurve(NamedTuple):
    angles: np.ndarray          # (A,) degrees
    images: np.ndarray          # (A, C, H, W) the rotated images
    probs: np.ndarray           # (A, K) class probabilities
    uncertainty: object         # (A,) the model's own uncertainty (u for EDL), or None


def rotate_images(image, angles, background=None):
    """The image (C, H, W) rotated counter-clockwise by each angle (degrees), size kept, bilinear;
    the corners are filled with ``background`` (default: the image's minimum, the normalised black).
    Returns (A, C, H, W)."""
    image = np.asarray(to_numpy(image), dtype=np.float64)
    if image.ndim != 3:
        raise ValueError(f"image must have shape (C, H, W), got {image.shape}")
    fill = float(image.min()) if background is None else float(background)
    return np.stack([scipy.ndimage.rotate(image, angle, axes=(1, 2), reshape=False, order=1, cval=fill)
                     for angle in angles])


def probability_function(model):
    """x -> class probabilities (N, K) for ``model``: a numpyuq model or ensemble (its ``predict``:
    softmax, mean field, alpha / S or the member mean), any other Module whose outputs are logits
    (softmax), or a callable that already returns probabilities."""
    from .losses.cross_entropy import softmax
    from .models.classifier import Classifier
    from .nn.module import Module
    from .training import predict_logits
    from .uncertainty.ensemble import DeepEnsemble

    if isinstance(model, (Classifier, DeepEnsemble)):
        return model.predict
    if isinstance(model, Module):
        return lambda x: softmax(predict_logits(model, x))
    if callable(model):
        return model
    raise TypeError(f"model must be a numpyuq model, a Module or a callable, got {type(model).__name__}")


def rotation_curve(model, image, angles=ROTATION_ANGLES, uncertainty=None, background=None):
    """Class probabilities (and optionally an uncertainty) of ``image`` rotated through ``angles``.

    Args:
        model: any model ``probability_function`` accepts (an ``EvidentialClassifier``, a softmax
            network, a ``DeepEnsemble``) or a callable x (A, C, H, W) float32 -> probabilities (A, K).
        image: (C, H, W), e.g. a normalised "1" from the test set.
        uncertainty: optional callable x -> (A,); for an EvidentialClassifier it defaults to its
            uncertainty mass u.
    """
    from .models.evidential import EvidentialClassifier
    predict_proba = probability_function(model)
    if uncertainty is None and isinstance(model, EvidentialClassifier):
        uncertainty = model.uncertainty
    angles = np.asarray(angles, dtype=np.float64)
    images = rotate_images(image, angles, background).astype(np.float32)
    probs = np.asarray(to_numpy(predict_proba(images)), dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(angles):
        raise ValueError(f"predict_proba must return ({len(angles)}, K) probabilities, got shape {probs.shape}")
    own = None if uncertainty is None else np.asarray(to_numpy(uncertainty(images)), dtype=np.float64)
    return RotationCurve(angles, images, probs, own)


def entropy_cdf(probs, num_points=101):
    """Empirical CDF of the predictive entropy H[p] of each row of probs (N, K).

    Returns (entropy (num_points,) on a grid from 0 to log K, fraction of rows with H <= entropy).
    """
    probs = np.asarray(to_numpy(probs), dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must have shape (N, K) with N >= 1, got {probs.shape}")
    entropy = np.sort(predictive_entropy(probs))
    grid = np.linspace(0.0, np.log(probs.shape[1]), num_points)
    return grid, np.searchsorted(entropy, grid, side="right") / len(entropy)


def split_by_correctness(score, probs, labels):
    """(score of correct predictions, score of wrong ones).  score: (N,), probs: (N, K), labels: (N,)."""
    score, probs, labels = (np.asarray(to_numpy(a)) for a in (score, probs, labels))
    if not (score.shape[0] == probs.shape[0] == labels.shape[0]):
        raise ValueError(f"score, probs and labels must have the same length, got {score.shape[0]}, "
                         f"{probs.shape[0]} and {labels.shape[0]}")
    correct = probs.argmax(axis=1) == labels
    return score[correct], score[~correct]
