"""Monte-Carlo dropout (Gal & Ghahramani 2016): average the softmax over dropout masks at test time."""

from ..backend import get_array_module
from ..losses.cross_entropy import softmax
from ..metrics import classification_metrics, mutual_information
from ..nn.dropout import dropout_at_inference
from ..nn.module import Module, without_caches
from ..seeding import as_generator
from ..validation import as_labels, check_batch, check_positive_int


def mc_dropout_predict(model, x, num_samples=10, return_samples=False, batch_size=4096, seed=0):
    """Mean of softmax(model(x)) over ``num_samples`` dropout masks.

    Only dropout is switched on: the pass is otherwise an inference pass, so spectral-norm vectors
    and GP precisions are left untouched.

    Args:
        model: a Module with Dropout layers.
        x: (N, D).
        num_samples: >= 1.
        seed: the masks' seed (the same call twice gives the same result; the model's own dropout
            generators are left as they were). None: continue the model's own generators.
    Returns:
        probs (N, K) on the model's device; with ``return_samples`` also the per-sample probs (S, N, K).
    """
    check_positive_int(num_samples, "num_samples")
    check_positive_int(batch_size, "batch_size")
    if seed is not None:
        as_generator(seed)                      # checked before anything runs
    x = model.as_input(check_batch(x, "x"))
    xp = get_array_module(x)
    samples = []
    with dropout_at_inference(model, seed), without_caches(model):      # inference: nothing kept for backward
        for _ in range(num_samples):
            samples.append(xp.concatenate([softmax(model(x[i:i + batch_size]))
                                           for i in range(0, x.shape[0], batch_size)]))
    samples = xp.stack(samples)
    probs = samples.mean(axis=0)
    return (probs, samples) if return_samples else probs


class MCDropout:
    """MC dropout as a model: the face every numpyuq model has (``predict_proba``, ``uncertainty``,
    ``predict_logits``, ``evaluate``) for a trained network with Dropout layers.

    Args:
        model: a trained Module with Dropout layers.
        num_samples: dropout masks per prediction (10).
        seed: the masks' seed (each call draws the same masks; see ``mc_dropout_predict``).
    """

    uncertainty_kind = "mutual information between the prediction and the dropout mask (Gal & Ghahramani 2016)"

    def __init__(self, model, num_samples=10, seed=0):
        if not isinstance(model, Module):
            raise TypeError(f"model must be a numpyuq Module, got {type(model).__name__}")
        check_positive_int(num_samples, "num_samples")
        as_generator(seed)
        self.model, self.num_samples, self.seed = model, num_samples, seed

    def predict_samples(self, x, batch_size=4096):
        """(probs (N, K), per-mask probs (num_samples, N, K))."""
        return mc_dropout_predict(self.model, x, self.num_samples, return_samples=True, batch_size=batch_size,
                                  seed=self.seed)

    def predict(self, x, batch_size=4096):
        """Mean softmax over the dropout masks (N, K)."""
        return self.predict_samples(x, batch_size)[0]

    def predict_proba(self, x, batch_size=4096):
        """The same as ``predict`` (scikit-learn's name)."""
        return self.predict(x, batch_size)

    def predict_logits(self, x, batch_size=4096):
        """log of the mean probability (N, K) (MC dropout has no single set of logits)."""
        probs = self.predict(x, batch_size)
        xp = get_array_module(probs)
        return xp.log(xp.maximum(probs, xp.finfo(probs.dtype).tiny))

    def uncertainty(self, x, batch_size=4096):
        """Mutual information (N,) between the prediction and the mask: the masks' disagreement."""
        return self.predict_with_uncertainty(x, batch_size)[1]

    def predict_with_uncertainty(self, x, batch_size=4096):
        """(mean softmax (N, K), mutual information (N,)) from one set of masked passes."""
        probs, samples = self.predict_samples(x, batch_size)
        return probs, mutual_information(samples)

    def evaluate(self, x, y, batch_size=4096):
        """``metrics.classification_metrics`` of ``predict(x)``: accuracy, nll, brier, ece."""
        probs = self.predict(x, batch_size)
        return classification_metrics(probs, as_labels(y, "y", probs.shape[1], len(probs), like=probs))

    def __repr__(self):
        return f"MCDropout({self.model!r}, num_samples={self.num_samples})"
