"""Central finite-difference gradient checks for pure pairs, modules and losses (float64 only).

``check_pair(forward, backward, inputs)`` checks one pure ``*_forward`` / ``*_backward`` pair,
so a reader sees exactly which function is checked against which argument;
``check_module`` checks a stateful module end to end; ``check_loss`` a loss.

For a module y = f(x; params) we check the backward pass against
    dL/dt  ~  (L(t + eps) - L(t - eps)) / (2 eps),     L = sum(y * dy),
for *every* element t of the input and of every trainable parameter, with a random upstream
gradient dy (an all-ones dy would hide errors that cancel across outputs). Before every perturbed
pass the module's state (parameters, buffers) and the state of every Generator it owns are
restored, so stateful layers (dropout masks, power iteration, GP precision) are checked with
``training=True`` too: each pass sees the same mask and the same starting state.

The step for an element t is h = eps max(1, |t|). eps = 1e-5 balances the two errors of a central
difference in float64 for elements of order 1: truncation ~ h^2 |f'''| and round-off ~ 1e-16 |L| / h,
both near 1e-11. For a large element (a logit of 1e3) the step grows with it, since both the scale
on which f curves and the size of the terms that L adds up grow too. A check whose loss adds up
many large terms (a whole network, a KL term at evidence 1e3) may need a larger eps; its test says so.
A NaN in either gradient fails the check.

The relative error of an element is |a - n| / max(|a|, |n|, floor), with floor = 1e-3 times the
largest gradient magnitude of that array: elements whose gradient is tiny compared to the rest
are judged on an absolute scale, where finite differences are accurate.
"""
from dataclasses import dataclass, field

import numpy as np

from .backend import get_array_module, to_numpy


@dataclass
class GradCheckReport:
    """max_rel_error over everything checked; worst: (array name, index) of that element."""
    max_rel_error: float
    worst: tuple
    per_array: dict = field(default_factory=dict)

    def __repr__(self):
        rows = ", ".join(f"{k}: {v:.2e}" for k, v in self.per_array.items())
        return f"GradCheckReport(max_rel_error={self.max_rel_error:.3e}, worst={self.worst}, {rows})"


def relative_error(analytic, numeric):
    """Elementwise |a - n| / max(|a|, |n|, 1e-3 max|n|, tiny).  Both arrays: same shape."""
    analytic, numeric = to_numpy(analytic), to_numpy(numeric)
    floor = max(1e-3 * float(np.abs(numeric).max(initial=0.0)), 1e-12)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return np.abs(analytic - numeric) / scale


def _generators(module):
    return [v for m in module.modules() for v in vars(m).values() if isinstance(v, np.random.Generator)]


def _require_float64(name, array):
    if array.dtype != np.float64:
        raise TypeError(f"gradient checks need float64; {name} has dtype {array.dtype} "
                        "(call module.astype(np.float64))")


def _numeric_gradient(loss_at, base, eps):
    """Central differences of the scalar ``loss_at(t)`` at ``t = base``, element by element.

    The step is eps max(1, |t_i|): for an element of order 1 it is eps; for a large element (a
    logit of 1e3) it grows with it, so that round-off, which scales with the size of the terms the
    loss adds up, stays balanced against truncation, which scales with (step / |t_i|)^2.
    ``base`` is our private copy: it is perturbed in place and restored after each element.
    """
    # $\partial L / \partial t \approx (L(t + h) - L(t - h)) / 2h$: the error is $O(h^2)$, one
    # order better than a one-sided difference, for two evaluations of the loss per element.
    grad = np.zeros(base.shape)
    flat = base.reshape(-1)
    for i in range(flat.size):
        saved = flat[i].item()
        step = eps * max(1.0, abs(saved))
        flat[i] = saved + step
        upper = float(loss_at(base))
        flat[i] = saved - step
        lower = float(loss_at(base))
        flat[i] = saved
        grad.reshape(-1)[i] = (upper - lower) / (2 * step)
    return grad


def _report(pairs):
    per_array, worst, max_err = {}, None, -1.0
    for name, (analytic, numeric) in pairs.items():
        err = relative_error(analytic, numeric)
        err = np.where(np.isnan(err), np.inf, err)      # a NaN anywhere is a failure, never a pass
        per_array[name] = float(err.max(initial=0.0))
        if err.size and per_array[name] > max_err:
            max_err = per_array[name]
            worst = (name, tuple(int(i) for i in np.unravel_index(int(err.argmax()), err.shape)))
    return GradCheckReport(max(max_err, 0.0), worst, per_array)


def check_pair(forward, backward, inputs, dy=None, eps=1e-5, seed=0, **hyper):
    """Compare a pure backward with central differences of its forward, for every input it returns.

    The scalar checked is L = sum(forward(*inputs, **hyper)[0] * dy) with a random dy.

    Args:
        forward: ``forward(*inputs, **hyper) -> (y, cache)``.
        backward: ``backward(dy, cache) -> gradients``, in the order of the forward's inputs. It may
            return fewer gradients than there are inputs (the rest are constants, e.g. the power
            iteration's u and v) and None for a skipped one; those are not checked.
        inputs: dict ``name -> float64 array``, in the forward's positional order.
        hyper: keyword arguments of the forward (stride, padding, activation, ...).
    Returns:
        GradCheckReport keyed by the input names.
    """
    names = list(inputs)
    for name in names:
        _require_float64(name, inputs[name])
    values = [inputs[name].copy() for name in names]
    y, cache = forward(*[v.copy() for v in values], **hyper)
    xp = get_array_module(y)
    if dy is None:
        dy = xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))
    grads = backward(dy, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    pairs = {}
    for i, grad in enumerate(grads):
        if grad is None:
            continue

        def loss_at(value, i=i):
            args = [v.copy() for v in values]
            args[i] = value.copy()
            return (forward(*args, **hyper)[0] * dy).sum()
        pairs[names[i]] = (grad, _numeric_gradient(loss_at, values[i].copy(), eps))
    return _report(pairs)


def check_module(module, x, training=False, dy=None, eps=1e-5, seed=0):
    """Compare ``module.backward`` with central differences for the input and every trainable parameter.

    Args:
        module: a float64 Module.
        x: its input (float64).
        training: passed to forward (stateful effects are undone between passes).
        dy: upstream gradient, shape of the output; random normal by default.
    Returns:
        GradCheckReport (max relative error, worst element, per-array maxima).
    """
    _require_float64("x", x)
    for name, p in module.named_parameters():
        _require_float64(name, p.value)
    xp = get_array_module(x)
    x = x.copy()
    state = module.state_dict()
    generators = _generators(module)
    rng_states = [g.bit_generator.state for g in generators]

    def restore():
        module.load_state_dict(state)
        for g, s in zip(generators, rng_states):
            g.bit_generator.state = s

    restore()
    module.zero_grad()
    y = module.forward(x.copy(), training=training)
    if dy is None:
        dy = xp.asarray(np.random.default_rng(seed).standard_normal(y.shape))
    analytic_x = module.backward(dy)
    analytic = {name: p.grad.copy() for name, p in module.named_parameters() if p.trainable}

    params = dict(module.named_parameters())

    def loss_with_input(x_value):
        restore()
        return (module.forward(x_value.copy(), training=training) * dy).sum()

    def loss_with_parameter(name):
        def loss_at(value):
            restore()
            params[name].value[...] = value
            return (module.forward(x.copy(), training=training) * dy).sum()
        return loss_at

    pairs = {"input": (analytic_x, _numeric_gradient(loss_with_input, x.copy(), eps))}
    for name, p in params.items():
        if p.trainable:
            pairs[name] = (analytic[name], _numeric_gradient(loss_with_parameter(name), state[name].copy(), eps))
    restore()
    return _report(pairs)


def check_loss(loss, inputs, targets, eps=1e-5):
    """Compare ``loss.backward()`` with central differences of ``loss.forward(inputs, targets)``.

    inputs: float64 array (e.g. logits (N, K)); targets: whatever the loss takes.
    """
    _require_float64("inputs", inputs)
    inputs = inputs.copy()
    loss.forward(inputs, targets)
    analytic = loss.backward()
    numeric = _numeric_gradient(lambda t: loss.forward(t, targets), inputs, eps)
    return _report({"input": (analytic, numeric)})
