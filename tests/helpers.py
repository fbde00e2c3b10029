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


def run_python(code, env=None, timeout=300):
    """Run ``python -c code`` in a fresh interpreter (process-wide state starts clean) and return
    its CompletedProcess (text stdout and stderr)."""
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **(env or {})),
                          capture_output=True, text=True, timeout=timeout)


def state_bytes(*objects):
    """Every state_dict entry of every object (models, optimizers) as (dtype, shape, bytes): equal
    exactly when the states are bit-identical."""
    out = []
    for obj in objects:
        out.append({k: (np.asarray(v).dtype.str, np.shape(v), np.asarray(v).tobytes())
                    for k, v in obj.state_dict().items()})
    return out


def compiled_twins_run(monkeypatch, module, *names):
    """Make the numba twins ``names`` of kernel ``module`` count their calls; returns the counts
    ({name: calls}) for the test to assert on after calling the dispatcher. Under
    ``NUMPYUQ_KERNELS=reference`` the dispatcher runs no compiled code by design, so the test is
    skipped there (it would compare the reference with itself)."""
    import pytest
    from numpyuq.kernels import dispatch
    if dispatch.KERNELS == "reference":
        pytest.skip("NUMPYUQ_KERNELS=reference: the dispatcher runs no compiled code to test")
    calls = dict.fromkeys(names, 0)
    for name in names:
        twin = getattr(module, name)
        assert hasattr(twin, "signatures"), f"{name} is not a numba twin (NUMBA_DISABLE_JIT?)"

        def counted(*args, _twin=twin, _name=name):
            calls[_name] += 1
            return _twin(*args)
        monkeypatch.setattr(module, name, counted)
    return calls
