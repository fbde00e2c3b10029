import numpy as np
import pytest

from numpyuq.callbacks import Callback, LearningRateSchedule
from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.optim import SGD
from numpyuq.training import fit
from tests.tiny_models import tiny_resnet


def test_the_base_callback_does_nothing_and_the_schedule_checks_its_values():
    x = np.random.default_rng(0).normal(size=(16, 2))
    y = (x[:, 0] > 0).astype(int)
    model = tiny_resnet(num_layers=1, num_hidden=4)
    optimizer = SGD(model.parameters(), lr=0.1)
    history = fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=2, progress=False,
                  callbacks=[Callback(), LearningRateSchedule(lambda epoch: 0.1 * 0.5 ** epoch)])
    assert history.metrics["lr"] == [0.1, 0.05]
    with pytest.raises(TypeError, match="schedule must be a function"):
        LearningRateSchedule(0.1)
    with pytest.raises(ValueError, match=r"schedule\(0\) must be a learning rate > 0, got -1.0"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=1, progress=False,
            callbacks=[LearningRateSchedule(lambda epoch: -1.0)])
