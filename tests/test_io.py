import numpy as np
import pytest

from numpyuq.io import load, save
from numpyuq.models import DeepResNet


def test_save_load_round_trip_is_bit_identical(tmp_path, rng):
    model = DeepResNet(2, num_layers=2, num_hidden=16, seed=0)
    x = rng.standard_normal((10, 2)).astype(np.float32)
    path = tmp_path / "model.npz"
    save(model, path)
    other = DeepResNet(2, num_layers=2, num_hidden=16, seed=99)
    assert not np.array_equal(other(x), model(x))
    load(other, path)
    np.testing.assert_array_equal(other(x), model(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]     # no temporary file left


def test_truncated_file_gives_clear_error_and_leaves_model_unchanged(tmp_path):
    model = DeepResNet(2, num_layers=2, num_hidden=16, seed=0)
    path = tmp_path / "model.npz"
    save(model, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    target = DeepResNet(2, num_layers=2, num_hidden=16, seed=1)
    before = target.state_dict()
    with pytest.raises(ValueError, match="truncated"):
        load(target, path)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_mismatched_file_names_the_differences(tmp_path):
    path = tmp_path / "model.npz"
    save(DeepResNet(2, num_layers=2, num_hidden=16), path)
    target = DeepResNet(2, num_layers=3, num_hidden=8, seed=1)
    before = target.state_dict()
    with pytest.raises(ValueError, match=r"missing \['blocks.2.*shape mismatch"):
        load(target, path)
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
