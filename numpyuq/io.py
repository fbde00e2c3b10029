"""Save and load a model's parameters and buffers as one ``.npz`` file."""
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_numpy


def save(model, path):
    """Write ``model.state_dict()`` to ``path`` atomically (temporary file in the same folder, then rename).

    A crash mid-write leaves any earlier file at ``path`` intact.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    state = {name: to_numpy(value) for name, value in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".numpyuq-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(model, path):
    """Load parameters and buffers saved by ``save`` into ``model`` in place; returns ``model``.

    Raises ValueError naming the file if it is unreadable or truncated, or naming the missing,
    unexpected and mis-shaped entries if it does not match the model. The model is unchanged on error.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            state = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise ValueError(f"cannot read model file {path!r} (truncated or not a numpyuq .npz): {err}") from err
    try:
        model.load_state_dict(state)
    except ValueError as err:
        raise ValueError(f"model file {path!r} does not match the model: {err}") from err
    return model
