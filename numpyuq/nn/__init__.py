"""Layers with hand-written forward and backward passes."""
from .activations import ReLU, Softplus
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout, dropout_at_inference
from .evidence import Evidence
from .gaussian_process import RandomFeatureGP
from .module import Module, Parameter, without_caches
from .normalization import LayerNorm
from .pooling import MaxPool2D
from .reshape import ChannelsLast, Flatten
from .residual import Residual
from .sequential import Sequential
from .spectral_norm import SpectralNorm

__all__ = ["Module", "Parameter", "Sequential", "Dense", "Conv2D", "MaxPool2D", "ReLU", "Softplus", "Dropout", "Flatten",
           "Residual", "LayerNorm", "ChannelsLast", "SpectralNorm", "RandomFeatureGP", "Evidence",
           "dropout_at_inference", "without_caches"]
