"""The training loop: shuffled minibatches, callbacks, a progress bar, per-epoch history."""
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .backend import asarray, get_array_module
from .seeding import as_generator
from .nn.module import Module
from .validation import check_finite, check_positive_int


class Callback:
    """Hooks into ``fit``; override what you need.  ``trainer`` exposes model, optimizer, loss,
    epochs, num_samples, epoch, step (batches done), samples_seen and the history being written.

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


@dataclass
class History:
    """Per-epoch mean training loss and accuracy (over the batches of that epoch), and any other
    per-epoch number in ``metrics``: a loss's ``terms`` (averaged over the epoch's samples) and what
    callbacks ``record``."""
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def record(self, name, value):
        """Append ``value`` to the per-epoch list ``metrics[name]``."""
        self.metrics.setdefault(name, []).append(float(value))


@dataclass
class Trainer:
    """The state callbacks see."""
    model: object
    loss: object
    optimizer: object
    epochs: int
    num_samples: int
    epoch: int = 0
    step: int = 0
    samples_seen: int = 0
    history: History = field(default_factory=History)


def fit(model, loss, optimizer, x, y, epochs, batch_size=128, callbacks=(), rng=None,
        progress=True):
    """Train ``model`` by minibatch gradient descent.

    Each epoch visits the data in a fresh random order (the last batch may be smaller, as in Keras).
    A step is: zero_grad, forward(training=True), loss (+ the model's ``penalty()``), loss.backward,
    model.backward, model.penalty_backward, optimizer.step.

    Args:
        model: Module producing the loss's inputs.  loss: a Loss (e.g. SoftmaxCrossEntropy).
        optimizer: built on ``model.parameters()``.
        x: (N, ...) float inputs, cast to the model's dtype.  y: (N,) integer labels, or (N, K) targets.
        epochs, batch_size: positive integers.  callbacks: Callback instances.
        rng: Generator or seed for the shuffling.  progress: show a tqdm bar over epochs.
    Returns:
        History with per-epoch ``loss`` and ``accuracy`` (accuracy = argmax of the model output).
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if not hasattr(x, "shape") or x.ndim < 2:
        raise ValueError(f"x must be an array of shape (N, ...), got {getattr(x, 'shape', type(x).__name__)}")
    if not hasattr(y, "shape") or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have one entry per row of x ({x.shape[0]}), got shape {getattr(y, 'shape', None)}")
    check_finite(x, "x")
    x = asarray(x, dtype=model.dtype)
    y = asarray(y)
    xp = get_array_module(x)
    rng = as_generator(rng)
    # Only modules that define a regulariser are visited each step (walking the whole tree twice
    # a step cost about 60 us, 5% of a DeepResNet step).
    penalised = [m for m in model.modules() if type(m).own_penalty is not Module.own_penalty]
    callbacks = list(callbacks) + ([loss] if isinstance(loss, Callback) else [])
    trainer = Trainer(model, loss, optimizer, epochs, x.shape[0])
    history = trainer.history
    bar = tqdm(range(epochs), desc="fit", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        trainer.epoch = epoch
        for cb in callbacks:
            cb.on_epoch_begin(trainer)
        order = xp.asarray(rng.permutation(x.shape[0]))
        loss_sum = xp.zeros((), dtype=np.float64)
        correct = xp.zeros((), dtype=np.int64)
        term_sums = {}
        for start in range(0, x.shape[0], batch_size):
            index = order[start:start + batch_size]
            xb, yb = x[index], y[index]
            for cb in callbacks:
                cb.on_batch_begin(trainer, len(index))
            optimizer.zero_grad()
            out = model(xb, training=True)
            batch_loss = loss(out, yb) + sum(m.own_penalty() for m in penalised)
            model.backward(loss.backward())
            for m in penalised:
                m.own_penalty_backward()
            optimizer.step()
            labels = yb if yb.ndim == 1 else yb.argmax(axis=1)
            loss_sum += batch_loss * len(index)
            for name, value in getattr(loss, "terms", {}).items():
                term_sums[name] = term_sums.get(name, 0.0) + value * len(index)
            correct += (out.argmax(axis=1) == labels).sum()
            trainer.step += 1
            trainer.samples_seen += len(index)
            for cb in callbacks:
                cb.on_batch_end(trainer, {"loss": batch_loss})
        logs = {"loss": float(loss_sum) / x.shape[0], "accuracy": float(correct) / x.shape[0]}
        if not np.isfinite(logs["loss"]):
            raise FloatingPointError(f"training loss became {logs['loss']} in epoch {epoch}")
        history.loss.append(logs["loss"])
        history.accuracy.append(logs["accuracy"])
        for name, total in term_sums.items():
            history.record(name, total / x.shape[0])
        bar.set_postfix(loss=f"{logs['loss']:.4f}", acc=f"{logs['accuracy']:.3f}", refresh=False)
        for cb in callbacks:
            cb.on_epoch_end(trainer, logs)
    for cb in callbacks:
        cb.on_train_end(trainer)
    return history


def predict(model, x, batch_size=4096):
    """Inference-mode outputs of ``model`` on ``x`` in batches, as one array on the model's device."""
    check_finite(x, "x")
    x = asarray(x, dtype=model.dtype)
    xp = get_array_module(x)
    outs = [model(x[i:i + batch_size], training=False) for i in range(0, x.shape[0], batch_size)]
    return xp.concatenate(outs, axis=0)


__all__ = ["fit", "predict", "Callback", "History", "Trainer"]
