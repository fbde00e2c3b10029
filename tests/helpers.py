"""Assertions and small drivers shared by the tests."""
import numpy as np

GRAD_TOL = 1e-6


def assert_grad_ok(report, tol=GRAD_TOL):
    """The gradient check's largest relative error is below ``tol`` (1e-6, the project's bar)."""
    assert report.max_rel_error < tol, report


def run_two_steps(optimizer_factory, w0, grads, dtype=np.float64):
    """A one-parameter model from w0, the optimizer built on it, and one step per gradient in grads."""
    from numpyuq.nn import Parameter
    p = Parameter(np.array(w0, dtype))
    opt = optimizer_factory([p])
    for g in grads:
        opt.zero_grad()
        p.grad += np.array(g, dtype)
        opt.step()
    return p.value
