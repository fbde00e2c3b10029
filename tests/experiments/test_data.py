"""The experiments' data sets and their OOD sets: one module says which goes with which."""
import numpy as np
import pytest

from numpyuq.experiments.data import DATASETS, load_dataset


def test_moons_has_the_seed_blob_two_more_ood_regions_and_a_grid():
    data = load_dataset("moons", seed=3, fast=True)
    assert data.num_classes == 2 and list(data.ood) == ["blob", "near", "ring"] and data.grid.shape == (40 * 40, 2)
    train = data.x_train

    def distance_to_data(points):
        return np.sqrt(((points[:, None, :] - train[None]) ** 2).sum(-1)).min(axis=1)
    # the near blob is nearer the data than the seed's, the ring far from it in every direction
    assert np.median(distance_to_data(data.ood["near"])) < np.median(distance_to_data(data.ood["blob"]))
    assert distance_to_data(data.ood["ring"]).min() > 2.0            # the data reach ~1.7 from the middle
    angles = np.arctan2(*(data.ood["ring"] - [0.5, 0.25]).T[::-1])
    assert np.histogram(angles, bins=8, range=(-np.pi, np.pi))[0].min() > 30
    assert not np.array_equal(data.x_train, load_dataset("moons", seed=4, fast=True).x_train)   # fresh per seed


def test_digits28_in_full_and_with_held_out_classes():
    full = load_dataset("digits28")
    assert full.num_classes == 10 and set(np.unique(full.y_train)) == set(range(10))
    assert set(full.ood) <= {"Fashion-MNIST"}                       # when Debian's package is installed
    held = load_dataset("digits28", held_out_classes=5)
    assert held.num_classes == 5 and set(np.unique(held.y_train)) == set(range(5))
    assert len(held.ood["digits 5-9"]) == int((full.y_test >= 5).sum())
    assert held.rotation_image.shape == (1, 28, 28)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="held_out_classes is for digits28 only"):
        load_dataset("moons", held_out_classes=5)
    assert DATASETS == ("moons", "digits28", "fashion-mnist", "mnist")
