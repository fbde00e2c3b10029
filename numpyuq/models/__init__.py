"""Reference models of the two seeds."""
from .evidential import EvidentialClassifier
from .lenet import LeNet, LeNetSNGP
from .resnet import DeepResNet, DeepResNetSNGP

__all__ = ["LeNet", "LeNetSNGP", "DeepResNet", "DeepResNetSNGP", "EvidentialClassifier"]
