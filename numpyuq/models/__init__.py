"""Reference models of the two seeds."""
from .resnet import DeepResNet, DeepResNetSNGP

__all__ = ["DeepResNet", "DeepResNetSNGP"]
