"""Flat parameter buffers: parameters stay views of one array."""
import numpy as np

from numpyuq.nn import Parameter
from numpyuq.optim import Adam


def test_flat_buffer_keeps_parameters_as_views():
    a, b = Parameter(np.ones((2, 3))), Parameter(np.zeros(4))
    opt = Adam([a, b], lr=0.1)
    a.grad += 1.0
    b.grad -= 1.0
    opt.step()
    np.testing.assert_allclose(a.value, 0.9, atol=1e-6)
    np.testing.assert_allclose(b.value, 0.1, atol=1e-6)
    assert a.value.base is opt.groups[0].value
    opt.zero_grad()
    assert not a.grad.any() and not b.grad.any()
