"""Optimizers over flat parameter buffers, and schedules."""
from .adam import Adam
from .schedules import RelativePiecewise
from .sgd import SGD

__all__ = ["Adam", "SGD", "RelativePiecewise"]
