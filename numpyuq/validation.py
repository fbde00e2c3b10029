"""Input checks shared by layers, losses and the training loop.

Every message names the argument, what it got and what it needs, so a user can fix the call
without reading our source.
"""
import warnings

import numpy as np

from .backend import array_in, get_array_module


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


def as_labels(labels, name, num_classes, length, like=None):
    """``labels`` (an array or a list) as an array of class indices, checked as ``check_labels``:
    on the device of ``like`` when given (NumPy for a list), else where they are."""
    if isinstance(labels, (list, tuple)):
        labels = np.asarray(labels)
    check_labels(labels, name, num_classes, length)
    return labels if like is None else array_in(labels, get_array_module(like))


def check_positive_int(value, name, minimum=1):
    """Raise unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_positive_ints(values, name, count):
    """Raise unless ``values`` is a tuple or list of ``count`` integers >= 1 (a network's widths)."""
    if not (isinstance(values, (tuple, list)) and len(values) == count):
        words = {2: "a pair", 3: "a triple"}.get(count, f"{count} integers")
        example = ", ".join(f"c{i + 1}" for i in range(count))
        raise ValueError(f"{name} must be {words} ({example}), got {values!r}")
    for value in values:
        check_positive_int(value, name)


def check_probability(value, name, allow_zero=True):
    """Raise unless ``0 <= value < 1`` (``0 < value < 1`` when ``allow_zero`` is False)."""
    check_real(value, name)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")


FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_dtype(dtype, name):
    """Raise unless ``dtype`` is float32 or float64, the two dtypes every kernel is compiled for
    (float16 has too little range for the GP precision or a gradient check)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def check_batch(x, name, min_ndim=2):
    """``x`` as a non-empty, finite, numeric array of rank >= ``min_ndim`` (lists are converted).

    Returns the array (on its own device); raises TypeError for non-numeric data and ValueError
    for a wrong rank, zero rows or NaN / infinity, naming ``name``.
    """
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except ValueError as err:
            raise ValueError(f"{name} must be a rectangular array, got a ragged {type(x).__name__}") from err
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must be an array of shape (N, ...) with at least {min_ndim} dimensions, "
                         f"got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {tuple(x.shape)}")
    check_finite(x, name)
    return x


def check_real(value, name, above=None, at_least=None, below=None):
    """Raise unless ``value`` is a finite real number within the given bounds (``above`` and
    ``below`` are strict, ``at_least`` is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if above is not None and not value > above:
        raise ValueError(f"{name} must be > {above}, got {value}")
    if at_least is not None and not value >= at_least:
        raise ValueError(f"{name} must be >= {at_least}, got {value}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be < {below}, got {value}")


def check_choice(value, name, choices):
    """Raise ValueError unless ``value`` is one of ``choices`` (a wrong value, whatever its type:
    ``activation="tanh"`` and ``activation=3`` are the same mistake). Returns ``value``."""
    try:
        known = value in choices
    except TypeError:                                  # an unhashable value in a dict/set of choices
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def renamed_arguments(given, **current):
    """Resolve keyword arguments that were renamed: ``given`` holds what a caller passed under old
    names ({old: value}); ``current`` maps each old name to ``(new name, value of the new argument)``.
    Returns the new arguments' values in order, taking an old one (with a DeprecationWarning) where
    given. An unknown keyword is a TypeError, as Python gives for any function."""
    unknown = sorted(set(given) - set(current))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {unknown}")
    values = []
    for old, (new, value) in current.items():
        if old in given:
            warnings.warn(f"the argument {old!r} is renamed {new!r}", DeprecationWarning, stacklevel=3)
            value = given[old]
        values.append(value)
    return tuple(values)


def check_upstream(dy, shape, owner):
    """Raise ValueError unless the upstream gradient ``dy`` has ``shape``, the shape of the output of
    ``owner``'s last forward pass (a mismatch would otherwise surface as a matmul or broadcast error)."""
    if getattr(dy, "shape", None) != tuple(shape):
        got = tuple(dy.shape) if hasattr(dy, "shape") else type(dy).__name__
        raise ValueError(f"{owner}.backward: dy must have the shape of the last forward pass's output, "
                         f"{tuple(shape)}, got {got}")
