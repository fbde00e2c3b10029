"""Input checks shared by layers, losses and the training loop.

Every message names the argument, what it got and what it needs, so a user can fix the call
without reading our source.
"""
import numpy as np

from .backend import get_array_module


def check_features(x, name, ndim, size=None, axis=-1):
    """Raise unless ``x`` is a floating array of rank ``ndim`` whose ``axis`` has ``size`` entries."""
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if size is not None and x.shape[axis] != size:
        raise ValueError(
            f"{name} must have {size} features on axis {axis}, got shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")


def check_finite(x, name):
    """Raise if ``x`` holds NaN or infinity (counts how many)."""
    xp = get_array_module(x)
    bad = int((~xp.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")


def check_labels(labels, name, num_classes, length=None):
    """Raise unless ``labels`` is a 1-D integer array of values in ``[0, num_classes)``."""
    if not hasattr(labels, "ndim") or labels.ndim != 1:
        shape = getattr(labels, "shape", type(labels).__name__)
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    if length is not None and labels.shape[0] != length:
        raise ValueError(f"{name} must have {length} entries (one per row), got {labels.shape[0]}")
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{name} must lie in [0, {num_classes}), got values in [{low}, {high}]")


def check_positive_int(value, name, minimum=1):
    """Raise unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_probability(value, name, allow_zero=True):
    """Raise unless ``0 <= value < 1`` (``0 < value < 1`` when ``allow_zero`` is False)."""
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
