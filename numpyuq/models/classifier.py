"""What every numpyuq model offers its users: ``predict_logits``, ``predict``, ``evaluate``.

Like Keras' ``Model.predict`` / ``evaluate`` and scikit-learn's ``predict_proba``: ``predict`` returns
class probabilities *the way the model's method defines them* (softmax for a plain network, the
mean-field softmax for SNGP, alpha / S for an evidential network), so code comparing methods calls
one name.
"""
from ..losses.cross_entropy import softmax
from ..metrics import classification_metrics
from ..training import predict as batched_predict
from ..validation import as_labels


class Classifier:
    """Mixin for a Module whose forward pass gives (N, K) logits.

    Subclasses describe their input with ``input_shape`` (one example's shape) and may override
    ``check_input`` to explain a wrong shape in the user's terms.
    """

    input_shape = None

    def check_input(self, x):
        """Raise, naming ``x`` and the expected shape, unless x is (N, *input_shape)."""
        if self.input_shape is not None and tuple(x.shape[1:]) != tuple(self.input_shape):
            expected = ", ".join(["N", *map(str, self.input_shape)])
            raise ValueError(f"{type(self).__name__} input x must have shape ({expected}), "
                             f"got {tuple(x.shape)}")

    def predict_logits(self, x, batch_size=4096):
        """Inference-mode logits: (N, *input_shape) -> (N, K), on the model's device."""
        return batched_predict(self, x, batch_size=batch_size)

    def predict(self, x, batch_size=4096):
        """Class probabilities (N, K): softmax of the logits, unless the method says otherwise."""
        return softmax(self.predict_logits(x, batch_size=batch_size))

    def evaluate(self, x, y, batch_size=4096):
        """``metrics.classification_metrics`` of ``predict(x)`` against labels y (N,):
        {"accuracy", "nll", "brier", "ece"}."""
        probs = self.predict(x, batch_size=batch_size)
        return classification_metrics(probs, as_labels(y, "y", probs.shape[1], len(probs)))
