"""TrackStatistics: labml's per-epoch accuracy and u of correct and wrong predictions."""
import numpy as np
import pytest

from numpyuq.losses import AnnealedEvidentialLoss
from numpyuq.models import EvidentialClassifier
from numpyuq.optim import Adam
from numpyuq.training import fit
from numpyuq.uncertainty import TrackStatistics, evidential_statistics
from tests.tiny_models import tiny_resnet


def test_statistics_by_hand():
    evidence = np.array([[9.0, 0.0], [0.0, 1.0], [3.0, 0.0]])      # predictions 0, 1, 0
    stats = evidential_statistics(evidence, np.array([0, 1, 1]))
    # u = 2 / S: S = 11, 3, 5.  Correct rows 0 and 1, wrong row 2.
    assert stats["accuracy"] == pytest.approx(2 / 3)
    assert stats["u_correct"] == pytest.approx((2 / 11 + 2 / 3) / 2)
    assert stats["u_wrong"] == pytest.approx(2 / 5)
    assert stats["p_correct"] == pytest.approx((10 / 11 + 2 / 3) / 2)
    assert stats["p_wrong"] == pytest.approx(4 / 5)
    assert np.isnan(evidential_statistics(evidence[:2], np.array([0, 1]))["u_wrong"])


def test_callback_records_every_epoch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 2))
    y = (x[:, 0] > 0).astype(np.int64)
    model = EvidentialClassifier(tiny_resnet(seed=0))
    history = fit(model, AnnealedEvidentialLoss(), Adam(model.parameters()), x, y, epochs=3, batch_size=16,
                  callbacks=[TrackStatistics(x[:20], y[:20], name="val")], seed=0, progress=False)
    for key in ("accuracy", "u_correct", "u_wrong", "p_correct", "p_wrong"):
        assert len(history.metrics[f"val_{key}"]) == 3
    with pytest.raises(ValueError, match=r"y must be 20 integer labels of shape \(20,\)"):
        TrackStatistics(x[:20], y[:19])
