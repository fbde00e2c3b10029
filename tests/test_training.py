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
    model = tiny_resnet()
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
        model = tiny_resnet(num_layers=2, num_hidden=8, seed=1)
        losses.append(fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=3,
                          batch_size=16, seed=5, progress=False).loss)
    assert losses[0] == losses[1]


def test_fit_rejects_bad_input():
    x, y = small_problem()
    model = tiny_resnet()
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


# ---- a failed call changes nothing (issue: validate before mutating) --------------------------
from numpyuq.callbacks import LearningRateSchedule  # noqa: E402
from numpyuq.models import DeepResNetSNGP  # noqa: E402
from numpyuq.optim import SGD  # noqa: E402
from tests.helpers import state_bytes  # noqa: E402
from tests.tiny_models import tiny_resnet


def test_a_bad_last_label_changes_no_weight():
    """y[-1] = 2 in a 2-class problem used to fail after 14 Adam steps; now before the first."""
    x, y = small_problem()
    y[-1] = 2
    model = tiny_resnet()
    optimizer = Adam(model.parameters())
    before = state_bytes(model, optimizer)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 2\), got values in \[0, 2\]"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=1, batch_size=4, progress=False)
    assert state_bytes(model, optimizer) == before and optimizer.step_count == 0


@pytest.mark.parametrize("labels", ["float", "one-hot"])
def test_bad_labels_leave_the_sngp_state_alone(labels, recwarn):
    """Power-iteration vectors, kernels and the GP precision stay as they were, and later training
    does not warn that data was counted twice."""
    x, y = small_problem()
    bad = y.astype(np.float64) if labels == "float" else np.eye(2)[y]
    model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16)
    optimizer = Adam(model.parameters())
    before = state_bytes(model, optimizer)
    with pytest.raises((TypeError, ValueError), match="y must"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x, bad, epochs=1, progress=False)
    assert state_bytes(model, optimizer) == before
    fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=2, progress=False)
    assert not [w for w in recwarn if "counted twice" in str(w.message)]


def test_empty_or_degenerate_input_is_refused_by_name():
    x, y = small_problem()
    model = tiny_resnet()
    optimizer = Adam(model.parameters())
    with pytest.raises(ValueError, match="x must have at least one row"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x[:0], y[:0], epochs=1, progress=False)
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got float16"):
        DeepResNet(2).astype(np.float16)
    half = DeepResNet(2, dtype=np.float64)
    for p in half.parameters(trainable_only=False):      # made float16 behind our back
        p.value = p.value.astype(np.float16)
    with pytest.raises(TypeError, match="model dtype must be float32 or float64, got float16"):
        fit(half, SoftmaxCrossEntropy(), optimizer, x, y, epochs=1)
    from numpyuq.training import predict_logits
    with pytest.raises(ValueError, match="x must have at least one row"):
        predict_logits(model, x[:0])
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        predict_logits(model, x, batch_size=0)


def test_an_optimizer_of_another_model_or_a_stale_one_is_refused_before_training():
    x, y = small_problem()
    model, other = tiny_resnet(), tiny_resnet(seed=1)
    with pytest.raises(ValueError, match="built on another model"):
        fit(model, SoftmaxCrossEntropy(), Adam(other.parameters()), x, y, epochs=1, progress=False)
    first = Adam(model.parameters())
    second = Adam(model.parameters())           # takes the parameters over
    before = state_bytes(model)
    with pytest.raises(ValueError, match="no longer holds the model's parameters"):
        fit(model, SoftmaxCrossEntropy(), first, x, y, epochs=1, progress=False)
    assert state_bytes(model) == before
    fit(model, SoftmaxCrossEntropy(), second, x, y, epochs=1, progress=False)
    assert state_bytes(model) != before          # the owner trains
    model.astype(np.float64)
    with pytest.raises(ValueError, match="cast or moved"):
        fit(model, SoftmaxCrossEntropy(), second, x, y, epochs=1, progress=False)


class Explode(Callback):
    """Snapshots the state at each epoch start, then blows the learning rate up in epoch 2."""

    def __init__(self):
        self.at_epoch_start = {}

    def on_epoch_begin(self, trainer):
        self.at_epoch_start[trainer.epoch] = state_bytes(trainer.model, trainer.optimizer)
        if trainer.epoch == 2:
            trainer.optimizer.lr = 1e30


def test_a_non_finite_loss_rolls_back_to_the_epoch_start_and_says_so():
    x, y = small_problem()
    model = tiny_resnet()
    optimizer = SGD(model.parameters(), lr=0.1)
    explode = Explode()
    with pytest.raises(FloatingPointError, match="training loss became") as info, np.errstate(all="ignore"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=5, batch_size=8, callbacks=[explode],
            progress=False)
    assert state_bytes(model, optimizer) == explode.at_epoch_start[2]
    assert optimizer.step_count == 16 and optimizer.lr == 0.1
    assert "restored the model, its generators and the optimizer to the start of epoch 2" in "".join(info.value.__notes__)
    assert len(info.value.history.loss) == 2


def test_validation_data_and_a_learning_rate_schedule():
    x, y = small_problem()
    model = tiny_resnet()
    optimizer = Adam(model.parameters())
    history = fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=3, progress=False,
                  validation_data=(x[:16], y[:16]), callbacks=[LearningRateSchedule(lambda e: 1e-2 / (e + 1))])
    assert len(history.val_loss) == len(history.val_accuracy) == 3
    assert history.metrics["lr"] == [1e-2, 5e-3, 1e-2 / 3] and optimizer.lr == pytest.approx(1e-2 / 3)
    from numpyuq.losses.cross_entropy import softmax_cross_entropy_forward
    logits = model(x[:16].astype(np.float32))
    assert history.val_loss[-1] == pytest.approx(float(softmax_cross_entropy_forward(logits, y[:16])[0]), rel=1e-5)
    with pytest.raises(TypeError, match="validation_data must be a pair"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=1, validation_data=x)
    with pytest.raises(ValueError, match=r"validation_data\[1\] must lie in"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=1, validation_data=(x, y + 5))


def test_the_same_call_twice_gives_the_same_model():
    x, y = small_problem()
    states = []
    for _ in range(2):
        model = tiny_resnet()
        fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=2, progress=False)
        states.append(state_bytes(model))
    assert states[0] == states[1]


def test_a_checkpoint_resumes_training_exactly(tmp_path):
    """2 epochs, checkpoint, load into fresh objects, 2 more (initial_epoch=2) == 4 epochs straight."""
    from numpyuq import io
    x, y = small_problem()

    def fresh():
        model = tiny_resnet(num_layers=2, num_hidden=8, dropout_rate=0.0)
        return model, Adam(model.parameters(), lr=1e-2)

    straight, opt = fresh()
    fit(straight, SoftmaxCrossEntropy(), opt, x, y, epochs=4, batch_size=16, seed=7, progress=False)
    first, opt1 = fresh()
    fit(first, SoftmaxCrossEntropy(), opt1, x, y, epochs=2, batch_size=16, seed=7, progress=False)
    io.save_checkpoint(tmp_path / "run.npz", first, opt1, epoch=2)
    resumed, opt2 = fresh()
    start = io.load_checkpoint(tmp_path / "run.npz", resumed, opt2)
    assert start == 2 and opt2.step_count == opt1.step_count
    fit(resumed, SoftmaxCrossEntropy(), opt2, x, y, epochs=4, batch_size=16, seed=7, initial_epoch=start,
        progress=False)
    assert state_bytes(resumed) == state_bytes(straight)


def test_progress_bars_stay_out_of_log_files(tmp_path):
    from tests.helpers import run_python
    code = ("import numpy as np\nfrom numpyuq.models import DeepResNet\nfrom numpyuq.losses import SoftmaxCrossEntropy\n"
            "from numpyuq.optim import Adam\nfrom numpyuq.training import fit\n"
            "x = np.random.default_rng(0).normal(size=(64, 2)); y = (x[:, 0] > 0).astype(int)\n"
            "m = DeepResNet(2, num_layers=1, num_hidden=8)\n"
            "fit(m, SoftmaxCrossEntropy(), Adam(m.parameters()), x, y, epochs=30, progress=True)\n")
    out = run_python(code)          # stderr is a pipe, not a terminal
    assert out.returncode == 0 and out.stderr == "", out.stderr[-2000:]
