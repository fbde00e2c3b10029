"""RelativePiecewise: the EDL seed's annealing schedule."""
import math

from numpyuq.optim import RelativePiecewise


def test_relative_piecewise_matches_the_edl_schedule():
    schedule = RelativePiecewise([(0, 0.0), (0.2, 0.01), (1, 1.0)], total=1000)
    assert schedule(0) == 0.0
    assert math.isclose(schedule(100), 0.005)
    assert math.isclose(schedule(200), 0.01)
    assert math.isclose(schedule(600), 0.01 + 0.99 * 0.5)
    assert schedule(1000) == 1.0 and schedule(5000) == 1.0
