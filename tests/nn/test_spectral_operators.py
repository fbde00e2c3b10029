"""The two linear maps of spectral normalisation: adjoint identities and the weight gradient."""
import numpy as np
import pytest

from numpyuq.nn import Conv2D
from numpyuq.nn.spectral_operators import ConvOperator, MatrixView


def operators(rng):
    conv = Conv2D(2, 3, 3, stride=2, padding=1, data_format="NHWC", seed=0, dtype=np.float64)
    forward, backward = conv.pair()
    return [(MatrixView(), rng.standard_normal((4, 3, 2))),
            (ConvOperator(forward, backward, (6, 5, 2)), conv.w.value)]


@pytest.mark.parametrize("index", [0, 1], ids=["matrix", "operator"])
def test_adjoint_and_weight_gradient(rng, index):
    operator, w = operators(rng)[index]
    u_shape, v_shape = operator.vector_shapes(w)
    u, v = rng.standard_normal(u_shape), rng.standard_normal(v_shape)
    au, cache = operator.apply(w, u)
    assert au.shape == v.shape
    # <A u, v> = <u, A^T v>: the adjoint is the transpose of the map
    np.testing.assert_allclose((au * v).sum(), (u * operator.adjoint(v, cache)).sum(), rtol=1e-12)
    # v^T A(W) u is linear in W, so its gradient is exact under any step
    direction = rng.standard_normal(w.shape)
    shifted, _ = operator.apply(w + direction, u)
    np.testing.assert_allclose((shifted * v).sum() - (au * v).sum(),
                               (operator.weight_grad(v, cache) * direction).sum(), rtol=1e-10)
