"""Optimizers over flat parameter buffers, and schedules."""
from .adam import Adam, keras_adam, labml_adam
from .schedules import RelativePiecewise
from .sgd import SGD

__all__ = ["Adam", "keras_adam", "labml_adam", "SGD", "RelativePiecewise"]
