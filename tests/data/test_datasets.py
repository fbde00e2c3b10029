"""MNIST-format datasets: digits28, a folder of IDX files, and the verified, atomic download,
tested against a local HTTP server on 127.0.0.1 serving generated files."""
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from numpyuq.data import load_digits28, load_fashion_mnist, load_mnist, save_idx
from numpyuq.data.datasets import (
    FASHION_MNIST_DIR,
    MNIST_MEAN_STD,
    download,
    download_mnist,
)

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_fake_mnist(folder, rng, n_train=12, n_test=5, gz=True):
    """Four generated IDX files in the MNIST layout; returns {file name: bytes}."""
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8)]
    os.makedirs(folder, exist_ok=True)
    files = {}
    for stem, array in zip(STEMS, arrays):
        name = stem + (".gz" if gz else "")
        save_idx(os.path.join(folder, name), array)
        files[name] = open(os.path.join(folder, name), "rb").read()
    return files, arrays


class Server:
    """Serves ``files`` from memory on 127.0.0.1; a name in ``cut`` is sent half, then the
    connection closes (an interrupted transfer)."""

    def __init__(self, files, cut=()):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                if name not in outer.files:
                    self.send_error(404)
                    return
                body = outer.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if name in outer.cut else body)

            def log_message(self, *args):
                pass

        self.files, self.cut = files, set(cut)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_digits28_split_and_normalisation():
    data = load_digits28()
    assert data.x_train.shape == (1347, 1, 28, 28) and data.x_test.shape == (450, 1, 28, 28)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert abs(float(data.x_train.mean())) < 1e-5 and abs(float(data.x_train.std()) - 1) < 1e-4
    share = np.bincount(data.y_test) / (np.bincount(data.y_train) + np.bincount(data.y_test))
    assert np.all(np.abs(share - 0.25) < 0.01)                         # stratified: a quarter of each class
    raw = load_digits28(normalization=None)
    assert raw.x_train.min() == 0 and raw.x_train.max() <= 1
    assert not raw.x_train[:, :, :4].any() and not raw.x_train[:, :, 24:].any()   # digits centred in 20 x 20
    np.testing.assert_array_equal(load_digits28().y_test, data.y_test)  # fixed split


def test_mnist_from_a_folder_with_the_seed_normalisation(tmp_path, rng):
    _, arrays = write_fake_mnist(tmp_path / "m", rng, gz=False)
    data = load_mnist(tmp_path / "m")
    assert (data.mean, data.std) == MNIST_MEAN_STD
    expected = (arrays[0] / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(data.x_train[:, 0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(data.y_test, arrays[3])
    other = load_mnist(tmp_path / "m", normalization=(0.5, 2.0))
    np.testing.assert_allclose(other.x_test[:, 0], (arrays[2] / 255 - 0.5) / 2, rtol=1e-5, atol=1e-6)


def test_mismatched_counts_and_missing_files(tmp_path, rng):
    write_fake_mnist(tmp_path / "m", rng)
    save_idx(tmp_path / "m" / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="MNIST test files hold 5 images but 4 labels"):
        load_mnist(tmp_path / "m")
    os.remove(tmp_path / "m" / "train-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match=r"lacks train-labels-idx1-ubyte\[.gz\]"):
        load_mnist(tmp_path / "m")
    with pytest.raises(ValueError, match="normalization must be 'seed', None or"):
        load_digits28(normalization="z-score")


def test_download_with_good_checksums_loads(tmp_path, rng):
    files, arrays = write_fake_mnist(tmp_path / "source", rng)
    server = Server(files)
    try:
        checksums = {name: sha(data) for name, data in files.items()}
        download_mnist(str(tmp_path / "cache" / "mnist"), mirrors=(server.url,), files=checksums)
        data = load_mnist(cache_dir=str(tmp_path / "cache"), mirrors=(server.url,))
    finally:
        server.close()
    np.testing.assert_array_equal(data.y_train, arrays[1])
    assert sorted(os.listdir(tmp_path / "cache" / "mnist")) == sorted(files)      # no temporary left


def test_bad_checksum_is_rejected_and_leaves_no_file(tmp_path, rng):
    files, _ = write_fake_mnist(tmp_path / "source", rng)
    server = Server(files)
    name = "train-labels-idx1-ubyte.gz"
    try:
        with pytest.raises(ValueError, match="checksum mismatch"):
            download(server.url + name, str(tmp_path / "out" / name), sha256="0" * 64)
        with pytest.raises(RuntimeError, match="put the four MNIST files"):
            download_mnist(str(tmp_path / "out"), mirrors=(server.url,), files={name: "0" * 64})
    finally:
        server.close()
    assert os.listdir(tmp_path / "out") == []


def test_interrupted_transfer_leaves_no_partial_file(tmp_path, rng):
    files, _ = write_fake_mnist(tmp_path / "source", rng, n_train=400)
    name = "train-images-idx3-ubyte.gz"
    server = Server(files, cut={name})
    try:
        with pytest.raises(Exception):
            download(server.url + name, str(tmp_path / "out" / name), sha256=sha(files[name]), timeout=10)
    finally:
        server.close()
    assert os.listdir(tmp_path / "out") == []


def test_no_network_says_where_to_put_the_files(tmp_path):
    with pytest.raises(RuntimeError, match=r"put the four MNIST files .* into .*mnist"):
        load_mnist(cache_dir=str(tmp_path), mirrors=("http://127.0.0.1:9/",))
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_mnist(cache_dir=str(tmp_path), download=False)


def test_fashion_mnist_missing_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(str(tmp_path / "nowhere"))


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    data = load_fashion_mnist()
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.y_test), [1000] * 10)


def test_nan_normalisation_constants_are_refused():
    import pytest
    from numpyuq.data import load_digits28
    for normalization in ((np.nan, 1.0), (0.0, np.inf)):
        with pytest.raises(ValueError, match="must be finite numbers"):
            load_digits28(normalization=normalization)
