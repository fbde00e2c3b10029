"""MaxPool2D: gradient checks and outputs against a direct loop."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import MaxPool2D
from numpyuq.nn.pooling import maxpool2d_backward, maxpool2d_forward
from tests.helpers import assert_grad_ok


def distinct_values(rng, shape):
    """A random permutation of well-separated values: no ties inside any pooling window."""
    return rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) * 0.1


@pytest.mark.parametrize("shape, size, stride", [((2, 3, 6, 6), 2, 2), ((1, 2, 7, 5), 2, 2), ((2, 1, 7, 7), 3, 2)])
def test_maxpool_gradients(rng, shape, size, stride):
    assert_grad_ok(check_module(MaxPool2D(size, stride), distinct_values(rng, shape)))


def test_maxpool_nhwc_gradients_and_agreement(rng):
    x = distinct_values(rng, (2, 6, 7, 3))
    assert_grad_ok(check_module(MaxPool2D(2, 2, data_format="NHWC"), x))
    np.testing.assert_array_equal(MaxPool2D(2, 2, data_format="NHWC")(x),
                                  MaxPool2D(2, 2)(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1))


def test_maxpool_matches_direct_loop(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    y = MaxPool2D(2, 2)(x)
    assert y.shape == (2, 3, 3, 3)
    for idx in np.ndindex(*y.shape):
        n, c, i, j = idx
        assert y[idx] == x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max()


@pytest.mark.parametrize("data_format, shape", [("NCHW", (2, 3, 7, 6)), ("NHWC", (2, 7, 6, 3))])
def test_pure_pair(rng, data_format, shape):
    report = check_pair(maxpool2d_forward, maxpool2d_backward, {"x": distinct_values(rng, shape)},
                        size=2, stride=2, data_format=data_format)
    assert_grad_ok(report)


def test_a_window_larger_than_the_image_is_refused():
    """MaxPool2D(4) on a 2 x 2 image used to return an empty array."""
    import numpy as np
    import pytest
    from numpyuq.nn import MaxPool2D
    for fmt, shape in (("NCHW", (1, 1, 2, 2)), ("NHWC", (1, 2, 2, 1))):
        with pytest.raises(ValueError, match=r"spatial size \(2, 2\), smaller than the 4 x 4 window"):
            MaxPool2D(4, data_format=fmt)(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        MaxPool2D(0)
