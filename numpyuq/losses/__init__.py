"""Losses: ``forward(inputs, targets) -> scalar``, ``backward() -> d inputs``."""
from .annealed import AnnealedEvidentialLoss
from .base import Loss
from .cross_entropy import SoftmaxCrossEntropy, log_softmax, softmax
from .evidential import (CrossEntropyBayesRisk, KLDivergenceLoss, MaximumLikelihoodLoss,
                         SquaredErrorBayesRisk)

__all__ = ["Loss", "SoftmaxCrossEntropy", "log_softmax", "softmax", "MaximumLikelihoodLoss",
           "CrossEntropyBayesRisk", "SquaredErrorBayesRisk", "KLDivergenceLoss", "AnnealedEvidentialLoss"]
