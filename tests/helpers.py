"""Assertions shared by the tests."""
GRAD_TOL = 1e-6


def assert_grad_ok(report, tol=GRAD_TOL):
    """The gradient check's largest relative error is below ``tol`` (1e-6, the project's bar)."""
    assert report.max_rel_error < tol, report
