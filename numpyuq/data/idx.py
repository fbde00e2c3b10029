"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

    bytes 0-1   zero
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    then        d sizes, big-endian uint32
    then        the data, big-endian, C order

Files may be gzip-compressed (recognised by their first two bytes, whatever their name).
"""
import gzip
import math
import os
import struct

import numpy as np

TYPE_CODES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"IDX file {os.fspath(path)!r} is a damaged or truncated gzip file: {err}") from err
    return raw


def parse_idx(raw, name="IDX data"):
    """The array stored in the IDX bytes ``raw`` (native byte order), after checking the header."""
    if len(raw) < 4:
        raise ValueError(f"{name} is too short for an IDX header: {len(raw)} bytes")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise ValueError(f"{name} is not an IDX file: its magic number starts with {raw[:2].hex()}, not 0000")
    if code not in TYPE_CODES:
        raise ValueError(f"{name} has unknown IDX type code 0x{code:02x}; known: "
                         + ", ".join(f"0x{c:02x}" for c in TYPE_CODES))
    if ndim == 0:
        raise ValueError(f"{name} declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name} is truncated inside its header ({len(raw)} of {header} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = TYPE_CODES[code]
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        problem = "truncated" if len(raw) - header < expected else "longer than its header says"
        raise ValueError(f"{name} is {problem}: shape {shape} of {dtype.name} needs {expected} data bytes, "
                         f"found {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx(path):
    """Read an IDX file (raw or gzip) into a NumPy array of its shape and type."""
    return parse_idx(_read_bytes(path), f"IDX file {os.fspath(path)!r}")


def save_idx(path, array):
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in TYPE_CODES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        raise TypeError(f"array dtype {array.dtype} has no IDX type code; use one of "
                        + ", ".join(str(d) for d in codes))
    code = codes[dtype]
    # What parse_idx accepts: 1 to 255 dimensions, each below 2^32 (a 1-byte count, 4-byte sizes).
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array must have 1 to 255 dimensions for an IDX file, got shape {array.shape}")
    if max(array.shape) >= 2**32:
        raise ValueError(f"array dimensions must be below 2^32 for an IDX file, got shape {array.shape}")
    payload = (struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
               + np.ascontiguousarray(array, TYPE_CODES[code]).tobytes())
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
