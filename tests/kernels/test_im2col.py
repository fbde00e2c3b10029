"""The NCHW im2col / col2im references: a hand case, agreement with the channels-last kernels
(another formulation), and col2im as the adjoint of im2col."""
import numpy as np
import pytest

from numpyuq.kernels import im2col_nhwc
from numpyuq.kernels.im2col import col2im_reference, conv_output_size, im2col_reference

CASES = [((1, 1, 5, 5), 3, 3, 1, 0), ((2, 3, 7, 6), 3, 2, 2, 1), ((3, 2, 8, 9), 5, 5, 1, 2),
         ((1, 4, 6, 11), 2, 3, 2, 0), ((2, 1, 28, 28), 5, 5, 1, 0)]


def test_conv_output_size():
    assert conv_output_size(28, 5, 1, 0) == 24
    assert conv_output_size(7, 3, 2, 1) == 4
    assert conv_output_size(5, 2, 2, 0) == 2


def test_im2col_hand_case():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    cols = im2col_reference(x, 2, 2, 1, 0)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    padded = im2col_reference(x, 2, 2, 2, 1)          # stride 2, pad 1: corners of a 5x5 padded image
    np.testing.assert_array_equal(padded, [[0, 0, 0, 0], [0, 0, 1, 2], [0, 3, 0, 6], [4, 5, 7, 8]])


@pytest.mark.parametrize("shape, kh, kw, s, p", CASES)
def test_nchw_reference_equals_the_channels_last_kernel(shape, kh, kw, s, p, rng):
    """Same patches, columns in (c, kh, kw) order here and (kh, kw, c) there."""
    x = rng.standard_normal(shape)
    N, C, H, W = shape
    nhwc = im2col_nhwc.im2col_nhwc(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), kh, kw, s, p)
    reordered = nhwc.reshape(-1, kh, kw, C).transpose(0, 3, 1, 2).reshape(nhwc.shape[0], -1)
    np.testing.assert_array_equal(im2col_reference(x, kh, kw, s, p), reordered)


@pytest.mark.parametrize("shape, kh, kw, s, p", CASES)
def test_col2im_reference_is_the_adjoint(shape, kh, kw, s, p, rng):
    x = rng.standard_normal(shape)
    cols = im2col_reference(x, kh, kw, s, p)
    c = rng.standard_normal(cols.shape)
    # <im2col(x), c> == <x, col2im(c)>: col2im is the transpose of the gather.
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, col2im_reference(c, shape, kh, kw, s, p)),
                               rtol=1e-12)
