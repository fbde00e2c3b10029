import numpy as np
import pytest

from numpyuq.callbacks import Callback, LearningRateSchedule
from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.optim import SGD, Adam
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


# ---- Keras habits --------------------------------------------------------------------------------
def small_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 2)), rng.integers(0, 2, 40)


def test_a_callback_written_the_keras_way_gets_epochs_batches_and_logs():
    from numpyuq.callbacks import Callback as Base
    seen = []

    class KerasStyle(Base):
        def on_train_begin(self, logs=None):
            seen.append(("train_begin", logs))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch_end", epoch, sorted(logs)))

        def on_batch_end(self, batch, logs=None):
            seen.append(("batch_end", batch))

    x, y = small_data()
    model = tiny_resnet()
    cb = KerasStyle()
    fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=2, batch_size=20, callbacks=[cb],
        progress=False)
    assert seen[0] == ("train_begin", {}) and cb.model is model
    assert [s for s in seen if s[0] == "epoch_end"] == [("epoch_end", 0, ["accuracy", "loss"]),
                                                        ("epoch_end", 1, ["accuracy", "loss"])]
    assert [s[1] for s in seen if s[0] == "batch_end"] == [0, 1, 2, 3]


def test_a_callback_stops_training_as_keras_does():
    from numpyuq.callbacks import Callback as Base

    class StopAtOne(Base):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    x, y = small_data()
    model = tiny_resnet()
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=10, callbacks=[StopAtOne()],
                  progress=False)
    assert len(history.loss) == 2 and history.history["loss"] == history.loss


def test_early_stopping_restores_the_best_weights():
    from numpyuq.callbacks import EarlyStopping
    x, y = small_data()
    model = tiny_resnet()
    stop = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    # lr 1.0 makes the validation loss worsen quickly after its first epochs
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=0.5), x, y, epochs=30,
                  validation_data=(x[:10], y[:10]), callbacks=[stop], progress=False)
    assert stop.stopped_epoch is not None and len(history.val_loss) == stop.stopped_epoch + 1 < 30
    assert stop.best == min(history.val_loss)
    from numpyuq.training import evaluate_loss
    assert evaluate_loss(model, SoftmaxCrossEntropy(), model.as_input(x[:10]), y[:10], 10)["val_loss"] == \
        pytest.approx(stop.best, rel=1e-6)
    with pytest.raises(ValueError, match="monitor 'val_loss' is not among the epoch's logs"):
        fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=2, callbacks=[EarlyStopping()],
            progress=False)


def test_model_checkpoint_writes_a_checkpoint_each_epoch_that_resumes(tmp_path):
    from numpyuq.callbacks import ModelCheckpoint
    from numpyuq.io import load_checkpoint
    x, y = small_data()
    model = tiny_resnet()
    checkpoint = ModelCheckpoint(tmp_path / "run-{epoch}.npz")
    fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=3, callbacks=[checkpoint],
        progress=False)
    assert [p.split("/")[-1] for p in checkpoint.saved] == ["run-1.npz", "run-2.npz", "run-3.npz"]
    fresh = tiny_resnet(seed=5)
    assert load_checkpoint(fresh, checkpoint.saved[-1], Adam(fresh.parameters())) == 3
    np.testing.assert_array_equal(fresh.predict_proba(x), model.predict_proba(x))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ModelCheckpoint(tmp_path / "no" / "such" / "run.npz")


def test_common_mistakes_get_messages_that_say_what_to_do():
    from numpyuq.callbacks import EarlyStopping
    from numpyuq.models import LeNet
    from numpyuq.training import predict_logits
    from numpyuq.uncertainty import DeepEnsemble
    x, y = small_data()
    model = tiny_resnet()
    opt = Adam(model.parameters())
    for kwargs, message in ((dict(loss=SoftmaxCrossEntropy), r"loss is the class SoftmaxCrossEntropy: pass an "
                                                            r"instance, SoftmaxCrossEntropy\(\)"),
                            (dict(loss="mse"), "got the string 'mse'"),
                            (dict(callbacks=[EarlyStopping]), r"callbacks\[0\] is the class EarlyStopping"),
                            (dict(callbacks=[print]), r"callbacks\[0\] must be a Callback"),
                            (dict(optimizer=Adam), r"optimizer is the class Adam")):
        arguments = {**dict(loss=SoftmaxCrossEntropy(), optimizer=opt, callbacks=[]), **kwargs}
        with pytest.raises(TypeError, match=message):
            fit(model, arguments["loss"], arguments["optimizer"], x, y, epochs=1, callbacks=arguments["callbacks"],
                progress=False)
    with pytest.raises(TypeError, match="are the arguments swapped"):
        predict_logits(x, model)
    with pytest.raises(TypeError, match=r"model is the class LeNet: build one first"):
        fit(LeNet, SoftmaxCrossEntropy(), opt, x, y, epochs=1)
    with pytest.raises(TypeError, match=r"make_member must be a function of the seed.*the class LeNet"):
        DeepEnsemble(LeNet)
    with pytest.raises(RuntimeError, match="Dense.backward needs a forward pass first"):
        from numpyuq.nn import Dense
        Dense(2, 3).backward(np.ones((1, 3), np.float32))
