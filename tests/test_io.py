import numpy as np
import pytest

from numpyuq.callbacks import Callback
from numpyuq.io import load, save
from tests.helpers import state_bytes
from tests.tiny_models import tiny_resnet


def test_save_load_round_trip_is_bit_identical(tmp_path, rng):
    model = tiny_resnet(num_layers=2, num_hidden=16, seed=0)
    x = rng.standard_normal((10, 2)).astype(np.float32)
    path = tmp_path / "model.npz"
    save(model, path)
    other = tiny_resnet(num_layers=2, num_hidden=16, seed=99)
    assert not np.array_equal(other(x), model(x))
    load(other, path)
    np.testing.assert_array_equal(other(x), model(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]     # no temporary file left


def test_truncated_file_gives_clear_error_and_leaves_model_unchanged(tmp_path):
    model = tiny_resnet(num_layers=2, num_hidden=16, seed=0)
    path = tmp_path / "model.npz"
    save(model, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    target = tiny_resnet(num_layers=2, num_hidden=16, seed=1)
    before = target.state_dict()
    with pytest.raises(ValueError, match="truncated"):
        load(target, path)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_mismatched_file_names_the_differences(tmp_path):
    path = tmp_path / "model.npz"
    save(tiny_resnet(num_layers=2, num_hidden=16), path)
    target = tiny_resnet(num_layers=3, num_hidden=8, seed=1)
    before = target.state_dict()
    with pytest.raises(ValueError, match=r"missing \['blocks.2.*shape mismatch"):
        load(target, path)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_npy_file_a_missing_folder_and_a_truncated_file_get_clear_errors(tmp_path):
    import gc
    import warnings
    model = tiny_resnet()
    np.save(tmp_path / "weights.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"cannot read model file '.*weights.npy'"):
        load(model, tmp_path / "weights.npy")
    missing = tmp_path / "no" / "such" / "model.npz"
    with pytest.raises(FileNotFoundError, match=f"cannot save to '{missing}'"):
        save(model, missing)
    save(model, tmp_path / "model.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "model.npz").read_bytes()[:300])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)      # an unclosed file would warn here
        with pytest.raises(ValueError, match="truncated"):
            load(model, tmp_path / "cut.npz")
        gc.collect()


def test_a_checkpoint_holds_model_optimizer_and_epoch_and_loads_all_or_nothing(tmp_path):
    from numpyuq.io import load_checkpoint, save_checkpoint
    from numpyuq.optim import SGD, Adam
    from tests.helpers import state_bytes
    model = tiny_resnet()
    optimizer = Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        for p in model.parameters():
            p.grad[...] = 1.0
        optimizer.step()
    save_checkpoint(tmp_path / "ckpt.npz", model, optimizer, epoch=3)
    target = tiny_resnet(seed=5)
    target_optimizer = Adam(target.parameters())
    assert load_checkpoint(tmp_path / "ckpt.npz", target, target_optimizer) == 3
    assert state_bytes(target, target_optimizer) == state_bytes(model, optimizer)
    # an SGD cannot take Adam's moments: neither the model nor the optimizer changes
    fresh = tiny_resnet(seed=6)
    sgd = SGD(fresh.parameters(), momentum=0.9)
    before = state_bytes(fresh, sgd)
    with pytest.raises(ValueError, match="does not match the optimizer"):
        load_checkpoint(tmp_path / "ckpt.npz", fresh, sgd)
    assert state_bytes(fresh, sgd) == before
    save(model, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load_checkpoint(tmp_path / "plain.npz", fresh, sgd)
    assert load(tiny_resnet(), tmp_path / "ckpt.npz") is not None   # model part


def test_the_gp_guard_survives_save_and_load(tmp_path):
    """num_training_samples and the accumulated count are buffers: after a round trip, adding the
    data again still warns that it is counted twice."""
    from numpyuq.losses import SoftmaxCrossEntropy
    from numpyuq.models import DeepResNetSNGP
    from numpyuq.optim import Adam
    from numpyuq.training import fit
    from numpyuq.uncertainty import refit_covariance
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16)
    fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=2, progress=False)
    save(model, tmp_path / "sngp.npz")
    loaded = load(DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16, seed=3), tmp_path / "sngp.npz")
    assert int(loaded.classifier.num_training_samples) == 40
    with pytest.warns(RuntimeWarning, match="counted twice"):
        refit_covariance(loaded, x, reset=False)


def test_an_ensemble_saves_and_loads(tmp_path):
    from numpyuq.uncertainty import DeepEnsemble
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)

    def member(seed):
        return tiny_resnet(seed=seed)

    ensemble = DeepEnsemble(member, size=3).fit(x, y, epochs=2, progress=False)
    save(ensemble, tmp_path / "ensemble.npz")
    loaded = load(DeepEnsemble(member, size=3, seed=10), tmp_path / "ensemble.npz")
    np.testing.assert_array_equal(loaded.predict(x), ensemble.predict(x))
    with pytest.raises(ValueError, match="2-member ensemble"):
        load(DeepEnsemble(member, size=2), tmp_path / "ensemble.npz")


# ---- resuming is resuming ----------------------------------------------------------------------
def resume_cases():
    from numpyuq.callbacks import LearningRateSchedule
    from numpyuq.losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy
    from numpyuq.models import DeepResNetSNGP, EvidentialClassifier, LeNet, LeNetSNGP
    from numpyuq.optim import Adam
    lenet = dict(channels=(2, 3), num_hidden=8, dtype=np.float64)
    cases = {
        "LeNet": (lambda: LeNet(**lenet), SoftmaxCrossEntropy, "images", (1, 2), []),
        "LeNet + lr schedule": (lambda: LeNet(**lenet), SoftmaxCrossEntropy, "images", (1,),
                                [LearningRateSchedule(lambda epoch: 1e-3 * 0.5 ** epoch)]),
        "EDL LeNet, labml schedule": (lambda: EvidentialClassifier(LeNet(**lenet)),
                                      lambda: AnnealedEvidentialLoss("mse", schedule="labml"), "images", (1, 2), []),
        "EDL ResNet, paper schedule": (lambda: EvidentialClassifier(tiny_resnet(dropout_rate=0.3, dtype=np.float64)),
                                       lambda: AnnealedEvidentialLoss("digamma", schedule="paper", annealing_epochs=3),
                                       "points", (1, 2), []),
        "DeepResNet": (lambda: tiny_resnet(num_layers=2, dropout_rate=0.3, dtype=np.float64), SoftmaxCrossEntropy,
                       "points", (1, 2), []),
        "DeepResNetSNGP": (lambda: DeepResNetSNGP(2, num_layers=2, num_hidden=8, num_inducing=16, dropout_rate=0.3,
                                                  dtype=np.float64), SoftmaxCrossEntropy, "points", (1,), []),
        "LeNetSNGP": (lambda: LeNetSNGP(num_inducing=16, **lenet), SoftmaxCrossEntropy, "images", (1,), []),
    }
    return cases, Adam


RESUME_CASES, _ = resume_cases()


class StopAfterTwoEpochs(Callback):
    """Ends a run after its second epoch, as an interrupted run would end."""

    def on_epoch_end(self, trainer, logs):
        trainer.stop_training = trainer.epoch == 1


@pytest.mark.parametrize("name", sorted(RESUME_CASES))
def test_a_resumed_run_gives_the_weights_of_an_uninterrupted_one(tmp_path, name):
    """4 epochs straight, and the same run stopped after 2 epochs + checkpoint + a fresh model
    loaded from it + the last 2 epochs, give the same weights and optimizer bit for bit: the
    checkpoint holds weights, optimizer, every dropout generator and the epoch, and fit replays the
    data order and the loss schedule's position. With threads where the model allows them (not
    with spectral normalisation or a GP layer)."""
    from numpyuq.io import load_checkpoint, save_checkpoint
    from numpyuq.training import fit
    make, make_loss, kind, thread_counts, callbacks = RESUME_CASES[name]
    _, Adam = resume_cases()
    rng = np.random.default_rng(0)
    if kind == "images":
        x, y = rng.random((40, 1, 28, 28)), rng.integers(0, 10, 40)
    else:
        x, y = rng.standard_normal((60, 2)), rng.integers(0, 2, 60)
    run = dict(epochs=4, batch_size=16, seed=3, progress=False)
    for threads in thread_counts:
        straight = make()
        straight_opt = Adam(straight.parameters(), lr=1e-3, weight_decay=1e-3)
        fit(straight, make_loss(), straight_opt, x, y, threads=threads, callbacks=list(callbacks), **run)
        first = make()
        first_opt = Adam(first.parameters(), lr=1e-3, weight_decay=1e-3)
        history = fit(first, make_loss(), first_opt, x, y, threads=threads,
                      callbacks=list(callbacks) + [StopAfterTwoEpochs()], **run)
        assert len(history.loss) == 2
        save_checkpoint(first, tmp_path / "run.npz", first_opt, epoch=2)
        resumed = make()
        resumed_opt = Adam(resumed.parameters(), lr=1e-3, weight_decay=1e-3)
        for _, generator in resumed.named_generators():
            generator.random(7)                 # a fresh model's generators are elsewhere: the file must say
        epoch = load_checkpoint(resumed, tmp_path / "run.npz", resumed_opt)
        fit(resumed, make_loss(), resumed_opt, x, y, threads=threads, callbacks=list(callbacks),
            initial_epoch=epoch, **run)
        assert state_bytes(resumed, resumed_opt) == state_bytes(straight, straight_opt), (name, threads)


def test_a_file_that_fails_to_load_changes_nothing(tmp_path):
    """A last entry of the right shape that cannot be converted (strings, an object array), NaN
    weights, a negative or fractional epoch: refused before anything is assigned."""
    from numpyuq.io import load_checkpoint, save_checkpoint
    from numpyuq.optim import Adam
    model = tiny_resnet(num_layers=2, dropout_rate=0.2)
    opt = Adam(model.parameters())
    save_checkpoint(model, tmp_path / "good.npz", opt, epoch=3)
    good = dict(np.load(tmp_path / "good.npz"))
    last = sorted(k for k in good if not k.startswith(("optimizer/", "generators/", "checkpoint/")))[-1]
    target = tiny_resnet(num_layers=2, dropout_rate=0.2, seed=9)
    target_opt = Adam(target.parameters())
    before = state_bytes(target, target_opt), target.generator_states()
    bad_files = {
        "strings": {**good, last: np.full(good[last].shape, "x")},
        "NaN weights": {**good, last: np.full(good[last].shape, np.nan, good[last].dtype)},
        "negative epoch": {**good, "checkpoint/epoch": np.array(-1)},
        "fractional epoch": {**good, "checkpoint/epoch": np.array(2.5)},
        "broken generator": {**good, **{k: np.array("{}") for k in good if k.startswith("generators/")}},
    }
    for case, entries in bad_files.items():
        np.savez(tmp_path / "bad.npz", **entries)
        with pytest.raises(ValueError):
            load_checkpoint(target, tmp_path / "bad.npz", target_opt)
        assert (state_bytes(target, target_opt), target.generator_states()) == before, case
    np.savez(tmp_path / "object.npz", **{**good, last: np.array([object()] * good[last].size, dtype=object)})
    with pytest.raises(ValueError):                 # an object array is refused as the file is read
        load(target, tmp_path / "object.npz")
    assert (state_bytes(target, target_opt), target.generator_states()) == before


def test_saved_files_get_the_users_permissions_and_either_argument_order(tmp_path):
    import os
    import stat
    from numpyuq.io import load_checkpoint, save_checkpoint
    from numpyuq.optim import Adam
    model = tiny_resnet()
    opt = Adam(model.parameters())
    umask = os.umask(0o022)
    try:
        save(model, tmp_path / "model.npz")
        save_checkpoint(tmp_path / "old-order.npz", model, opt, 1)       # the older order still works
    finally:
        os.umask(umask)
    for name in ("model.npz", "old-order.npz"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644, name
    assert load_checkpoint(tmp_path / "old-order.npz", model, opt) == 1             # loading too
    with pytest.raises(TypeError, match="takes a model and a file path"):
        save(model, model)
