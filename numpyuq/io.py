"""Save and load models, ensembles and training checkpoints as one ``.npz`` file.

``save(model, path)`` writes ``model.state_dict()`` (and the state of every random generator the model
owns: its dropout masks); ``save_checkpoint`` adds the optimizer's state (moments, step count,
learning rate) and the number of epochs done, and ``load_checkpoint`` restores all of it, so that
training resumes exactly where it stopped (``fit(..., seed=<int>, initial_epoch=epoch)`` replays the
data order of the epochs done):

    io.save_checkpoint(model, "run.npz", opt, epoch=12)          # as Keras: the object, then the file
    start = io.load_checkpoint(model, "run.npz", opt)            # -> 12

The older order, ``save_checkpoint("run.npz", model, opt, epoch)``, still works. Anything with
``state_dict`` / ``load_state_dict`` can be saved (a Module, a DeepEnsemble).

Loading is all or nothing: the whole file is read, converted and checked against the model, the
optimizer and the generators before anything is assigned.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_numpy
from .nn.module import check_state

OPTIMIZER_PREFIX = "optimizer/"
GENERATOR_PREFIX = "generators/"
EPOCH_KEY = "checkpoint/epoch"


def check_savable(obj, name):
    if not (hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict")):
        raise TypeError(f"{name} must have state_dict and load_state_dict (a Module, a DeepEnsemble or an "
                        f"Optimizer), got {type(obj).__name__}")


def check_epoch(epoch, where="epoch"):
    """An epoch count: an integer >= 0 (a checkpoint's number of epochs done)."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"{where} must be an integer >= 0, got {epoch!r}")
    return int(epoch)


def model_and_path(first, second, function):
    """(model, path) from either argument order: Keras' ``(model, path)`` or the older ``(path, model)``."""
    if isinstance(first, (str, os.PathLike)) and not isinstance(second, (str, os.PathLike)):
        first, second = second, first
    if not isinstance(second, (str, os.PathLike)):
        raise TypeError(f"{function} takes a model and a file path, got {type(first).__name__} and "
                        f"{type(second).__name__}")
    return first, os.fspath(second)


def generators_of(model):
    """The model's random generators' states (none for objects without generators)."""
    return model.generator_states() if hasattr(model, "generator_states") else {}


def save(model, path, optimizer=None, epoch=None):
    """Write ``model``'s state to ``path`` (and, as ``save_checkpoint`` does, the optimizer's and the epoch).

    Atomic: a temporary file in the same folder, then a rename, so a crash mid-write leaves any
    earlier file at ``path`` intact. The file gets the permissions of any file the user creates
    (0666 less the umask). Raises FileNotFoundError naming ``path`` if its folder is missing.
    """
    model, path = model_and_path(model, path, "save")
    check_savable(model, "model")
    if optimizer is not None:
        check_savable(optimizer, "optimizer")
    if epoch is not None:
        check_epoch(epoch)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path!r}: it is a folder; give a file name such as model.npz")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")
    state = {name: to_numpy(value) for name, value in model.state_dict().items()}
    state.update({GENERATOR_PREFIX + name: np.array(json.dumps(value)) for name, value in generators_of(model).items()})
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
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                   # mkstemp makes it 0600
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
        raise FileNotFoundError(f"no model file {path!r}") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise ValueError(f"cannot read model file {path!r} (truncated or not a numpyuq .npz): {err}") from err


def save_checkpoint(model, path, optimizer, epoch):
    """Model, optimizer, the model's generators and the number of epochs done, in one file (see
    ``load_checkpoint``). ``save_checkpoint(path, model, optimizer, epoch)`` works too."""
    model, path = model_and_path(model, path, "save_checkpoint")
    if epoch is None:
        raise ValueError("epoch must be an integer >= 0, got None")
    if optimizer is None:
        raise TypeError("optimizer must be the Optimizer to save, got None")
    save(model, path, optimizer=optimizer, epoch=epoch)


def load_checkpoint(model, path, optimizer):
    """Restore a ``save_checkpoint`` file into ``model``, ``optimizer`` and the model's generators;
    returns the number of epochs done (pass it to ``fit`` as ``initial_epoch``).
    ``load_checkpoint(path, model, optimizer)`` works too."""
    model, path = model_and_path(model, path, "load_checkpoint")
    if optimizer is None:
        raise TypeError("optimizer must be the Optimizer to restore, got None")
    epoch = load_state(model, path, optimizer, need_epoch=True)
    return epoch


def load(model, path):
    """Load what ``save`` wrote into ``model`` in place; returns ``model``. An optimizer state or
    epoch in the file (a checkpoint) is ignored."""
    model, path = model_and_path(model, path, "load")
    load_state(model, path, None)
    return model


def parse_generators(entries, path):
    """{name: state dict} from the file's JSON entries."""
    states = {}
    for name, value in entries.items():
        try:
            states[name] = json.loads(str(value))
        except (TypeError, ValueError):
            raise ValueError(f"model file {path!r}: generator entry {name!r} is not a saved generator state") from None
    return states


def load_state(model, path, optimizer, need_epoch=False):
    """Load ``path`` into ``model`` (and ``optimizer``) in place; returns the saved epoch or None.

    Raises ValueError naming the file if it is unreadable or truncated, or naming the missing,
    unexpected, mis-shaped and unconvertible entries if it does not match. Every part is checked
    before any is assigned, so nothing changes on error.
    """
    check_savable(model, "model")
    if optimizer is not None:
        check_savable(optimizer, "optimizer")
    state = read_archive(path)
    optimizer_state = {k[len(OPTIMIZER_PREFIX):]: state.pop(k) for k in list(state) if k.startswith(OPTIMIZER_PREFIX)}
    generator_entries = {k[len(GENERATOR_PREFIX):]: state.pop(k) for k in list(state) if k.startswith(GENERATOR_PREFIX)}
    epoch = state.pop(EPOCH_KEY, None)
    if epoch is not None:
        if epoch.shape != () or epoch.dtype.kind not in "iu":
            raise ValueError(f"model file {path!r}: its epoch entry must be one integer, got {epoch.dtype} "
                             f"of shape {epoch.shape}")
        epoch = check_epoch(int(epoch), f"model file {path!r}: its epoch")
    if optimizer is not None and not optimizer_state:
        raise ValueError(f"model file {path!r} holds no optimizer state (saved without optimizer=)")
    if need_epoch and epoch is None:
        raise ValueError(f"file {path!r} is a model file, not a checkpoint (no epoch)")
    generators = parse_generators(generator_entries, path)
    if hasattr(model, "state_arrays"):             # names and shapes first: the most telling mismatch
        try:
            check_state(model.state_arrays(), state, "the model")
        except ValueError as err:
            raise ValueError(f"model file {path!r} does not match the model: {err}") from None
    if generators:                                 # files written before generators were saved have none
        try:
            model.check_generator_states(generators)
        except ValueError as err:
            raise ValueError(f"model file {path!r} does not match the model's generators: {err}") from None
    backup = optimizer.state_dict() if optimizer is not None else None
    if optimizer is not None:
        try:
            optimizer.load_state_dict(optimizer_state)
        except ValueError as err:
            raise ValueError(f"model file {path!r} does not match the optimizer: {err}") from None
    try:
        model.load_state_dict(state)
    except ValueError as err:
        if optimizer is not None:
            optimizer.load_state_dict(backup)       # all or nothing
        raise ValueError(f"model file {path!r} does not match the model: {err}") from None
    if generators:
        model.load_generator_states(generators)
    return epoch
