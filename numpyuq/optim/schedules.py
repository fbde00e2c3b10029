"""Schedules for coefficients that change over training."""
import numpy as np


class RelativePiecewise:
    """Piecewise-linear in the *fraction* of training done (labml's ``RelativePiecewise``).

    ``RelativePiecewise([(0, 0), (0.2, 0.01), (1, 1)], total)`` is the EDL seed's KL annealing
    coefficient over ``total`` = epochs x training samples: 0 at the start, 0.01 after 20% of the
    samples, 1 at the end, linear in between and constant past the last point.
    """

    def __init__(self, endpoints, total):
        fractions = [float(f) for f, _ in endpoints]
        if not endpoints or fractions != sorted(fractions):
            raise ValueError(f"endpoints must be (fraction, value) pairs sorted by fraction, got {endpoints}")
        if total <= 0:
            raise ValueError(f"total must be > 0, got {total}")
        self.endpoints = list(endpoints)
        self.total = total
        self._x = np.array(fractions) * total
        self._y = np.array([float(v) for _, v in endpoints])

    def __call__(self, step):
        """Value after ``step`` units (samples or steps) of the ``total``."""
        return float(np.interp(step, self._x, self._y))
