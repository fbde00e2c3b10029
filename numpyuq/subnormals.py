"""Find subnormal floats: values below the dtype's smallest normal (1.2e-38 in float32), which Intel
cores run arithmetic on many times slower than on normal floats (AMD's much less so).

Where they come from in training: a quantity that decays geometrically towards zero instead of
being set to it. Adam's moments of a parameter whose gradient is zero (a dead ReLU unit) decay by
beta1 and beta2 every step (``kernels/adam.py`` flushes them), SGD's momentum buffer by its momentum
(``optim/sgd.py`` flushes it with ``flush_subnormals``); anything else that decays the same way
shows up in the probes below, which ``benchmarks/subnormals.py`` runs on the seeds' models.

    report = state_subnormals(model, optimizer)          # {name: (subnormal count, size)}
    report = activation_subnormals(model, x)             # every module's output on one pass
"""
import warnings

import numpy as np

from .backend import get_array_module


def subnormal_count(array):
    """The number of subnormal entries of a floating array (0 for any other dtype)."""
    dtype = getattr(array, "dtype", None)
    if dtype is None or dtype.kind != "f":
        return 0
    xp = get_array_module(array)
    magnitude = xp.abs(array)
    return int(((magnitude > 0) & (magnitude < np.finfo(dtype).tiny)).sum())


def flush_subnormals(array):
    """Set the subnormal entries of a floating array to zero, in place; returns the array.

    What an optimizer's decaying state needs (Adam's moments, SGD's momentum buffer): a value below
    the dtype's smallest normal moves no parameter of ordinary size, and zero costs nothing on any core.
    """
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        raise TypeError(f"flush_subnormals needs an array to change in place, got array of type {type(array).__name__}")
    if dtype.kind != "f":
        return array                                # integers and booleans have no subnormals
    xp = get_array_module(array)
    array[xp.abs(array) < xp.finfo(dtype).tiny] = 0
    return array


def state_subnormals(model, optimizer=None):
    """{name: (subnormal count, size)} for every parameter value and gradient, buffer (GP
    precision, spectral-norm vectors) and optimizer state entry (Adam's moments)."""
    report = {}
    for name, p in model.named_parameters():
        report[name] = (subnormal_count(p.value), int(p.value.size))
        report[name + ".grad"] = (subnormal_count(p.grad), int(p.grad.size))
    for name, buffer in model.named_buffers():
        report[name] = (subnormal_count(buffer), int(buffer.size))
    if optimizer is not None:
        for name, value in optimizer.state_dict().items():
            report["optimizer/" + name] = (subnormal_count(value), int(np.size(value)))
    return report


def activation_subnormals(model, x, training=True):
    """{module path: (subnormal count, size)} of every module's output on one forward pass of x
    (a training pass by default, as in fit). The model is left as it was: its state (a training
    pass folds features into a GP precision) and its generators are put back."""
    report, modules, seen = {}, [], set()
    stack = [("model", model)]
    while stack:                                   # each module once, named by its first path
        path, module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        modules.append((path, module))
        stack.extend((f"{path}.{name}", child) for name, child in module.named_children())

    def probed(path, forward):
        def forward_and_count(x, training=False):
            y = forward(x, training=training)
            count, size = report.get(path, (0, 0))
            report[path] = (count + subnormal_count(y), size + int(getattr(y, "size", 0)))
            return y
        return forward_and_count

    state, generators = model.state_dict(), model.generator_states()
    try:
        for path, module in modules:
            module.forward = probed(path, module.forward)          # an instance attribute, removed below
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)           # the GP's counted-twice warning
            model(x, training=training)
    finally:
        for _, module in modules:
            vars(module).pop("forward", None)
        model.load_state_dict(state)
        model.load_generator_states(generators)
    return report


def summarize(report):
    """(subnormal entries, all entries, the names that hold any) of a report."""
    holding = sorted(name for name, (count, _) in report.items() if count)
    return sum(c for c, _ in report.values()), sum(s for _, s in report.values()), holding
