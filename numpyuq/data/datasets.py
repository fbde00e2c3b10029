"""MNIST-format image datasets: digits28 (embedded), MNIST (a folder or a verified download) and
Fashion-MNIST (Debian's ``dataset-fashion-mnist``).

Every loader returns an ``ImageData``: images (N, 1, 28, 28) float32, scaled to [0, 1] and then
normalised as (x - mean) / std, and int64 labels. ``normalization="seed"`` uses the EDL seed's MNIST
constants (0.1307, 0.3081) for MNIST and the training set's own mean and std for the others; pass
(mean, std) to normalise another dataset the way a model was trained (out-of-distribution scoring).
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from typing import NamedTuple

import numpy as np

from .idx import load_idx

MNIST_MEAN_STD = (0.1307, 0.3081)
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_FILES = {   # SHA-256 of the gzip files as published (the same on every mirror)
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")


class ImageData(NamedTuple):
    """A train/test split of normalised images.  x_*: (N, 1, 28, 28) float32, y_*: (N,) int64."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: float
    std: float
    name: str


def _finish(name, x_train, y_train, x_test, y_test, normalization, seed_mean_std=None):
    """Scale uint8 or [0, 1] images, pick the normalisation, and package them."""
    if normalization == "seed":
        mean, std = seed_mean_std or (float(x_train.mean()), float(x_train.std()))
    elif normalization is None:
        mean, std = 0.0, 1.0
    else:
        try:
            mean, std = (float(v) for v in normalization)
        except (TypeError, ValueError):
            raise ValueError(f"normalization must be 'seed', None or (mean, std), got {normalization!r}") from None
        if not (np.isfinite(mean) and np.isfinite(std)):
            raise ValueError(f"normalization (mean, std) must be finite numbers, got {normalization!r}")
        if not std > 0:
            raise ValueError(f"normalization std must be > 0, got {std}")

    def prepare(x):
        return ((x.astype(np.float32) - np.float32(mean)) / np.float32(std))[:, None]   # (N, 1, 28, 28)
    return ImageData(prepare(x_train), y_train.astype(np.int64), prepare(x_test), y_test.astype(np.int64),
                     mean, std, name)


def load_digits28(test_size=0.25, normalization="seed", seed=0):
    """scikit-learn's 1,797 handwritten 8 x 8 digits as MNIST-format images: each resampled to 20 x 20
    (bilinear) and centred in a 28 x 28 frame, as MNIST centres its digits in a 20 x 20 box.
    The split is stratified by class and fixed by ``seed``: 1,347 training and 450 test images."""
    import scipy.ndimage
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    digits = sklearn.datasets.load_digits()
    images = np.zeros((len(digits.images), 28, 28), np.float32)
    for i, image in enumerate(digits.images):
        images[i, 4:24, 4:24] = np.clip(scipy.ndimage.zoom(image / 16.0, 2.5, order=1), 0, 1)
    x_train, x_test, y_train, y_test = train_test_split(images, digits.target, test_size=test_size,
                                                        stratify=digits.target, random_state=seed)
    return _finish("digits28", x_train, y_train, x_test, y_test, normalization)


def _find(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def _load_four(folder, name, normalization, seed_mean_std=None):
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    paths = [_find(folder, stem) for stem in stems]
    missing = [stem for stem, path in zip(stems, paths) if path is None]
    if missing:
        raise FileNotFoundError(f"{name}: {folder!r} lacks {', '.join(m + '[.gz]' for m in missing)}")
    x_train, y_train, x_test, y_test = (load_idx(p) for p in paths)
    for images, labels, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
            raise ValueError(f"{name} {split} files hold images of shape {images.shape} and labels of shape "
                             f"{labels.shape}; expected (N, 28, 28) and (N,)")
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{name} {split} files hold {images.shape[0]} images but {labels.shape[0]} labels")
    return _finish(name, x_train / np.float32(255), y_train, x_test / np.float32(255), y_test, normalization,
                   seed_mean_std)


def load_fashion_mnist(path=FASHION_MNIST_DIR, normalization="seed"):
    """Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60,000 + 10,000 clothing images in 10 classes, read
    from Debian's package ``dataset-fashion-mnist`` (or any folder with the four IDX files)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"Fashion-MNIST not found at {path!r}. Install Debian's package: "
            "`sudo apt-get install dataset-fashion-mnist` (puts the IDX files in "
            f"{FASHION_MNIST_DIR}), or pass path= a folder with the four IDX files.")
    return _load_four(path, "Fashion-MNIST", normalization)


def default_cache_dir():
    """Where downloads go: $NUMPYUQ_DATA, else $XDG_CACHE_HOME/numpyuq, else ~/.cache/numpyuq."""
    if os.environ.get("NUMPYUQ_DATA"):
        return os.environ.get("NUMPYUQ_DATA")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numpyuq")


def download(url, destination, sha256, timeout=60):
    """Fetch ``url`` into ``destination`` only if its SHA-256 is ``sha256``.

    The bytes go to a temporary file in the destination's folder, hashed as they arrive; the file
    is renamed into place only after the whole transfer checks out, so a wrong checksum or an
    interrupted transfer leaves nothing behind (and an earlier good file stays as it was).
    """
    folder = os.path.dirname(os.path.abspath(destination))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".numpyuq-download-", suffix=".tmp")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(f"checksum mismatch for {url}: got SHA-256 {digest.hexdigest()}, expected {sha256}")
        os.replace(tmp, destination)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def download_mnist(folder, mirrors=MNIST_MIRRORS, files=MNIST_FILES, timeout=60):
    """Download the four MNIST files into ``folder`` (skipping those present), verified by SHA-256."""
    for name, sha256 in files.items():
        destination = os.path.join(folder, name)
        if os.path.exists(destination):
            continue
        errors = []
        for mirror in mirrors:
            try:
                download(mirror + name, destination, sha256, timeout)
                break
            except (urllib.error.URLError, OSError, ValueError) as err:
                errors.append(f"{mirror}: {err}")
        else:
            raise RuntimeError(
                f"could not download {name} (" + "; ".join(errors) + "). Without a network, put the four "
                f"MNIST files ({', '.join(files)}) into {folder!r}, or pass path= a folder that holds them.")
    return folder


def load_mnist(path=None, normalization="seed", download=True, cache_dir=None, mirrors=MNIST_MIRRORS):
    """MNIST (LeCun et al. 1998): 60,000 + 10,000 handwritten digits.

    Args:
        path: a folder with the four IDX files (raw or .gz). None: the cache folder
            (``default_cache_dir()/mnist`` or ``cache_dir``), downloading what is missing there.
        normalization: ``"seed"`` (0.1307, 0.3081, the EDL seed's), None, or (mean, std).
        download: allow the download when ``path`` is None and files are missing.
    """
    if path is not None:
        if not os.path.isdir(path):
            raise FileNotFoundError(f"path {path!r} is not a folder; it must hold the four MNIST IDX files")
        return _load_four(path, "MNIST", normalization, MNIST_MEAN_STD)
    folder = os.path.join(cache_dir or default_cache_dir(), "mnist")
    if not all(_find(folder, name[:-3]) for name in MNIST_FILES):
        if not download:
            raise FileNotFoundError(f"MNIST is not in {folder!r} and download=False; put the four files "
                                    f"({', '.join(MNIST_FILES)}) there or pass path=")
        download_mnist(folder, mirrors)
    return _load_four(folder, "MNIST", normalization, MNIST_MEAN_STD)
