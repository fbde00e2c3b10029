"""Fused Adam / AdamW update over one flat parameter buffer (Kingma & Ba 2015, Algorithm 1;
Loshchilov & Hutter 2019 for the decoupled weight decay).

    g   = grad + wd * value                    (L2 form, as torch.optim.Adam; skipped when decoupled)
    value <- value * (1 - lr * wd)             (decoupled form, AdamW)
    m   <- b1 m + (1 - b1) g
    v   <- b2 v + (1 - b2) g^2
    value <- value - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)       eps_placement="corrected"
    value <- value - lr * (m / (1 - b1^t)) / ((sqrt(v) + eps) / sqrt(1 - b2^t))   eps_placement="raw"

"corrected" adds eps to the bias-corrected root, as torch.optim.Adam does. "raw" adds it to sqrt(v)
before the correction: Kingma & Ba's "epsilon hat" (the remark just before their section 2.1),
which Keras and labml's Adam use. The two differ only while sqrt(v) is near eps, i.e. for
parameters whose gradients are tiny; both are the same update as eps -> 0. The kernel takes the
"raw" form as eps / sqrt(1 - b2^t) added to the corrected root, which is the same number.

A straightforward NumPy update makes about ten passes over every parameter array; the numba loop
makes one pass over all parameters at once.  All arrays are 1-D and updated in place.

Subnormal moments are flushed to zero. The moments of a parameter whose gradient stays zero (a dead
ReLU unit) decay by b1 and b2 every step, through the subnormal range (below the dtype's smallest
normal, 1.2e-38 in float32) before they reach zero; Intel cores run arithmetic on subnormals many
times slower than on normal floats (the fused update on LeNet's 431,080 float32 parameters took
0.26 ms with none and 1.33 ms with 20% subnormal), and after two epochs of the EDL experiment 21% of
m was subnormal. A subnormal m moves a parameter by less than lr * 1.2e-38 / eps, and a subnormal v
changes the denominator sqrt(v) + eps by less than 1e-19 / 1e-8: neither changes any float32 or
float64 parameter of ordinary size, so zero is the same update, and the state stays normal.
"""
import math

import numpy as np

from ..backend import get_array_module
from ..subnormals import flush_subnormals
from .dispatch import check_arrays, check_shape, compiled, use_numba


EPS_PLACEMENTS = ("corrected", "raw")


def adam_update_reference(value, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step,
                          eps_placement="corrected"):
    """Plain xp (NumPy/CuPy) version: the oracle for the numba kernel and the CuPy path."""
    xp = get_array_module(value)
    if decoupled:
        value *= 1 - lr * weight_decay
    elif weight_decay:
        grad = grad + weight_decay * value
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    flush_subnormals(m)                             # below the smallest normal: 0, the same update
    flush_subnormals(v)
    step_size = lr / (1 - beta1 ** step)
    if eps_placement == "raw":
        value -= step_size * m / ((xp.sqrt(v) + eps) / math.sqrt(1 - beta2 ** step))
    else:
        value -= step_size * m / (xp.sqrt(v) / math.sqrt(1 - beta2 ** step) + eps)


def _adam_update_loops(value, grad, m, v, step_size, inv_sqrt_bc2, beta1, one_minus_beta1, beta2,
                       one_minus_beta2, eps, shrink, l2, tiny):
    """The same update as one loop over the flat buffer; compiled by numba below.

    Scalars arrive in the arrays' dtype (and no literal appears in the loop: an integer or float
    literal would promote float32 math to float64), so float32 parameters stay float32 throughout.
    step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t); shrink = 1 - lr wd (AdamW) or 1;
    l2 = wd (L2 form) or 0; tiny = the dtype's smallest normal (moments below it become 0).
    """
    zero = tiny - tiny
    for i in range(value.shape[0]):
        g = grad[i] + l2 * value[i]
        mi = beta1 * m[i] + one_minus_beta1 * g
        vi = beta2 * v[i] + one_minus_beta2 * g * g
        mi = mi if abs(mi) >= tiny else zero         # a select, not a branch: the loop still vectorises
        vi = vi if vi >= tiny else zero
        m[i] = mi
        v[i] = vi
        value[i] = value[i] * shrink - step_size * mi / (math.sqrt(vi) * inv_sqrt_bc2 + eps)


# Vectorised by LLVM thanks to compiled()'s error_model="numpy" (measured 8x faster on 100k float32
# parameters than with Python's division semantics).
_adam_update_numba = compiled(_adam_update_loops)


def adam_update(value, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step,
                eps_placement="corrected"):
    """Dispatch: the numba kernel for NumPy arrays, the xp reference otherwise."""
    check_arrays(value, grad, m, v, ndim=1, names=("value", "grad", "m", "v"))
    for array, name in ((grad, "grad"), (m, "m"), (v, "v")):
        check_shape(array, value.shape, name)
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1 and step >= 1 and eps >= 0 and lr > 0):
        raise ValueError(f"need 0 <= beta1, beta2 < 1, step >= 1, eps >= 0, lr > 0; got beta1={beta1}, "
                         f"beta2={beta2}, step={step}, eps={eps}, lr={lr}")
    if eps_placement not in EPS_PLACEMENTS:
        raise ValueError(f"eps_placement must be one of {EPS_PLACEMENTS}, got {eps_placement!r}")
    if not use_numba(value):
        return adam_update_reference(value, grad, m, v, lr, beta1, beta2, eps, weight_decay,
                                     decoupled, step, eps_placement)
    scalar = value.dtype.type
    inv_sqrt_bc2 = 1 / math.sqrt(1 - beta2 ** step)
    if eps_placement == "raw":
        eps = eps * inv_sqrt_bc2
    _adam_update_numba(value, grad, m, v,
                       scalar(lr / (1 - beta1 ** step)), scalar(inv_sqrt_bc2),
                       scalar(beta1), scalar(1 - beta1), scalar(beta2), scalar(1 - beta2), scalar(eps),
                       scalar(1 - lr * weight_decay if decoupled else 1),
                       scalar(0 if decoupled else weight_decay), scalar(np.finfo(value.dtype).tiny))
