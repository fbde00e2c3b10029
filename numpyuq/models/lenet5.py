"""LeNet5 as uncertainty-baselines builds it for (Fashion-)MNIST, and its SNGP version.

google/uncertainty-baselines, ``baselines/mnist/utils.py`` (``lenet5``), in Keras:

    Conv2D(6, 5x5, SAME, ReLU) - MaxPool(2) - Conv2D(16, 5x5, SAME, ReLU) - MaxPool(2)
    - Conv2D(120, 5x5, SAME, ReLU) - Flatten (7 x 7 x 120 = 5,880) - Dense(84, ReLU) - Dense(10)

with Keras' defaults: Glorot-uniform kernels, zero biases, and the flatten of channels-last maps.
Here SAME is padding 2 (5 x 5 kernels, stride 1), each MaxPool is fused into the convolution before
it (``Conv2D(pool=2)``), and inside the network the maps are channels-last (``ChannelsLast``), so
``Flatten`` orders the 5,880 features (h, w, c) exactly as Keras does. Inputs are NCHW
(N, 1, 28, 28), as everywhere in numpyuq.
"""
import numpy as np

from ..nn import ChannelsLast, Conv2D, Dense, Dropout, Flatten, RandomFeatureGP, Sequential, SpectralNorm
from ..seeding import as_generator
from ..validation import check_positive_int, check_positive_ints, check_probability, check_real
from .classifier import Classifier, SequentialGaussianProcessClassifier
from .lenet import GrayscaleImageInput

CHANNELS = (6, 16, 120)
HIDDEN = 84


class LeNet5(GrayscaleImageInput, Classifier, Sequential):
    """uncertainty-baselines' LeNet5.   x: (N, 1, 28, 28) in [0, 1] -> logits (N, num_classes).

    Args:
        num_classes: 10 for (Fashion-)MNIST.
        dropout_rate: 0 (default: the published network has none) or the rate of a Dropout before
            the last layer, where MC dropout needs one (numpyuq's extension; the rate is the caller's).
        spec_norm_bound: None (off) or c: every convolution and the hidden Dense layer spectrally
            normalised to norm <= c (a Lipschitz cap; the feature map of DDU and SNGP).
        seed: fixes every weight and dropout mask.
        channels, num_hidden: (6, 16, 120) and 84 as published; smaller for whole-network gradient
            checks.
        input_grad: False (default) skips the gradient with respect to the images.
    The layer hooks ``make_conv_layer``, ``make_dense_layer`` and ``make_output_layer`` are the ones
    ``LeNet`` has; ``LeNet5SNGP`` overrides the last.
    """

    input_shape = (1, 28, 28)

    def __init__(self, num_classes=10, dropout_rate=0.0, spec_norm_bound=None, seed=0, channels=CHANNELS,
                 num_hidden=HIDDEN, input_grad=False, dtype=np.float32):
        check_positive_int(num_classes, "num_classes", minimum=2)
        check_positive_int(num_hidden, "num_hidden")
        check_positive_ints(channels, "channels", 3)
        check_probability(dropout_rate, "dropout_rate")
        if spec_norm_bound is not None:
            check_real(spec_norm_bound, "spec_norm_bound", above=0)
        rng = as_generator(seed)
        self.spec_norm_bound, self._dtype, self.dropout_rate = spec_norm_bound, dtype, dropout_rate
        c1, c2, c3 = channels
        layers = [ChannelsLast(),                                                      # (N, 28, 28, 1)
                  self.make_conv_layer(1, c1, 28, rng, pool=2, input_grad=input_grad),   # (N, 14, 14, 6)
                  self.make_conv_layer(c1, c2, 14, rng, pool=2),                         # (N, 7, 7, 16)
                  self.make_conv_layer(c2, c3, 7, rng),                                  # (N, 7, 7, 120)
                  Flatten(),                                                             # (N, 5880), Keras' order
                  self.make_dense_layer(7 * 7 * c3, num_hidden, rng)]
        if dropout_rate > 0:
            layers.append(Dropout(dropout_rate, rng.spawn(1)[0]))
        layers.append(self.make_output_layer(num_hidden, num_classes, rng))
        self.num_classes = num_classes
        super().__init__(*layers)

    def make_conv_layer(self, in_channels, out_channels, size, rng, pool=None, input_grad=True):
        """A 5 x 5 SAME convolution + ReLU (+ 2 x 2 max-pool) on size x size channels-last maps."""
        conv = Conv2D(in_channels, out_channels, 5, padding=2, activation="relu", pool=pool, input_grad=input_grad,
                      seed=rng, dtype=self._dtype, data_format="NHWC", init="glorot_uniform")
        if self.spec_norm_bound is None:
            return conv
        return SpectralNorm(conv, norm_multiplier=self.spec_norm_bound, seed=rng, semantics="operator",
                            input_shape=(size, size, in_channels))

    def make_dense_layer(self, in_features, hidden, rng):
        """The hidden Dense(84) + ReLU."""
        dense = Dense(in_features, hidden, activation="relu", seed=rng, dtype=self._dtype)
        if self.spec_norm_bound is None:
            return dense
        return SpectralNorm(dense, norm_multiplier=self.spec_norm_bound, seed=rng)

    def make_output_layer(self, hidden, num_classes, rng):
        """Dense to the logits."""
        return Dense(hidden, num_classes, seed=rng, dtype=self._dtype)


class LeNet5SNGP(LeNet5, SequentialGaussianProcessClassifier):
    """SNGP on LeNet5 (Liu et al. 2020): spectrally normalised convolutions and hidden layer (bound
    3, as ``LeNetSNGP``) and a random-feature GP output layer whose input is LayerNormed and scaled
    by 1 / sqrt(84) (``kernel_scale = 84``), as ``LeNetSNGP`` explains."""

    def __init__(self, num_classes=10, spec_norm_bound=3.0, num_inducing=1024, gp_kwargs=None, **kwargs):
        self.gp_kwargs = dict(num_inducing=num_inducing, **{"normalize_input": True, **(gp_kwargs or {})})
        super().__init__(num_classes=num_classes, spec_norm_bound=spec_norm_bound, **kwargs)

    def make_output_layer(self, hidden, num_classes, rng):
        return RandomFeatureGP(hidden, num_classes, seed=rng, dtype=self._dtype,
                               **{"kernel_scale": float(hidden), **self.gp_kwargs})
