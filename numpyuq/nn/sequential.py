"""A chain of modules; backward runs the chain in reverse."""
from .module import Module


class Sequential(Module):
    """y = f_k(... f_2(f_1(x))).  Parameters are named ``layers.<i>.<name>``.

    ``Sequential(a, b, c)`` or, as Keras writes it, ``Sequential([a, b, c])``. A network of
    classifier layers answers what every numpyuq model answers (``predict_proba``, ``predict``,
    ``predict_logits``, ``uncertainty``, ``evaluate``: see ``numpyuq.models.classifier``).
    """

    splittable = True

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                hint = " (a class: call it, e.g. ReLU())" if isinstance(layer, type) else ""
                raise TypeError(f"Sequential layers[{i}] must be a numpyuq Module, got {type(layer).__name__}{hint}")
        self.layers = list(layers)

    # The classifier face, for a user's own network: the one implementation lives in
    # models/classifier.py (models build on nn, so it is imported when first used).
    def predict_logits(self, x, batch_size=4096):
        """Inference-mode logits (N, K)."""
        from ..models.classifier import Classifier
        return Classifier.predict_logits(self, x, batch_size=batch_size)

    def predict(self, x, batch_size=4096):
        """Softmax probabilities (N, K)."""
        from ..models.classifier import Classifier
        return Classifier.predict(self, x, batch_size=batch_size)

    def predict_proba(self, x, batch_size=4096):
        """Softmax probabilities (N, K) (scikit-learn's name for ``predict``)."""
        return self.predict(x, batch_size=batch_size)

    @property
    def uncertainty_kind(self):
        from ..models.classifier import Classifier
        return Classifier.uncertainty_kind

    def uncertainty(self, x, batch_size=4096):
        """The uncertainty mass of the logits, as ``Classifier.uncertainty``."""
        from ..models.classifier import Classifier
        return Classifier.uncertainty(self, x, batch_size=batch_size)

    def predict_with_uncertainty(self, x, batch_size=4096):
        """(softmax probabilities, uncertainty mass) from one pass."""
        from ..models.classifier import Classifier
        return Classifier.predict_with_uncertainty(self, x, batch_size=batch_size)

    def evaluate(self, x, y, batch_size=4096):
        """Accuracy, NLL, Brier score and ECE of ``predict_proba(x)`` against labels y."""
        from ..models.classifier import Classifier
        return Classifier.evaluate(self, x, y, batch_size=batch_size)

    def check_input(self, x):
        """The first layer's check of its input, when it has one."""
        check_input = getattr(self.layers[0], "check_input", None) if self.layers else None
        if check_input is not None:
            check_input(x)

    def forward(self, x, training=False):
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if dy is None:            # a first layer that skips its input gradient
                return None
        return dy

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}(\n  {inner}\n)"
