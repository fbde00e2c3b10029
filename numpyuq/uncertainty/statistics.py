"""Per-epoch evidential statistics during ``fit``, as labml's ``TrackStatistics`` (the EDL seed)."""
from ..backend import array_in, get_array_module, to_numpy
from ..callbacks import Callback
from ..training import predict_logits
from .dirichlet import evidential_statistics


class TrackStatistics(Callback):
    """At the end of every epoch, evaluate the model (which outputs evidence) on (x, y) and record
    accuracy, mean u and mean max p of correct and wrong predictions into ``History.metrics`` as
    ``<name>_accuracy``, ``<name>_u_correct``, ... . With ``verbose`` it also prints them.

    Args:
        x: (N, ...) inputs.
        y: (N,) integer labels.
        name: prefix of the recorded metrics.
    """

    def __init__(self, x, y, name="test", batch_size=1024, verbose=False):
        if not hasattr(x, "shape") or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty array, got {getattr(x, 'shape', type(x).__name__)}")
        labels = to_numpy(y)
        if labels.ndim != 1 or labels.shape[0] != x.shape[0] or labels.dtype.kind not in "iu":
            raise ValueError(f"y must be {x.shape[0]} integer labels of shape ({x.shape[0]},), "
                             f"got shape {labels.shape} and dtype {labels.dtype}")
        self.x, self.y, self.name, self.batch_size, self.verbose = x, y, name, batch_size, verbose

    def on_epoch_end(self, trainer, logs):
        evidence = predict_logits(trainer.model, self.x, batch_size=self.batch_size)     # on the model's device
        stats = evidential_statistics(evidence, array_in(self.y, get_array_module(evidence)))
        for key, value in stats.items():
            trainer.history.record(f"{self.name}_{key}", value)
        if self.verbose:
            extra = "".join(f", {k} {trainer.history.metrics[k][-1]:.4f}" for k in ("kl", "kl_coef")
                            if k in trainer.history.metrics)
            print(f"epoch {trainer.epoch + 1:3d}/{trainer.epochs}: loss {logs['loss']:.4f}{extra}; "
                  f"{self.name} accuracy {stats['accuracy']:.4f}, u correct {stats['u_correct']:.3f}, "
                  f"u wrong {stats['u_wrong']:.3f}, max p correct {stats['p_correct']:.3f}, "
                  f"wrong {stats['p_wrong']:.3f}", flush=True)
