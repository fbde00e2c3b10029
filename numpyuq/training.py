"""The training loop: shuffled minibatches, callbacks, validation, a progress bar, per-epoch history.

``fit`` checks every argument before it changes anything: the inputs and targets in full (not batch
by batch), the model's dtype, and that the optimizer holds this model's parameters. A failure it
cannot foresee (a non-finite loss, an error in a callback) rolls the model and the optimizer back to
the start of the epoch in which it happened, and the error says so.
"""
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .backend import array_in, get_array_module
from .callbacks import Callback, CallbackList, check_callbacks
from .nn.module import Module, without_caches
from .parallel import DataParallel, single_threaded_blas_pool, slice_bounds
from .seeding import as_generator
from .validation import check_batch, check_float_dtype, check_positive_int


@dataclass
class History:
    """Per-epoch mean training loss and accuracy (over the batches of that epoch), the validation
    loss and accuracy when ``fit`` has validation data, and any other per-epoch number in
    ``metrics``: a loss's ``terms`` (averaged over the epoch's samples) and what callbacks ``record``."""
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def record(self, name, value):
        """Append ``value`` to the per-epoch list ``metrics[name]``."""
        self.metrics.setdefault(name, []).append(float(value))

    @property
    def history(self):
        """Every per-epoch list in one dict, as Keras' ``History.history``: {"loss": [...], ...}."""
        lists = {name: getattr(self, name) for name in ("loss", "accuracy", "val_loss", "val_accuracy")}
        return {**{name: values for name, values in lists.items() if values}, **self.metrics}


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
    stop_training: bool = False        # a callback sets it to end training after this epoch


def progress_bar(iterable, enabled, **kwargs):
    """tqdm over ``iterable``, shown only when ``enabled`` and someone watches: a terminal or a
    notebook. Written into a log file, a bar would add a line per refresh."""
    watched = sys.stderr.isatty() or "ipykernel" in sys.modules
    return tqdm(iterable, disable=not (enabled and watched), leave=False, **kwargs)


def check_model(model, name="model"):
    """Raise TypeError unless ``model`` is a numpyuq Module (an instance: a class gets a hint; an
    array gets "are the arguments swapped?")."""
    if isinstance(model, Module):
        return
    if isinstance(model, type) and issubclass(model, Module):
        raise TypeError(f"{name} is the class {model.__name__}: build one first, e.g. {model.__name__}(...)")
    hint = " (are the arguments swapped? the model comes first)" if hasattr(model, "shape") else ""
    raise TypeError(f"{name} must be a numpyuq Module, got {type(model).__name__}{hint}")


def check_loss(loss):
    """Raise TypeError with a hint unless ``loss`` is a loss instance (has forward and backward)."""
    if isinstance(loss, type):
        raise TypeError(f"loss is the class {loss.__name__}: pass an instance, {loss.__name__}()")
    if isinstance(loss, str):
        raise TypeError(f"loss must be a loss object, e.g. numpyuq.losses.SoftmaxCrossEntropy() or "
                        f"AnnealedEvidentialLoss({loss!r}), got the string {loss!r}")
    if not (callable(getattr(loss, "forward", None)) and callable(getattr(loss, "backward", None))):
        raise TypeError(f"loss must be a numpyuq loss (with forward and backward), got {type(loss).__name__}")


def check_optimizer(optimizer, model):
    """Raise unless ``optimizer`` updates (a subset of) ``model``'s trainable parameters, and still holds them."""
    if isinstance(optimizer, type):
        raise TypeError(f"optimizer is the class {optimizer.__name__}: build it on the model's parameters, "
                        f"{optimizer.__name__}(model.parameters())")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad") and hasattr(optimizer, "parameters")):
        raise TypeError(f"optimizer must be a numpyuq Optimizer built on model.parameters(), "
                        f"got {type(optimizer).__name__}")
    own = {id(p) for p in model.parameters()}
    foreign = sum(id(p) not in own for p in optimizer.parameters())
    if foreign:
        raise ValueError(f"optimizer updates {foreign} parameter(s) that are not this model's trainable "
                         "parameters: it was built on another model. Build it on model.parameters().")
    if not optimizer.owns_parameters():
        raise ValueError(f"optimizer ({type(optimizer).__name__}) no longer holds the model's parameters: "
                         "another optimizer was built on them, or the model was cast or moved since. "
                         "Build the optimizer again on model.parameters().")


def check_data(model, loss, x, y, name):
    """Check inputs ``x`` and targets ``y`` in full against the model and the loss, changing nothing.

    One inference-mode forward pass of a single row finds the model's output width (and raises, in
    the model's own words, if x does not fit it); the loss then checks every target against it.
    Returns (x cast to the model's dtype on the model's device, y as an array there).
    """
    x = model.as_input(check_batch(x, name[0]))
    y = array_in(np.asarray(y) if isinstance(y, (list, tuple)) else y, model.xp)
    if not hasattr(y, "shape") or y.ndim == 0 or y.shape[0] != x.shape[0]:
        raise ValueError(f"{name[1]} must have one entry per row of {name[0]} ({x.shape[0]}), "
                         f"got shape {getattr(y, 'shape', type(y).__name__)}")
    check_input = getattr(model, "check_input", None)
    if check_input is not None:
        check_input(x)                      # the whole batch's shape, in the model's words
    out = model(x[:1], training=False)
    check_targets = getattr(loss, "check_targets", None)
    if check_targets is not None:
        check_targets(y, out.shape[1], name=name[1])
    return x, y


def fit(model, loss, optimizer, x, y, epochs, batch_size=128, callbacks=(), seed=0, progress=True,
        validation_data=None, initial_epoch=0, threads=1):
    """Train ``model`` by minibatch gradient descent.

    Each epoch visits the data in a fresh random order (the last batch may be smaller, as in Keras).
    A step is: zero_grad, forward(training=True), loss (+ the model's penalties), loss.backward,
    model.backward, penalty backward, optimizer.step.

    Args:
        model: Module producing the loss's inputs (float32 or float64).
        loss: a Loss, e.g.
            ``SoftmaxCrossEntropy``.
        optimizer: built on ``model.parameters()``.
        x: (N, ...) inputs (lists are accepted), cast to the model's dtype.
        y: (N,) integer labels, or (N, K) targets where the loss takes them.
        epochs, batch_size: positive integers.
        callbacks: Callback instances (``EarlyStopping``, ``ModelCheckpoint``, your own, written
            our way or Keras'); a loss that is a Callback and the callbacks the model's layers ask
            for (``Module.training_callbacks``, e.g. the GP covariance reset) are added.
        seed: int or Generator for the shuffling (0 by default: the same call gives the same result).
        progress: show a tqdm bar over epochs (only on a terminal or in a notebook).
        validation_data: optional (x_val, y_val), scored in inference mode after every epoch.
        initial_epoch: resume a run at this epoch (from ``io.load_checkpoint``, which also restores
            the model's dropout generators): epochs ``initial_epoch .. epochs - 1`` run, and
            schedules see the samples already seen. With an int seed the shuffles of the epochs
            done are replayed, so the run continues bit for bit as an uninterrupted one.
        threads: split every batch over this many threads, each running a replica of the model
            that shares its parameters, with BLAS single-threaded (``parallel.DataParallel``). The
            steps are the one-thread steps up to float rounding (dropout draws the same masks);
            on 2 cores LeNet trains faster this way (``benchmarks/lenet.py`` measures it). Models
            that change state in training (spectral normalisation, the GP layer) need 1.
    Returns:
        History with per-epoch ``loss`` and ``accuracy`` (argmax of the model output), and
        ``val_loss`` and ``val_accuracy`` with validation data.
    Raises:
        ValueError / TypeError, naming the argument, before anything changes.
        FloatingPointError for a non-finite loss, after restoring the model and optimizer to the
        start of that epoch (any other error mid-epoch restores them the same way).
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(initial_epoch, "initial_epoch", minimum=0)
    if initial_epoch >= epochs:
        raise ValueError(f"initial_epoch must be < epochs ({epochs}), got {initial_epoch}")
    check_model(model, "model")
    check_loss(loss)
    check_float_dtype(model.dtype, "model dtype")
    check_optimizer(optimizer, model)
    parallel = DataParallel(model, threads)             # checks threads and the model, changes nothing
    callbacks = check_callbacks(callbacks)
    rng = as_generator(seed)
    x, y = check_data(model, loss, x, y, ("x", "y"))
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError(f"validation_data must be a pair (x_val, y_val), got {type(validation_data).__name__}")
        validation_data = check_data(model, loss, *validation_data, ("validation_data[0]", "validation_data[1]"))

    if not isinstance(seed, np.random.Generator):
        for _ in range(initial_epoch):      # replay the shuffles of the epochs already done
            rng.permutation(x.shape[0])
    callbacks += [loss] if isinstance(loss, Callback) else []
    for m in model.modules():
        for cb in m.training_callbacks():
            if not any(type(other) is type(cb) for other in callbacks):
                callbacks.append(cb)
    trainer = Trainer(model, loss, optimizer, epochs, x.shape[0], epoch=initial_epoch,
                      samples_seen=initial_epoch * x.shape[0])
    callbacks = CallbackList(callbacks, model)
    model.stop_training = False                         # Keras' flag, which a callback may set
    callbacks.call("on_train_begin", trainer)
    bar = progress_bar(range(initial_epoch, epochs), progress, desc="fit", unit="epoch")
    with parallel:
        for epoch in bar:
            trainer.epoch = epoch
            logs = run_restorable_epoch(trainer, parallel, x, y, batch_size, callbacks, rng, validation_data)
            for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if name in logs:
                    getattr(trainer.history, name).append(logs[name])
            bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            callbacks.call("on_epoch_end", trainer, logs)
            if trainer.stop_training or model.stop_training:
                trainer.stop_training = True
                break
    callbacks.call("on_train_end", trainer)
    return trainer.history


def run_restorable_epoch(trainer, parallel, x, y, batch_size, callbacks, rng, validation_data):
    """One epoch and its validation; on any error, the model, the optimizer and the step counts go
    back to the start of the epoch, and the error says so."""
    model, optimizer = trainer.model, trainer.optimizer
    saved = (model.state_dict(), optimizer.state_dict(), trainer.step, trainer.samples_seen,
             model.generator_states(), rng.bit_generator.state)
    try:
        logs = run_epoch(trainer, parallel, x, y, batch_size, callbacks, rng)
        if validation_data is not None:
            logs.update(evaluate_loss(model, trainer.loss, *validation_data, batch_size, parallel.threads))
        return logs
    except BaseException as err:
        model.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        trainer.step, trainer.samples_seen = saved[2], saved[3]
        model.load_generator_states(saved[4])
        rng.bit_generator.state = saved[5]            # the data order's generator too
        note = (f"fit restored the model, its generators and the optimizer to the start of epoch {trainer.epoch} "
                "(epochs before it completed; the history so far is in err.history).")
        if hasattr(err, "add_note"):        # Python >= 3.11
            err.add_note(note)
        err.history = trainer.history
        raise


def run_epoch(trainer, parallel, x, y, batch_size, callbacks, rng):
    """One pass over (x, y) in a random order; returns the epoch's mean loss and accuracy.
    ``parallel`` (a ``DataParallel`` on the model) runs the forward and backward passes."""
    model, loss, optimizer = trainer.model, trainer.loss, trainer.optimizer
    xp = get_array_module(x)
    # Only modules that define a regulariser are visited each step (walking the whole tree twice
    # a step cost about 60 us, 5% of a DeepResNet step).
    penalised = [m for m in model.modules() if type(m).own_penalty is not Module.own_penalty]
    callbacks.call("on_epoch_begin", trainer)
    order = xp.asarray(rng.permutation(x.shape[0]))
    loss_sum, correct, term_sums = 0.0, xp.zeros((), dtype=np.int64), {}
    for start in range(0, x.shape[0], batch_size):
        index = order[start:start + batch_size]
        xb, yb = x[index], y[index]
        callbacks.call("on_batch_begin", trainer, len(index))
        optimizer.zero_grad()
        out = parallel.forward(xb)
        batch_loss = float(loss(out, yb) + sum(m.own_penalty() for m in penalised))
        if not np.isfinite(batch_loss):
            raise FloatingPointError(f"training loss became {batch_loss} in epoch {trainer.epoch}, "
                                     f"batch {start // batch_size}: lower the learning rate, or check the data")
        parallel.backward(loss.backward())
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
        callbacks.call("on_batch_end", trainer, {"loss": batch_loss})
    for name, total in term_sums.items():
        trainer.history.record(name, total / x.shape[0])
    return {"loss": loss_sum / x.shape[0], "accuracy": float(correct) / x.shape[0]}


def evaluate_loss(model, loss, x, y, batch_size, threads=1):
    """Inference-mode loss and accuracy on validation data: {"val_loss", "val_accuracy"}."""
    out = predict_logits(model, x, batch_size=max(batch_size, 1024), threads=threads)
    value = float(loss(out, y))
    labels = y if y.ndim == 1 else y.argmax(axis=1)
    return {"val_loss": value, "val_accuracy": float((out.argmax(axis=1) == labels).mean())}


def predict_logits(model, x, batch_size=4096, threads=1):
    """Inference-mode outputs of ``model`` on ``x`` (logits, for a classifier): (N, ...) -> (N, K), in
    batches, as one array on the model's device. A model's ``predict`` / ``predict_proba`` give
    probabilities.

    ``threads`` > 1 splits every batch into that many parts and runs them at once on Python threads
    (numba kernels and BLAS release the GIL), with BLAS single-threaded for the whole call:
    on 2 cores that beats BLAS's own threading for LeNet (``benchmarks/lenet.py`` measures both).
    Inference passes under ``without_caches`` keep nothing that an output depends on, so the parts
    do not interfere. Not for passes that change state (MC-dropout masks, GP precision refits):
    those run one batch at a time.
    """
    check_model(model, "model")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(threads, "threads")
    x = model.as_input(check_batch(x, "x"))
    xp = get_array_module(x)
    batches = [x[i:i + batch_size] for i in range(0, x.shape[0], batch_size)]
    with without_caches(model):
        if threads == 1 or xp is not np:
            outs = [model(batch, training=False) for batch in batches]
        else:
            outs = run_split(model, batches, threads)
    return xp.concatenate(outs, axis=0)


def run_split(model, batches, threads):
    """Inference of every batch, each split into ``threads`` parts, all parts queued at once on the
    pool: a thread that finishes its part takes the next (of this batch or the next) instead of
    waiting for the others at every batch."""
    def part(chunk):
        return model(chunk, training=False)

    with single_threaded_blas_pool(threads) as pool:
        # slice_bounds never makes an empty slice (np.array_split did for a batch of fewer rows than
        # threads, and a model cannot run on zero rows)
        futures = [pool.submit(part, batch[start:stop]) for batch in batches
                   for start, stop in slice_bounds(batch.shape[0], threads)]
        return [future.result() for future in futures]


def predict(model, x, batch_size=4096, threads=1):
    """Deprecated name of ``predict_logits`` (it returns logits, while ``model.predict`` returns
    probabilities: one name had two meanings)."""
    warnings.warn("numpyuq.training.predict returns logits and is renamed predict_logits; "
                  "model.predict_proba(x) gives probabilities", DeprecationWarning, stacklevel=2)
    return predict_logits(model, x, batch_size=batch_size, threads=threads)


__all__ = ["fit", "predict_logits", "predict", "Callback", "History", "Trainer", "progress_bar"]
