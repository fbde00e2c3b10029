"""Softmax cross-entropy with integer labels, averaged over the batch."""
from ..backend import get_array_module
from ..validation import check_features, check_labels
from .base import Loss


def log_softmax(logits):
    """log p = z - max(z) - log sum exp(z - max(z)): shifting by the row max keeps exp <= 1.

    logits: (N, K) -> (N, K).
    """
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits):
    """Row-wise softmax, stable for any logit magnitude.  logits: (N, K) -> (N, K)."""
    return get_array_module(logits).exp(log_softmax(logits))


def softmax_cross_entropy_forward(logits, labels):
    """L = -(1/N) sum_n log softmax(z_n)[y_n].  logits: (N, K), labels: (N,) int -> scalar."""
    xp = get_array_module(logits)
    log_p = log_softmax(logits)
    n = logits.shape[0]
    loss = -log_p[xp.arange(n), labels].mean()
    return loss, (log_p, labels)


def softmax_cross_entropy_backward(dy, cache):
    """dL/dz = (softmax(z) - onehot(y)) / N, times the upstream scalar dy."""
    log_p, labels = cache
    xp = get_array_module(log_p)
    n = log_p.shape[0]
    dlogits = xp.exp(log_p)
    dlogits[xp.arange(n), labels] -= 1
    return (dlogits * (dy / n),)


class SoftmaxCrossEntropy(Loss):
    """Mean negative log-likelihood of a categorical with softmax(logits).

    forward(logits: (N, K) float, labels: (N,) int in [0, K)) -> scalar; backward() -> (N, K).
    """

    def check_targets(self, targets, num_outputs, name="labels"):
        check_labels(targets, name, num_classes=num_outputs)

    def forward(self, logits, labels):
        check_features(logits, "logits", ndim=2)
        check_labels(labels, "labels", num_classes=logits.shape[1], length=logits.shape[0])
        loss, self._cache = softmax_cross_entropy_forward(logits, labels)
        return loss

    def backward(self, dy=1.0):
        (dlogits,) = softmax_cross_entropy_backward(dy, self._cache)
        return dlogits
