import numpy as np
import pytest

from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.models import DeepResNet
from numpyuq.optim import Adam
from numpyuq.training import Callback, fit


def small_problem(n=64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2))
    return x, (x[:, 0] > 0).astype(np.int64)


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_epoch_begin(self, trainer):
        self.events.append(("begin", trainer.epoch))

    def on_batch_end(self, trainer, logs):
        self.events.append(("batch", trainer.step))

    def on_epoch_end(self, trainer, logs):
        self.events.append(("end", trainer.epoch, round(logs["loss"], 6)))


def test_fit_calls_hooks_in_order_and_records_history():
    x, y = small_problem(50)
    model = DeepResNet(2, num_layers=1, num_hidden=8)
    recorder = Recorder()
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-2), x, y, epochs=2,
                  batch_size=20, callbacks=[recorder], progress=False)
    kinds = [e[0] for e in recorder.events]
    assert kinds == ["begin", "batch", "batch", "batch", "end"] * 2
    assert len(history.loss) == len(history.accuracy) == 2
    assert recorder.events[4][2] == round(history.loss[0], 6)


def test_fit_is_reproducible_with_a_seed():
    x, y = small_problem()
    losses = []
    for _ in range(2):
        model = DeepResNet(2, num_layers=2, num_hidden=8, seed=1)
        losses.append(fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=3,
                          batch_size=16, seed=5, progress=False).loss)
    assert losses[0] == losses[1]


def test_fit_rejects_bad_input():
    x, y = small_problem()
    model = DeepResNet(2, num_layers=1, num_hidden=8)
    args = (model, SoftmaxCrossEntropy(), Adam(model.parameters()))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"x must be finite, got 1 NaN"):
        fit(*args, bad, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"y must have one entry per row of x \(64\)"):
        fit(*args, x, y[:10], epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 2\)"):
        fit(*args, x, y + 1, epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        fit(*args, x, y, epochs=0, progress=False)
    with pytest.raises(ValueError, match=r"DeepResNet input x must have 2 features"):
        fit(*args, np.zeros((64, 3)), y, epochs=1, progress=False)


def test_fit_adds_the_gp_penalty_to_the_loss_and_gradient():
    from numpyuq.models import DeepResNetSNGP
    x, y = small_problem(32)
    histories = []
    for l2 in (0.0, 10.0):
        model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16, seed=0,
                               gp_kwargs={"l2_regularization": l2})
        beta0 = model.classifier.output_weights.value.copy()
        histories.append(fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-2), x, y,
                             epochs=3, batch_size=32, progress=False))
        shrink = np.abs(model.classifier.output_weights.value).sum() / np.abs(beta0).sum()
        if l2:
            assert shrink < 0.99             # the penalty's gradient pulls the output weights in
    assert histories[1].loss[0] > histories[0].loss[0] + 1.0      # and its value is in the loss
