"""LeNet for 28 x 28 images, as in the EDL seed (labml's MNIST model), and its SNGP version."""
import numpy as np

from ..nn import ChannelsLast, Conv2D, Dense, Dropout, Flatten, RandomFeatureGP, Sequential, SpectralNorm
from ..seeding import as_generator
from ..validation import (check_choice, check_features, check_positive_int, check_positive_ints, check_probability,
                          check_real, renamed_arguments)
from .classifier import Classifier, SequentialGaussianProcessClassifier


def check_images(x, name):
    """Raise unless x is a batch of NCHW 28 x 28 one-channel images (N, 1, 28, 28), with a hint for
    the usual mistakes (channels last, no channel axis, flat rows, another size)."""
    check_features(x, name, ndim=x.ndim if hasattr(x, "ndim") else 4)
    shape = tuple(x.shape)
    if shape[1:] == (1, 28, 28):
        return
    hint = ""
    if shape[1:] == (28, 28, 1):
        hint = ": these look channels-last (NHWC); pass x.transpose(0, 3, 1, 2)"
    elif shape[1:] == (28, 28):
        hint = ": add the channel axis with x[:, None]"
    elif shape[1:] == (784,):
        hint = ": reshape flat rows with x.reshape(-1, 1, 28, 28)"
    elif len(shape) == 4:
        hint = " (its Dense layer is sized for 28 x 28 images; resize or pad them)"
    raise ValueError(f"{name} must be NCHW images of shape (N, 1, 28, 28), got {shape}{hint}")


class GrayscaleImageInput:
    """Mixin of the networks of 28 x 28 one-channel images (``LeNet``, ``LeNet5`` and their SNGP
    versions): every forward pass checks its input first, naming the network in the error."""

    def check_input(self, x):
        """x must be NCHW images (N, 1, 28, 28): the first Dense layer is sized for 28 x 28."""
        check_images(x, f"{type(self).__name__} input x")

    def forward(self, x, training=False):
        """x: (N, 1, 28, 28) -> logits (N, num_classes)."""
        self.check_input(x)
        return super().forward(x, training=training)


class LeNet(GrayscaleImageInput, Classifier, Sequential):
    """conv 1->20 k5, ReLU, max-pool 2, conv 20->50 k5, ReLU, max-pool 2, flatten (800),
    Dense 500 + ReLU, Dropout, Dense num_classes.   x: (N, 1, 28, 28) -> logits (N, num_classes).

    Initialised like PyTorch's defaults; ``seed`` fixes weights and dropout masks. ``channels`` and
    ``num_hidden`` (20, 50 and 500 in the seed) can be shrunk, e.g. for whole-network gradient checks.
    ``dropout_rate`` (0.5) and ``num_hidden`` are the names ``DeepResNet`` uses too (the older
    ``dropout`` and ``hidden`` still work, with a DeprecationWarning). The layer hooks
    ``make_conv_layer``, ``make_dense_layer`` and ``make_output_layer`` follow the SNGP seed's names.
    ``input_grad=False`` (default) skips the gradient with respect to the images, which training
    never uses; ``backward`` then returns None.

    ``spec_norm_bound`` (None: off) spectrally normalises the convolutions and the hidden Dense layer
    (``semantics``: see ``LeNetSNGP``), keeping the softmax head: the feature extractor DDU fits its
    densities on (Mukhoti et al. 2021).

    Inputs are NCHW, as everywhere in numpyuq. Inside, ``data_format="NHWC"`` (default) runs the
    convolutions and pooling channels-last, which makes every im2col copy a long contiguous run and
    removes all layout passes (for one input channel the switch costs nothing). The flattened
    features are then ordered (h, w, c) rather than PyTorch's (c, h, w): the same network up to a
    fixed permutation of the first Dense layer's rows.
    """

    input_shape = (1, 28, 28)

    def __init__(self, dropout_rate=0.5, num_classes=10, seed=0, channels=(20, 50), num_hidden=500,
                 input_grad=False, data_format="NHWC", spec_norm_bound=None, spec_norm_mode="project",
                 semantics="operator", dtype=np.float32, **renamed):
        dropout_rate, num_hidden = renamed_arguments(renamed, dropout=("dropout_rate", dropout_rate),
                                                     hidden=("num_hidden", num_hidden))
        check_probability(dropout_rate, "dropout_rate")
        check_positive_int(num_classes, "num_classes", minimum=2)
        check_positive_int(num_hidden, "num_hidden")
        check_positive_ints(channels, "channels", 2)
        check_choice(data_format, "data_format", ("NCHW", "NHWC"))
        self.spec_norm = None
        if spec_norm_bound is not None:
            check_real(spec_norm_bound, "spec_norm_bound", above=0)
            check_choice(semantics, "semantics", ("operator", "matrix"))
            self.spec_norm = dict(norm_multiplier=spec_norm_bound, mode=spec_norm_mode, semantics=semantics)
        rng = as_generator(seed)
        c1, c2 = channels
        self.data_format, self._dtype = data_format, dtype
        layers = [ChannelsLast()] if data_format == "NHWC" else []                   # (N, 28, 28, 1)
        super().__init__(
            *layers,
            # conv -> ReLU -> 2 x 2 max-pool as one layer: bias, ReLU and pooling share one pass
            self.make_conv_layer(1, c1, 28, rng, input_grad=input_grad),                    # 24 -> 12 x 12 x c1
            self.make_conv_layer(c1, c2, 12, rng),                                   # 8 -> 4 x 4 x c2
            Flatten(),                                                                # (N, c2 * 16)
            self.make_dense_layer(c2 * 4 * 4, num_hidden, rng),
            Dropout(dropout_rate, rng.spawn(1)[0]),
            self.make_output_layer(num_hidden, num_classes, rng),
        )

    def make_conv_layer(self, in_channels, out_channels, size, rng, input_grad=True):
        """A 5 x 5 convolution + ReLU + 2 x 2 max-pool on size x size images (spectrally normalised
        when ``spec_norm_bound`` is set)."""
        conv = Conv2D(in_channels, out_channels, 5, activation="relu", pool=2, input_grad=input_grad, seed=rng,
                      dtype=self._dtype, data_format=self.data_format)
        if self.spec_norm is None:
            return conv
        shape = None
        if self.spec_norm["semantics"] == "operator":
            shape = (in_channels, size, size) if self.data_format == "NCHW" else (size, size, in_channels)
        return SpectralNorm(conv, seed=rng, input_shape=shape, **self.spec_norm)

    def make_dense_layer(self, in_features, hidden, rng):
        """The hidden Dense + ReLU (spectrally normalised when ``spec_norm_bound`` is set)."""
        dense = Dense(in_features, hidden, activation="relu", init="torch", seed=rng, dtype=self._dtype)
        if self.spec_norm is None:
            return dense
        return SpectralNorm(dense, seed=rng, **dict(self.spec_norm, semantics="matrix"))   # a Dense layer's only norm

    def make_output_layer(self, hidden, num_classes, rng):
        """The output layer: Dense to the logits."""
        return Dense(hidden, num_classes, init="torch", seed=rng, dtype=self._dtype)


class LeNetSNGP(LeNet, SequentialGaussianProcessClassifier):
    """SNGP on LeNet (Liu et al. 2020): spectrally normalised convolutions and hidden Dense layer,
    and a random-feature GP output layer.   x: (N, 1, 28, 28) -> logits (N, num_classes).

    LeNet has no residual connections, so a bound below 1 would only shrink every activation; as
    DDU (Mukhoti et al. 2023) does for its convolutional feature extractors, the bound is a
    Lipschitz *cap* (3 by default), which keeps the feature map smooth (no feature collapse)
    without fixing its scale.

    Args:
        spec_norm_bound: c for every normalised layer.
        spec_norm_mode: ``"project"`` (default),
            ``"reparam"`` or ``"reparam_stopgrad"``.
        semantics: ``"operator"`` (default: the
            convolution's norm as a map of images) or ``"matrix"`` (the reshaped kernel).
        num_inducing, gp_kwargs: the ``RandomFeatureGP`` head. By default its input is LayerNormed
            and scaled by 1 / sqrt(hidden) (``kernel_scale = hidden``), so that the RBF kernel sees
            unit-length features: without it the 500 hidden units give the kernel either nearly
            equal features (no LayerNorm) or nearly orthogonal ones (LayerNorm alone), and the GP
            head does not learn at all on digits28 (measured: chance accuracy after 40 epochs).
        Other arguments as ``LeNet``.
    ``predict`` gives mean-field probabilities; ``predict_with_variance`` the logits and GP variance.
    """

    def __init__(self, num_classes=10, spec_norm_bound=3.0, spec_norm_mode="project", semantics="operator",
                 num_inducing=1024, gp_kwargs=None, **kwargs):
        self.gp_kwargs = dict(num_inducing=num_inducing, **{"normalize_input": True, **(gp_kwargs or {})})
        super().__init__(num_classes=num_classes, spec_norm_bound=spec_norm_bound, spec_norm_mode=spec_norm_mode,
                         semantics=semantics, **kwargs)

    def make_output_layer(self, hidden, num_classes, rng):
        gp_kwargs = {"kernel_scale": float(hidden), **self.gp_kwargs}
        return RandomFeatureGP(hidden, num_classes, seed=rng, dtype=self._dtype, **gp_kwargs)
