"""Losses: ``forward(inputs, targets) -> scalar``, ``backward() -> d inputs``."""
from .base import Loss
from .cross_entropy import SoftmaxCrossEntropy, log_softmax, softmax

__all__ = ["Loss", "SoftmaxCrossEntropy", "log_softmax", "softmax"]
