"""Save and load models, ensembles and training checkpoints as one ``.npz`` file.

``save(model, path)`` writes ``model.state_dict()``; ``save_checkpoint`` adds the optimizer's state
(moments, step count, learning rate) and the epoch, and ``load_checkpoint`` restores all three, so
training resumes where it stopped:

    io.save_checkpoint("run.npz", model, opt, epoch=12)
    start = io.load_checkpoint("run.npz", model, opt)        # -> 12

Anything with ``state_dict`` / ``load_state_dict`` can be saved (a Module, a DeepEnsemble).
"""
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_numpy

OPTIMIZER_PREFIX = "optimizer/"
EPOCH_KEY = "checkpoint/epoch"


def check_savable(obj, name):
    if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
        raise TypeError(f"{name} must have state_dict and load_state_dict (a Module, a DeepEnsemble or an "
                        f"Optimizer), got {type(obj).__name__}")


def save(model, path, optimizer=None, epoch=None):
    """Write ``model``'s state to ``path`` (and, as ``save_checkpoint`` does, the optimizer's and the epoch).

    Atomic: a temporary file in the same folder, then a rename, so a crash mid-write leaves any
    earlier file at ``path`` intact. Raises FileNotFoundError naming ``path`` if its folder is missing.
    """
    check_savable(model, "model")
    if optimizer is not None:
        check_savable(optimizer, "optimizer")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0):
        raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path!r}: it is a folder; give a file name such as model.npz")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")
    state = {name: to_numpy(value) for name, value in model.state_dict().items()}
    if optimizer is not None:
        state.update({OPTIMIZER_PREFIX + k: to_numpy(v) for k, v in optimizer.state_dict().items()})
    if epoch is not None:
        state[EPOCH_KEY] = np.array(epoch, np.int64)
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


def read_archive(path):
    """Every array in the ``.npz`` file at ``path`` as a dict; ValueError naming the file if it is
    not one (truncated, a ``.npy``, anything else). The file is closed on every path."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise ValueError("not a zip archive")
            f.seek(0)
            with np.load(f, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise ValueError(f"cannot read model file {path!r} (truncated or not a numpyuq .npz): {err}") from err


def save_checkpoint(path, model, optimizer, epoch):
    """Model, optimizer and the number of epochs done, in one file (see ``load_checkpoint``)."""
    if epoch is None:
        raise ValueError("epoch must be an integer >= 0, got None")
    save(model, path, optimizer=optimizer, epoch=epoch)


def load_checkpoint(path, model, optimizer):
    """Restore a ``save_checkpoint`` file into ``model`` and ``optimizer``; returns the saved epoch."""
    if optimizer is None:
        raise TypeError("optimizer must be the Optimizer to restore, got None")
    epoch = load_state(model, path, optimizer)
    if epoch is None:
        raise ValueError(f"file {os.fspath(path)!r} is a model file, not a checkpoint (no epoch)")
    return epoch


def load(model, path):
    """Load what ``save`` wrote into ``model`` in place; returns ``model``. An optimizer state or
    epoch in the file (a checkpoint) is ignored."""
    load_state(model, path, None)
    return model


def load_state(model, path, optimizer):
    """Load ``path`` into ``model`` (and ``optimizer``) in place; returns the saved epoch or None.

    Raises ValueError naming the file if it is unreadable or truncated, or naming the missing,
    unexpected and mis-shaped entries if it does not match. Nothing is changed on error: if the
    model's part does not match, the optimizer gets its old state back.
    """
    check_savable(model, "model")
    if optimizer is not None:
        check_savable(optimizer, "optimizer")
    path = os.fspath(path)
    state = read_archive(path)
    optimizer_state = {k[len(OPTIMIZER_PREFIX):]: state.pop(k) for k in list(state) if k.startswith(OPTIMIZER_PREFIX)}
    epoch = state.pop(EPOCH_KEY, None)
    if optimizer is not None and not optimizer_state:
        raise ValueError(f"model file {path!r} holds no optimizer state (saved without optimizer=)")
    backup = optimizer.state_dict() if optimizer is not None else None
    if optimizer is not None:
        try:
            optimizer.load_state_dict(optimizer_state)
        except ValueError as err:
            raise ValueError(f"model file {path!r} does not match the optimizer: {err}") from err
    try:
        model.load_state_dict(state)
    except ValueError as err:
        if optimizer is not None:
            optimizer.load_state_dict(backup)       # all or nothing
        raise ValueError(f"model file {path!r} does not match the model: {err}") from err
    return int(epoch) if epoch is not None else None
