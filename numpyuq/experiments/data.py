"""The data sets of the experiments, each with its out-of-distribution sets: one place that says
which OOD set goes with which data set.

    moons          the SNGP seed's two moons (fresh points per seed); OOD: its Gaussian blob at
                   (2.5, -1.75) ("blob"), a nearer blob at (-0.5, -0.7) in the gap below the
                   moons' left ends, about 1 from both ("near"), and a ring all around the data,
                   4 to 6 from its middle ("ring", far in every direction); the 100 x 100 grid of
                   its figures
    digits28       scikit-learn's digits at 28 x 28 (embedded); OOD: Fashion-MNIST test images
                   (far OOD, when Debian's package is installed). ``held_out_classes=5`` trains on
                   digits 0-4 and adds the test digits 5-9 as a near-OOD set (same pen, unseen classes)
    fashion-mnist  Debian's dataset-fashion-mnist; OOD: the digits28 images
    mnist          MNIST from a folder (or downloaded); OOD: Fashion-MNIST test images

Images are normalised with the training set's mean and standard deviation (the EDL seed's
``normalization="seed"``), and their OOD images with the same constants.
"""
from dataclasses import dataclass, field

import numpy as np

from ..data import (load_digits28, load_fashion_mnist, load_mnist, make_grid, make_moons_data, make_ood_data,
                    make_ring_data)
from ..validation import check_choice, check_positive_int

DATASETS = ("moons", "digits28", "fashion-mnist", "mnist")
NEAR_BLOB = (-0.5, -0.7)       # moons: the near OOD blob's centre
FAR_OOD_SIZE = 2000            # Fashion-MNIST test images scored for digit models (fast: 500)


@dataclass
class Dataset:
    """Training and test arrays, the OOD sets by name, and what the figures need."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    ood: dict = field(default_factory=dict)   # {name: images (M, ...)}: never seen in training
    num_classes: int = 10
    grid: np.ndarray = None                   # moons: the plane, for the surfaces
    mean: float = None                        # images: the normalisation constants
    std: float = None
    x_cal: np.ndarray = None                  # a calibration split, when an experiment carves one
    y_cal: np.ndarray = None

    @property
    def rotation_image(self):
        """A test "1", the image the EDL paper rotates (images only)."""
        return self.x_test[np.flatnonzero(self.y_test == 1)[0]]


def load_images(name, normalization="seed", mnist_path=None):
    """The ImageData of an image data set (digits28, fashion-mnist or mnist)."""
    if name == "digits28":
        return load_digits28(normalization=normalization)
    if name == "fashion-mnist":
        return load_fashion_mnist(normalization=normalization)
    return load_mnist(mnist_path, normalization=normalization)


def fashion_test_images(like, size=None):
    """Fashion-MNIST's test images normalised as ``like``, or None when they are not installed."""
    try:
        images = load_fashion_mnist(normalization=(like.mean, like.std)).x_test
    except FileNotFoundError:
        return None
    return images if size is None else images[:size]


def load_dataset(dataset, seed=0, fast=False, held_out_classes=None, mnist_path=None):
    """The data set ``dataset`` (one of DATASETS) with its OOD sets.

    Args:
        seed: moons draws fresh points per seed; the image sets are fixed.
        fast: a smaller grid, and subsets of the large image sets (smoke runs).
        held_out_classes: digits28 only: train on the first ``held_out_classes`` digits and add
            the test images of the others as the near-OOD set "digits <k>-9".
        mnist_path: the MNIST folder (``load_mnist``).
    """
    check_choice(dataset, "dataset", DATASETS)
    if held_out_classes is not None:
        if dataset != "digits28":
            raise ValueError(f"held_out_classes is for digits28 only, got dataset {dataset!r}")
        check_positive_int(held_out_classes, "held_out_classes", minimum=2)
    if dataset == "moons":
        x, y = make_moons_data(seed=seed)
        x_test, y_test = make_moons_data(seed=seed + 1000)
        ood = {"blob": make_ood_data(seed=seed + 1), "near": make_ood_data(means=NEAR_BLOB, seed=seed + 3),
               "ring": make_ring_data(seed=seed + 4)}
        return Dataset("moons", x, y, x_test, y_test, ood, 2,
                       grid=make_grid(n_grid=40 if fast else 100))
    images = load_images(dataset, mnist_path=mnist_path)
    x_train, y_train, x_test, y_test = images.x_train, images.y_train, images.x_test, images.y_test
    num_classes, ood = 10, {}
    if dataset == "fashion-mnist":
        digits = load_digits28(normalization=(images.mean, images.std))
        ood["digits28"] = np.concatenate([digits.x_train, digits.x_test])
        if fast:
            x_train, y_train, x_test, y_test = x_train[:6000], y_train[:6000], x_test[:1000], y_test[:1000]
    else:
        fashion = fashion_test_images(images, size=(500 if fast else FAR_OOD_SIZE) if held_out_classes else None)
        if fashion is not None:                 # Debian's dataset-fashion-mnist installed
            ood["Fashion-MNIST"] = fashion
    if held_out_classes is not None:
        keep_train, keep_test = y_train < held_out_classes, y_test < held_out_classes
        ood[f"digits {held_out_classes}-9"] = x_test[~keep_test]
        x_train, y_train, x_test, y_test = x_train[keep_train], y_train[keep_train], x_test[keep_test], y_test[keep_test]
        num_classes = held_out_classes
    return Dataset(dataset, x_train, y_train, x_test, y_test, ood, num_classes, mean=images.mean, std=images.std)
