import numpy as np
import pytest

from numpyuq.io import load, save
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
