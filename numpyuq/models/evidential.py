"""Evidential classifiers (Sensoy et al. 2018): any backbone that outputs K logits, followed by an
evidence function; the output is the evidence of a Dirichlet over the class probabilities."""
import numpy as np

from ..nn import Evidence, Module
from ..training import predict_logits
from ..uncertainty.dirichlet import dirichlet_measures
from .classifier import Classifier


class EvidentialClassifier(Module, Classifier):
    """evidence = Evidence(function)(backbone(x)).  x: the backbone's input -> evidence (N, K).

    Args:
        backbone: a Module that outputs logits (N, K), e.g. ``LeNet``.
        evidence: ``"softplus"`` (the EDL seed), ``"relu"`` or ``"exp"``.
    ``predict(x)`` gives the expected probabilities alpha / S, ``predict_logits(x)`` the backbone's
    logits, ``uncertainty(x)`` u = K / S and ``measures(x)`` every closed-form Dirichlet measure
    (``uncertainty.dirichlet_measures``).
    """

    splittable = True
    uncertainty_kind = "uncertainty mass u = K / S of the Dirichlet (Sensoy et al. 2018)"

    def __init__(self, backbone, evidence="softplus"):
        if not isinstance(backbone, Module):
            raise TypeError(f"backbone must be a numpyuq Module, got {type(backbone).__name__}")
        self.backbone = backbone
        self.evidence = evidence if isinstance(evidence, Evidence) else Evidence(evidence)

    def check_input(self, x):
        """The backbone's check of its input, when it has one."""
        check_input = getattr(self.backbone, "check_input", None)
        if check_input is not None:
            check_input(x)

    def forward(self, x, training=False):
        return self.evidence(self.backbone(x, training=training), training=training)

    def backward(self, dy):
        return self.backbone.backward(self.evidence.backward(dy))

    def measures(self, x, batch_size=4096):
        """Every Dirichlet measure of the model's evidence on x (float64, on the model's device)."""
        return dirichlet_measures(predict_logits(self, x, batch_size=batch_size).astype(np.float64))

    def predict_logits(self, x, batch_size=4096):
        """The backbone's logits (N, K), before the evidence function."""
        return predict_logits(self.backbone, x, batch_size=batch_size)

    def predict(self, x, batch_size=4096):
        """Expected class probabilities alpha / S: (N, K)."""
        return self.measures(x, batch_size).probs

    def uncertainty(self, x, batch_size=4096):
        """Uncertainty mass u = K / S: (N,)."""
        return self.measures(x, batch_size).uncertainty_mass

    def predict_with_uncertainty(self, x, batch_size=4096):
        """(alpha / S (N, K), u = K / S (N,)) from one pass."""
        measures = self.measures(x, batch_size)
        return measures.probs, measures.uncertainty_mass

    def __repr__(self):
        return f"EvidentialClassifier({self.backbone!r}, {self.evidence!r})"
