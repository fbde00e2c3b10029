"""SNGP prediction: mean-field logits, Monte-Carlo sampling, covariance reset and refit."""
import math

import numpy as np

from ..backend import array_in, get_array_module
from ..losses.cross_entropy import softmax
from ..nn.gaussian_process import RandomFeatureGP
from ..nn.module import attributes_set
from ..seeding import as_generator
from ..validation import check_batch, check_positive_int, check_real


def mean_field_logits(logits, variance, lambda_=math.pi / 8):
    """logits / sqrt(1 + lambda variance): softmax of these approximates E[softmax(f)] under
    f ~ N(logits, variance) (Liu et al. 2020, eq. 10; lambda = pi/8 as the seed, or 3/pi^2).

    logits: (N, K); variance: (N,) or a full (N, N) covariance (its diagonal is used).
    """
    xp = get_array_module(logits)
    check_real(lambda_, "lambda_", at_least=0)
    if variance.ndim == 2:
        variance = xp.diagonal(variance)
    if variance.shape != logits.shape[:1]:
        raise ValueError(f"variance must have shape ({logits.shape[0]},) or ({logits.shape[0]}, {logits.shape[0]}) "
                         f"for logits of shape {tuple(logits.shape)}, got {tuple(variance.shape)}")
    if variance.size and not float(variance.min()) >= 0:        # also catches NaN
        raise ValueError(f"variance must be >= 0 (a variance), got a minimum of {float(variance.min())}")
    scale = xp.sqrt(1.0 + lambda_ * variance.astype(np.float64))[:, None]
    return logits / scale.astype(logits.dtype)


def sample_logits(logits, variance, num_samples, seed=0):
    """Draws f ~ N(logits, variance) independently per class: (num_samples, N, K).

    The GP posterior of every class has the same feature covariance, hence one variance per row.
    The draws come from a NumPy Generator on the host (the same numbers on every backend), moved to
    the device of ``logits`` in one transfer.
    """
    check_positive_int(num_samples, "num_samples")
    rng = as_generator(seed)
    logits = check_batch(logits, "logits").astype(np.float64)
    variance = check_batch(variance, "variance", min_ndim=1).astype(np.float64)
    if logits.ndim != 2 or variance.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (N, K) and variance (N,), got {tuple(logits.shape)} and "
                         f"{tuple(variance.shape)}")
    if float(variance.min()) < 0:
        raise ValueError(f"variance must be >= 0, got a minimum of {float(variance.min())}")
    xp = get_array_module(logits)
    noise = array_in(rng.standard_normal((num_samples,) + tuple(logits.shape)), xp)
    return logits[None] + xp.sqrt(variance)[None, :, None] * noise


def mc_probabilities(logits, variance, num_samples=100, seed=0):
    """Posterior-mean probabilities by Monte Carlo: mean over samples of softmax(f).  -> (N, K)."""
    samples = sample_logits(logits, variance, num_samples, seed)
    return softmax(samples.reshape(-1, samples.shape[-1])).reshape(samples.shape).mean(axis=0)


def _gp_layers(model):
    layers = [m for m in model.modules() if isinstance(m, RandomFeatureGP)]
    if not layers:
        raise ValueError(f"model {type(model).__name__} has no RandomFeatureGP layer")
    return layers


def with_precision_update_mode(layers, mode):
    """Within the block, every GP layer in ``layers`` has ``precision_update_mode = mode``."""
    return attributes_set(layers, "precision_update_mode", mode)


def refit_covariance(model, x, batch_size=1024, reset=True):
    """Rebuild the GP precision from clean features: reset, then one inference-mode pass over ``x``.

    The seed's per-epoch reset leaves a precision built from the last epoch's *training-mode*
    features (dropout on, weights moving between steps). After training, this computes the exact
    ridge I + Phi^T Phi of the final model. With ``reset=False`` the pass adds to the current
    precision, and a warning is raised if that counts data twice.

    Args:
        model: a Module holding at least one RandomFeatureGP.
        x: (N, ...) the training inputs.
        batch_size: rows per inference pass.
        reset: start from ridge I.
    Every argument is checked before the precision changes.
    """
    layers = _gp_layers(model)
    check_positive_int(batch_size, "batch_size")
    if not isinstance(reset, bool):
        raise TypeError(f"reset must be True or False, got {reset!r}")
    x = model.as_input(check_batch(x, "x"))
    model.forward(x[:1], training=False)        # a wrong feature count raises here, before any change
    for gp in layers:
        if reset:
            gp.reset_covariance()
            gp.num_training_samples[...] = x.shape[0]
    with with_precision_update_mode(layers, "always"):
        for start in range(0, x.shape[0], batch_size):
            model.forward(x[start:start + batch_size], training=False)
    return model
