"""Hooks into the training loop (``training.fit``), and the generic ones every user reaches for.

A callback sees a ``Trainer`` (model, loss, optimizer, epochs, num_samples, epoch, step,
samples_seen, history, stop_training). Layers that need per-epoch bookkeeping supply their own
callback through ``Module.training_callbacks()`` (the GP layer's covariance reset), so ``fit`` does the
right thing without being told.

Keras habits work as Keras users expect: a callback written as Keras writes it,
``on_epoch_end(self, epoch, logs)`` (or ``on_batch_end(self, batch, logs)``, ``on_train_begin(self,
logs)``), gets the epoch or batch index and the logs; ``self.model`` is the model being trained; and
``self.model.stop_training = True`` (or ``trainer.stop_training = True``) ends training after the
current epoch. ``EarlyStopping`` and ``ModelCheckpoint`` are here.
"""
import inspect
import os

from .validation import check_choice, check_positive_int, check_real


class Callback:
    """Hooks into ``fit``; override what you need. Each gets the ``Trainer``; Keras' signatures
    (``on_epoch_end(self, epoch, logs)``) are recognised by their argument names and work too.

    A loss that is also a Callback (the annealed evidential objective) is called like one, after
    the callbacks passed to ``fit``. ``self.model`` is set to the model ``fit`` trains.
    """

    model = None

    def on_train_begin(self, trainer):
        pass

    def on_epoch_begin(self, trainer):
        pass

    def on_batch_begin(self, trainer, batch_size):
        pass

    def on_batch_end(self, trainer, logs):
        pass

    def on_epoch_end(self, trainer, logs):
        pass

    def on_train_end(self, trainer):
        pass


# Keras' hook signatures: the name of the first argument after self tells them apart from ours.
KERAS_FIRST_ARGUMENT = {"on_epoch_begin": "epoch", "on_epoch_end": "epoch", "on_batch_begin": "batch",
                        "on_batch_end": "batch", "on_train_begin": "logs", "on_train_end": "logs"}


def keras_style(callback, hook):
    """True when ``callback.<hook>`` is written with Keras' arguments (epoch / batch / logs first)."""
    method = getattr(callback, hook, None)
    if method is None:
        return False
    try:
        parameters = list(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return False
    return bool(parameters) and parameters[0] == KERAS_FIRST_ARGUMENT[hook]


class CallbackList:
    """What ``fit`` calls: every callback's hook, with the arguments its signature asks for."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if getattr(callback, "model", None) is None:
                try:
                    callback.model = model
                except AttributeError:
                    pass
        self.keras = {(id(cb), hook): keras_style(cb, hook) for cb in self.callbacks for hook in KERAS_FIRST_ARGUMENT}

    def call(self, hook, trainer, *args):
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is None:
                continue
            if not self.keras[(id(callback), hook)]:
                method(trainer, *args)
            elif hook in ("on_epoch_begin", "on_epoch_end"):
                method(trainer.epoch, dict(args[0]) if args else {})
            elif hook in ("on_batch_begin", "on_batch_end"):
                batch = trainer.step - (hook == "on_batch_end")
                method(batch, dict(args[0]) if hook == "on_batch_end" else {"size": args[0]})
            else:
                method({})


def check_callbacks(callbacks):
    """A list of callbacks; a clear error for what is not one (a class, not an instance, say)."""
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback instances, got {type(callbacks).__name__}")
    hooks = tuple(KERAS_FIRST_ARGUMENT)
    for i, callback in enumerate(callbacks):
        if isinstance(callback, type):
            raise TypeError(f"callbacks[{i}] is the class {callback.__name__}: pass an instance, "
                            f"{callback.__name__}(...)")
        if not any(callable(getattr(callback, hook, None)) for hook in hooks):
            raise TypeError(f"callbacks[{i}] must be a Callback (with on_epoch_end or another hook), "
                            f"got {type(callback).__name__}")
    return list(callbacks)


class LearningRateSchedule(Callback):
    """Sets ``optimizer.lr = schedule(epoch)`` at the start of every epoch (Keras'
    ``LearningRateScheduler``), and records it in ``history.metrics["lr"]``.

    ``schedule``: a function of the epoch index (0-based) returning a positive float, e.g.
    ``lambda epoch: 1e-3 * 0.5 ** (epoch // 10)`` (step decay).
    """

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError(f"schedule must be a function of the epoch, got {type(schedule).__name__}")
        self.schedule = schedule

    def on_epoch_begin(self, trainer):
        lr = float(self.schedule(trainer.epoch))
        if not 0 < lr < float("inf"):
            raise ValueError(f"schedule({trainer.epoch}) must be a learning rate > 0, got {lr}")
        trainer.optimizer.lr = lr
        trainer.history.record("lr", lr)


def monitored(logs, monitor):
    if monitor not in logs:
        raise ValueError(f"monitor {monitor!r} is not among the epoch's logs {sorted(logs)}: "
                         "'val_loss' and 'val_accuracy' need fit(..., validation_data=...)")
    return logs[monitor]


def improved(value, best, mode, min_delta):
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in the direction of ``mode``."""
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def resolve_mode(mode, monitor):
    """Keras' "auto": maximise accuracies, minimise everything else."""
    check_choice(mode, "mode", ("auto", "min", "max"))
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras' EarlyStopping).

    Args:
        monitor: a key of the epoch's logs: ``"val_loss"`` (default; needs validation data),
            ``"loss"``, ``"accuracy"``, ``"val_accuracy"``.
        patience: epochs without improvement before stopping (0: stop at the first).
        min_delta: the smallest change that counts as an improvement.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies, min otherwise).
        restore_best_weights: at the end, put back the weights of the best epoch.
    Attributes: ``best``, ``best_epoch``, ``stopped_epoch`` (None when it did not stop training).
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto", restore_best_weights=False):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a logged number, got {type(monitor).__name__}")
        check_positive_int(patience, "patience", minimum=0)
        check_real(min_delta, "min_delta", at_least=0)
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = resolve_mode(mode, monitor)
        self.restore_best_weights = bool(restore_best_weights)

    def on_train_begin(self, trainer):
        self.best, self.best_epoch, self.stopped_epoch, self.wait, self.best_state = None, None, None, 0, None

    def on_epoch_end(self, trainer, logs):
        value = monitored(logs, self.monitor)
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, trainer.epoch, 0
            if self.restore_best_weights:
                self.best_state = trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = trainer.epoch
            trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)


class ModelCheckpoint(Callback):
    """Save a checkpoint (model, optimizer, generators, epochs done: ``io.save_checkpoint``) at the end
    of every epoch, as Keras' ModelCheckpoint does, so that a long run can be interrupted and resumed
    exactly with ``io.load_checkpoint`` and ``fit(..., initial_epoch=...)``.

    Args:
        path: the file, written atomically; ``{epoch}`` in it (Keras' placeholder) is replaced by the
            number of epochs done, to keep one file per epoch.
        monitor, mode, save_best_only: with ``save_best_only``, write only when ``monitor`` improves.
    Attribute ``saved``: the paths written, in order.
    """

    def __init__(self, path, monitor="val_loss", mode="auto", save_best_only=False):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {type(path).__name__}")
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"ModelCheckpoint path {os.fspath(path)!r}: folder {folder!r} does not exist")
        self.path, self.monitor = os.fspath(path), monitor
        self.mode, self.save_best_only = resolve_mode(mode, monitor), bool(save_best_only)
        self.best, self.saved = None, []

    def on_epoch_end(self, trainer, logs):
        from . import io
        if self.save_best_only:
            value = monitored(logs, self.monitor)
            if not improved(value, self.best, self.mode, 0.0):
                return
            self.best = value
        path = self.path.replace("{epoch}", str(trainer.epoch + 1))
        io.save_checkpoint(trainer.model, path, trainer.optimizer, epoch=trainer.epoch + 1)
        self.saved.append(path)


__all__ = ["Callback", "LearningRateSchedule", "EarlyStopping", "ModelCheckpoint"]
