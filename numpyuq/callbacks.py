"""Hooks into the training loop (``training.fit``), and the generic ones every user reaches for.

A callback sees a ``Trainer`` (model, loss, optimizer, epochs, num_samples, epoch, step,
samples_seen, history). Layers that need per-epoch bookkeeping supply their own callback through
``Module.training_callbacks()`` (the GP layer's covariance reset), so ``fit`` does the right thing
without being told.
"""


class Callback:
    """Hooks into ``fit``; override what you need.

    A loss that is also a Callback (the annealed evidential objective) is called like one, after
    the callbacks passed to ``fit``.
    """

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
        if not lr > 0:
            raise ValueError(f"schedule({trainer.epoch}) must be a learning rate > 0, got {lr}")
        trainer.optimizer.lr = lr
        trainer.history.record("lr", lr)
