"""What every numpyuq model (and method wrapper) answers, the same way:

    predict_proba(x)  class probabilities (N, K), the way the method defines them: softmax for a
                      plain network, the mean-field softmax for SNGP, alpha / S for an evidential
                      network, the mean over members or dropout masks for ensembles and MC dropout
    predict(x)        the same probabilities (Keras' name; scikit-learn's ``predict_proba``)
    uncertainty(x)    the method's own uncertainty score (N,), higher = less certain; what it is
                      is in the class attribute ``uncertainty_kind``
    predict_with_uncertainty(x)   both, from one prediction pass
    predict_logits(x) logits (N, K) (log-probabilities where a method has no single logits)
    evaluate(x, y)    accuracy, NLL, Brier score and ECE of ``predict_proba``
"""

from ..backend import get_array_module
from ..losses.cross_entropy import softmax
from ..metrics import classification_metrics
from ..nn.module import without_caches
from ..training import predict_logits
from ..uncertainty.dirichlet import uncertainty_mass_from_logits
from ..uncertainty.sngp import mean_field_logits
from ..validation import as_labels, check_batch, check_positive_int


class Classifier:
    """Mixin for a Module whose forward pass gives (N, K) logits.

    The models check their own input in their forward pass, in the user's terms.
    """

    uncertainty_kind = "uncertainty mass K / (K + sum_k exp z_k) of the logits z (Dempster-Shafer)"

    def predict_logits(self, x, batch_size=4096):
        """Inference-mode logits: (N, *input_shape) -> (N, K), on the model's device."""
        return predict_logits(self, x, batch_size=batch_size)

    def predict(self, x, batch_size=4096):
        """Class probabilities (N, K): softmax of the logits, unless the method says otherwise."""
        return softmax(self.predict_logits(x, batch_size=batch_size))

    def predict_proba(self, x, batch_size=4096):
        """Class probabilities (N, K): the same as ``predict`` (scikit-learn's name)."""
        return self.predict(x, batch_size=batch_size)

    def uncertainty(self, x, batch_size=4096):
        """The method's own uncertainty score (N,), higher = less certain (see ``uncertainty_kind``)."""
        return self.predict_with_uncertainty(x, batch_size=batch_size)[1]

    def predict_with_uncertainty(self, x, batch_size=4096):
        """(``predict_proba(x)``, ``uncertainty(x)``) from one pass: (N, K), (N,)."""
        logits = self.predict_logits(x, batch_size=batch_size)
        return softmax(logits), uncertainty_mass_from_logits(logits)

    def evaluate(self, x, y, batch_size=4096):
        """``metrics.classification_metrics`` of ``predict(x)`` against labels y (N,):
        {"accuracy", "nll", "brier", "ece"}."""
        probs = self.predict(x, batch_size=batch_size)
        return classification_metrics(probs, as_labels(y, "y", probs.shape[1], len(probs)))


class GaussianProcessClassifier(Classifier):
    """Mixin for SNGP models: ``features(x)`` then a ``RandomFeatureGP`` in ``self.classifier``.

    ``predict`` is the mean-field probability (Liu et al. 2020, eq. 10), ``predict_with_variance``
    the posterior-mean logits and the GP variance, the method's own uncertainty.
    """

    uncertainty_kind = "GP posterior variance of the logits (Liu et al. 2020)"

    def predict_with_uncertainty(self, x, batch_size=2048):
        """(mean-field probabilities (N, K), GP variance (N,)) from one pass."""
        logits, variance = self.predict_with_variance(x, batch_size=batch_size)
        return softmax(mean_field_logits(logits, variance)), variance

    def predict(self, x, batch_size=2048):
        """Mean-field probabilities (N, K): softmax(logits / sqrt(1 + pi/8 variance)) (eq. 10)."""
        logits, variance = self.predict_with_variance(x, batch_size=batch_size)
        return softmax(mean_field_logits(logits, variance))

    def predict_with_variance(self, x, return_covmat=False, batch_size=2048):
        """Inference: posterior-mean logits (N, K) and the GP variance (N,) (or the (N, N) covariance).

        A pure function of x and the model's state (it does not depend on which pass ran last).
        Batched, so a 10,000-point grid never needs a 10,000^2 matrix unless ``return_covmat``.
        """
        check_positive_int(batch_size, "batch_size")
        x = self.as_input(check_batch(x, "x"))
        xp = get_array_module(x)
        with without_caches(self):           # features checks x; inference keeps no caches
            if return_covmat:
                return self.classifier.predict(self.features(x), return_covmat=True)
            parts = [self.classifier.predict(self.features(x[start:start + batch_size]))
                     for start in range(0, x.shape[0], batch_size)]
        return xp.concatenate([p[0] for p in parts]), xp.concatenate([p[1] for p in parts])


class SequentialGaussianProcessClassifier(GaussianProcessClassifier):
    """Mixin for SNGP models that are a ``Sequential`` whose last layer is the ``RandomFeatureGP``
    (``LeNetSNGP``, ``LeNet5SNGP``): the features are every layer but the last."""

    @property
    def classifier(self):
        """The GP output layer."""
        return self.layers[-1]

    def features(self, x, training=False):
        """The hidden representation the GP sees: (N, ...) -> (N, hidden)."""
        self.check_input(x)
        for layer in self.layers[:-1]:
            x = layer(x, training=training)
        return x
