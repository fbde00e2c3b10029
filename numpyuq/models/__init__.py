"""Reference models of the two seeds."""
from .resnet import DeepResNet

__all__ = ["DeepResNet"]
