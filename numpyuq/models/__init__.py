"""Reference models of the two seeds."""
from .evidential import EvidentialClassifier
from .lenet import LeNet
from .resnet import DeepResNet, DeepResNetSNGP

__all__ = ["LeNet", "DeepResNet", "DeepResNetSNGP", "EvidentialClassifier"]
