"""Reference models of the two seeds, and uncertainty-baselines' LeNet5."""
from .evidential import EvidentialClassifier
from .lenet import LeNet, LeNetSNGP
from .lenet5 import LeNet5, LeNet5SNGP
from .resnet import DeepResNet, DeepResNetSNGP

__all__ = ["LeNet", "LeNetSNGP", "LeNet5", "LeNet5SNGP", "DeepResNet", "DeepResNetSNGP", "EvidentialClassifier"]
