"""The EDL objective: an evidential loss plus the KL regulariser with an annealed coefficient,

    L = risk(e, y) + min(1, lambda_t) KL(Dir(alpha~) || Dir(1))

(Sensoy et al. 2018, eq. 5 with the annealing of section 3). The KL term pulls the evidence of
wrong classes to zero; switched on from the start it would also stop the network from collecting
evidence for the right class, so its weight grows from 0 as training proceeds. Two schedules:

``"labml"`` (the EDL seed): labml's ``RelativePiecewise([(0, 0), (0.2, 0.01), (1, 1)])`` over
    epochs x training samples, read after the sample counter has been advanced by the batch size;
``"paper"``: lambda_t = min(1, t / annealing_epochs) with t the epoch index from 0, as Sensoy et
    al.'s code and its public PyTorch ports do (annealing_epochs = 10).

The objective is a ``Loss`` and a ``training.Callback`` at once: ``fit`` calls a loss that is a
callback like any other callback, so the schedule sees the epoch and sample counters without a
second training loop. After each forward, ``terms`` holds the risk, the KL term and the
coefficient; ``fit`` averages them per epoch into ``History.metrics``.
"""
from ..callbacks import Callback
from ..optim.schedules import RelativePiecewise
from ..validation import check_choice, check_real
from .base import Loss
from .evidential import (LOSSES, EvidentialLoss, as_targets, check_evidence, kl_divergence_backward,
                         kl_divergence_forward)

LABML_ENDPOINTS = ((0, 0.0), (0.2, 0.01), (1, 1.0))
SCHEDULES = ("labml", "paper", "none")


class AnnealedEvidentialLoss(Loss, Callback):
    """risk + min(1, lambda_t) KL, with lambda_t from the chosen schedule.

    Args:
        risk: an ``EvidentialLoss`` or its name: ``"mse"`` (SquaredErrorBayesRisk, the seed's),
            ``"digamma"`` (CrossEntropyBayesRisk) or ``"log"`` (MaximumLikelihoodLoss).
        schedule: ``"labml"`` (default), ``"paper"`` or ``"none"`` (no KL term).
        annealing_epochs: the paper schedule's 10.
        endpoints: the labml schedule's (fraction of training, value) pairs.
    forward(evidence (N, K), targets (N,) or (N, K)) -> scalar; backward(dy=1) -> (N, K).
    """

    def __init__(self, risk="mse", schedule="labml", annealing_epochs=10, endpoints=LABML_ENDPOINTS):
        if isinstance(risk, str):
            if risk not in LOSSES:
                raise ValueError(f"risk must be an EvidentialLoss or one of {tuple(LOSSES)}, got {risk!r}")
            risk = LOSSES[risk]()
        elif not isinstance(risk, EvidentialLoss):
            raise TypeError(f"risk must be an EvidentialLoss or one of {tuple(LOSSES)}, got {type(risk).__name__}")
        check_choice(schedule, "schedule", SCHEDULES)
        check_real(annealing_epochs, "annealing_epochs", above=0)
        self.risk, self.schedule = risk, schedule
        self.annealing_epochs, self.endpoints = annealing_epochs, tuple(endpoints)
        self.kl_coef = 0.0
        self.terms = {}
        self._piecewise = None

    # ---- the schedule, driven by fit ------------------------------------------------------------
    def check_targets(self, targets, num_outputs, name="targets"):
        self.risk.check_targets(targets, num_outputs, name)

    def on_train_begin(self, trainer):
        """Each fit schedules its own length, also one that resumes at a later epoch: the schedule
        reads the samples seen, which ``fit`` counts from ``initial_epoch``."""
        if self.schedule == "labml":
            self._piecewise = RelativePiecewise(self.endpoints, trainer.epochs * trainer.num_samples)

    def on_epoch_begin(self, trainer):
        if self.schedule == "labml" and (self._piecewise is None or trainer.epoch == 0):
            self.on_train_begin(trainer)
        elif self.schedule == "paper":
            self.kl_coef = min(1.0, trainer.epoch / self.annealing_epochs)

    def on_batch_begin(self, trainer, batch_size):
        if self.schedule == "labml":
            # labml advances its global step by the batch size before the loss reads the schedule.
            self.kl_coef = min(1.0, self._piecewise(trainer.samples_seen + batch_size))

    # ---- the loss --------------------------------------------------------------------------------
    def forward(self, evidence, targets):
        # Validated once, then both terms run their pure pairs on the same one-hot targets.
        check_evidence(evidence)
        targets = as_targets(targets, evidence.shape[1], evidence.shape[0])
        risk_forward, _ = self.risk.pair
        risk, self._risk_cache = risk_forward(evidence, targets)
        if self.schedule == "none":
            self.terms = {"risk": float(risk)}
            return risk
        kl, self._kl_cache = kl_divergence_forward(evidence, targets)
        self.terms = {"risk": float(risk), "kl": float(kl), "kl_coef": self.kl_coef}
        return risk + self.kl_coef * kl

    def backward(self, dy=1.0):
        _, risk_backward = self.risk.pair
        (devidence,) = risk_backward(dy, self._risk_cache)
        if self.schedule != "none" and self.kl_coef:
            devidence = devidence + kl_divergence_backward(dy * self.kl_coef, self._kl_cache)[0]
        return devidence

    def __repr__(self):
        return f"AnnealedEvidentialLoss({type(self.risk).__name__}(), schedule={self.schedule!r})"
