"""The hashed dropout-mask kernel against its plain NumPy reference, and the mask's statistics."""
import numpy as np
import pytest

from numpyuq.kernels.dropout_mask import keep_mask, keep_mask_reference, rate_threshold


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (128, 128), (7, 300)])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
def test_keep_mask_numba_equals_reference(monkeypatch, shape, rate):
    from numpyuq.kernels import dropout_mask as mod
    from tests.helpers import compiled_twins_run
    calls = compiled_twins_run(monkeypatch, mod, "_keep_mask_numba")
    like = np.zeros(shape, np.float32)
    fast = keep_mask(2024, shape, rate, like)
    slow = keep_mask_reference(2024, like.size, rate_threshold(rate)).reshape(shape)
    np.testing.assert_array_equal(fast, slow)
    assert fast.dtype == np.float32
    scale = 1 / (1 - rate)
    scaled = keep_mask(2024, shape, rate, like, value=scale)
    np.testing.assert_array_equal(scaled, keep_mask_reference(2024, like.size, rate_threshold(rate),
                                                              value=scale).reshape(shape))
    np.testing.assert_array_equal(scaled, fast * np.float32(scale))
    assert calls["_keep_mask_numba"] == 2


def test_keep_mask_statistics_and_keys():
    like = np.zeros((200, 500))
    mask = keep_mask(7, like.shape, 0.3, like)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert abs(mask.mean() - 0.7) < 0.005          # 100,000 draws: 5 standard errors is 0.007
    assert not np.array_equal(mask, keep_mask(8, like.shape, 0.3, like))
    assert keep_mask(7, like.shape, 0.0, like).all()


@pytest.mark.parametrize("use_reference", [False, True])
def test_keep_mask_rows_drawn_apart_equal_the_whole_mask(use_reference, monkeypatch):
    """Rows r0 .. r1 drawn alone with first = r0 * D are those rows of the whole mask, on both paths:
    what lets a training step split its batch over threads and keep the masks it would have drawn."""
    if use_reference:
        monkeypatch.setattr("numpyuq.kernels.dropout_mask.use_numba", lambda like: False)
    like = np.zeros((10, 7), np.float32)
    whole = keep_mask(99, (10, 7), 0.5, like, value=2.0)
    parts = [keep_mask(99, (stop - start, 7), 0.5, like, value=2.0, first=start * 7)
             for start, stop in ((0, 3), (3, 4), (4, 10))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert not np.array_equal(parts[0], whole[1:4])           # the offset matters
