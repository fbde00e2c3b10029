"""IDX files: round trips of generated files, and a clear error for every kind of damage."""
import gzip

import numpy as np
import pytest

from numpyuq.data import load_idx, save_idx
from numpyuq.data.idx import parse_idx


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, rng, dtype, suffix):
    array = (rng.standard_normal((3, 5, 4)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    save_idx(path, array)
    loaded = load_idx(path)
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == np.dtype(dtype).newbyteorder("=") and loaded.shape == (3, 5, 4)


def test_header_is_big_endian_as_the_format_says(tmp_path):
    save_idx(tmp_path / "l", np.array([1, 2, 300], np.int32))
    raw = (tmp_path / "l").read_bytes()
    assert raw[:4] == b"\x00\x00\x0c\x01" and raw[4:8] == b"\x00\x00\x00\x03" and raw[-4:] == b"\x00\x00\x01\x2c"


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    save_idx(tmp_path / "x.gz", np.arange(6, dtype=np.uint8).reshape(2, 3))
    (tmp_path / "x.gz").rename(tmp_path / "plain-name")
    np.testing.assert_array_equal(load_idx(tmp_path / "plain-name"), np.arange(6).reshape(2, 3))


def test_damaged_files_give_clear_errors(tmp_path):
    good = b"\x00\x00\x08\x02" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x03" + bytes(range(6))
    np.testing.assert_array_equal(parse_idx(good), [[0, 1, 2], [3, 4, 5]])
    cases = [(good[:-1], "truncated: shape \\(2, 3\\) of uint8 needs 6 data bytes, found 5"),
             (good + b"\x00", "longer than its header says"),
             (good[:9], "truncated inside its header"),
             (b"\x12\x34" + good[2:], "magic number starts with 1234"),
             (good[:2] + b"\x07" + good[3:], "unknown IDX type code 0x07"),
             (good[:3], "too short for an IDX header"),
             (b"\x00\x00\x08\x00", "0 dimensions")]
    for raw, match in cases:
        with pytest.raises(ValueError, match=match):
            parse_idx(raw)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(ValueError, match="damaged or truncated gzip"):
        load_idx(tmp_path / "cut.gz")
    with pytest.raises(TypeError, match="no IDX type code"):
        save_idx(tmp_path / "b", np.zeros(2, np.complex64))


def test_the_writer_refuses_what_the_reader_would_refuse(tmp_path):
    import pytest
    from numpyuq.data.idx import save_idx
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        save_idx(tmp_path / "scalar.idx", np.array(3, np.uint8))
    assert not (tmp_path / "scalar.idx").exists()
