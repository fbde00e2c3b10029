"""The small models the tests share: one place to build them, so a test says what it changes
(``tiny_resnet(num_hidden=16)``) and nothing else. Each is a public numpyuq model, shrunk."""
from numpyuq.models import DeepResNet, DeepResNetSNGP, LeNet


def tiny_resnet(num_layers=1, num_hidden=8, seed=0, num_classes=2, **kwargs):
    """The SNGP seed's DeepResNet on 2-D inputs, with 1 block of 8 units by default."""
    return DeepResNet(num_classes, num_layers=num_layers, num_hidden=num_hidden, seed=seed, **kwargs)


def tiny_sngp(num_layers=1, num_hidden=8, num_inducing=16, seed=0, num_classes=2, **kwargs):
    """DeepResNetSNGP on 2-D inputs with a 16-feature GP head."""
    return DeepResNetSNGP(num_classes, num_layers=num_layers, num_hidden=num_hidden, num_inducing=num_inducing,
                          seed=seed, **kwargs)


def tiny_lenet(channels=(2, 3), num_hidden=8, seed=0, **kwargs):
    """LeNet on (N, 1, 28, 28) images with 2 and 3 channels and 8 hidden units."""
    return LeNet(channels=channels, num_hidden=num_hidden, seed=seed, **kwargs)
