"""Layers with hand-written forward and backward passes."""
from .activations import ReLU, Softplus
from .dense import Dense
from .dropout import Dropout, dropout_at_inference
from .module import Module, Parameter
from .normalization import LayerNorm
from .reshape import Flatten
from .residual import Residual
from .sequential import Sequential

__all__ = ["Module", "Parameter", "Sequential", "Dense", "ReLU", "Softplus", "Dropout", "Flatten",
           "Residual", "LayerNorm", "dropout_at_inference"]
