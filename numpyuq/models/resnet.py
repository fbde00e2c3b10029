"""The SNGP seed's residual MLP (``DeepResNet``) and its distance-aware version (``DeepResNetSNGP``)."""
import numpy as np

from ..nn import Dense, Dropout, Module, RandomFeatureGP, Residual, Sequential, SpectralNorm
from ..seeding import as_generator
from ..validation import (check_features, check_float_dtype, check_positive_int, check_probability, check_real,
                          renamed_arguments)
from .classifier import Classifier, GaussianProcessClassifier


class DeepResNet(Module, Classifier):
    """Residual MLP of the SNGP tutorial (Liu et al. 2020, section 5.1 / the TensorFlow tutorial).

        hidden = x W_in                             frozen random projection, (N, 2) -> (N, H)
        hidden = hidden + Dropout(ReLU(hidden W_l + b_l))     for l = 1 .. num_layers
        logits = hidden W_out + b_out               (N, H) -> (N, num_classes)

    Args:
        num_classes, num_layers (3), num_hidden (128), dropout_rate (0.1): as in the seed.
        in_features: features of x (2 for two moons; ``Dense``'s name, formerly ``input_dim``).
        spec_norm_bound: None (default, the seed's plain network), or c: every hidden layer
            spectrally normalised to norm <= c (Miyato et al. 2018), which keeps distances in the
            residual feature map (Liu et al. 2020): SNGP's feature map with a softmax head, the
            network DDU fits its densities on (Mukhoti et al. 2021).
        spec_norm_mode: ``"project"`` (the SNGP seed), ``"reparam"`` or ``"reparam_stopgrad"``.
        seed: int or Generator fixing all weights and
            dropout masks.
        dtype: float32 (default) or float64 (for gradient checks).
    """

    splittable = True

    def __init__(self, num_classes, num_layers=3, num_hidden=128, dropout_rate=0.1, in_features=2,
                 spec_norm_bound=None, spec_norm_mode="project", seed=0, dtype=np.float32, **renamed):
        (in_features,) = renamed_arguments(renamed, input_dim=("in_features", in_features))
        check_positive_int(num_classes, "num_classes", minimum=2)
        check_positive_int(num_layers, "num_layers", minimum=0)
        check_positive_int(num_hidden, "num_hidden")
        check_positive_int(in_features, "in_features")
        check_probability(dropout_rate, "dropout_rate")
        dtype = check_float_dtype(dtype, "dtype")
        if spec_norm_bound is not None:
            check_real(spec_norm_bound, "spec_norm_bound", above=0)
        rng = as_generator(seed)
        self.spec_norm_bound, self.spec_norm_mode = spec_norm_bound, spec_norm_mode
        self.input_shape = (in_features,)
        self.num_classes, self.num_layers, self.num_hidden = num_classes, num_layers, num_hidden
        self.dropout_rate, self._dtype = dropout_rate, dtype
        self.input_layer = Dense(in_features, num_hidden, trainable=False, seed=rng, dtype=dtype)
        self.blocks = [Residual(Sequential(self.make_dense_layer(rng), Dropout(dropout_rate, rng.spawn(1)[0])))
                       for _ in range(num_layers)]
        self.classifier = self.make_output_layer(rng)

    def make_dense_layer(self, rng):
        """Hidden layer of a residual block: Dense + ReLU, spectrally normalised when asked."""
        dense = Dense(self.num_hidden, self.num_hidden, activation="relu", seed=rng, dtype=self._dtype)
        if self.spec_norm_bound is None:
            return dense
        return SpectralNorm(dense, norm_multiplier=self.spec_norm_bound, mode=self.spec_norm_mode, seed=rng)

    def make_output_layer(self, rng):
        """Output layer: plain Dense to the logits."""
        return Dense(self.num_hidden, self.num_classes, seed=rng, dtype=self._dtype)

    def check_input(self, x):
        check_features(x, f"{type(self).__name__} input x", ndim=2, size=self.input_shape[0])

    def features(self, x, training=False):
        """Hidden representation before the output layer.  x: (N, in_features) -> (N, num_hidden)."""
        self.check_input(x)
        hidden = self.input_layer(x, training=training)
        for block in self.blocks:
            hidden = block(hidden, training=training)
        return hidden

    def forward(self, x, training=False):
        """x: (N, in_features) -> logits (N, num_classes)."""
        return self.classifier(self.features(x, training=training), training=training)

    def backward(self, dy):
        dy = self.classifier.backward(dy)
        for block in reversed(self.blocks):
            dy = block.backward(dy)
        return self.input_layer.backward(dy)


class DeepResNetSNGP(DeepResNet, GaussianProcessClassifier):
    """SNGP (Liu et al. 2020): ``DeepResNet`` with spectrally normalised hidden layers and a
    random-feature GP output layer, as the seed's ``DeepResNetSNGP``.

    Args:
        spec_norm_bound: c, the bound on each hidden layer's spectral norm (0.9 in the seed); None
            gives the GP head on the plain network (the ablation's "GP head, no spectral norm").
        spec_norm_mode: ``"project"`` (the seed), ``"reparam"`` or ``"reparam_stopgrad"``.
        num_inducing, cov_momentum (-1, exact, as the seed), and any other ``RandomFeatureGP``
            argument through ``gp_kwargs``.  Other arguments as ``DeepResNet``.
    """

    def __init__(self, num_classes, spec_norm_bound=0.9, spec_norm_mode="project", num_inducing=1024,
                 cov_momentum=-1, gp_kwargs=None, **kwargs):
        self.gp_kwargs = dict(num_inducing=num_inducing, cov_momentum=cov_momentum, **(gp_kwargs or {}))
        super().__init__(num_classes, spec_norm_bound=spec_norm_bound, spec_norm_mode=spec_norm_mode, **kwargs)

    def make_output_layer(self, rng):
        """Output layer: random-feature Gaussian process."""
        return RandomFeatureGP(self.num_hidden, self.num_classes, seed=rng, dtype=self._dtype,
                               **self.gp_kwargs)
