"""The SNGP seed's residual MLP (``DeepResNet``) and its distance-aware version (``DeepResNetSNGP``)."""
import numpy as np

from ..nn import Dense, Dropout, Module, Residual, Sequential
from ..nn.init import as_generator


class DeepResNet(Module):
    """Residual MLP of the SNGP tutorial (Liu et al. 2020, section 5.1 / the TensorFlow tutorial).

        hidden = x W_in                             frozen random projection, (N, 2) -> (N, H)
        hidden = hidden + Dropout(ReLU(hidden W_l + b_l))     for l = 1 .. num_layers
        logits = hidden W_out + b_out               (N, H) -> (N, num_classes)

    Args:
        num_classes, num_layers (3), num_hidden (128), dropout_rate (0.1): as in the seed.
        input_dim: features of x (2 for two moons).  seed: int or Generator fixing all weights and
            dropout masks.  dtype: float32 (default) or float64 (for gradient checks).
    """

    def __init__(self, num_classes, num_layers=3, num_hidden=128, dropout_rate=0.1, input_dim=2,
                 seed=0, dtype=np.float32):
        rng = as_generator(seed)
        self.num_classes, self.num_layers, self.num_hidden = num_classes, num_layers, num_hidden
        self.dropout_rate, self._dtype = dropout_rate, dtype
        self.input_layer = Dense(input_dim, num_hidden, trainable=False, rng=rng, dtype=dtype)
        self.blocks = [Residual(Sequential(self.make_dense_layer(rng), Dropout(dropout_rate, rng.spawn(1)[0])))
                       for _ in range(num_layers)]
        self.classifier = self.make_output_layer(rng)

    def make_dense_layer(self, rng):
        """Hidden layer of a residual block: Dense + ReLU."""
        return Dense(self.num_hidden, self.num_hidden, activation="relu", rng=rng, dtype=self._dtype)

    def make_output_layer(self, rng):
        """Output layer: plain Dense to the logits."""
        return Dense(self.num_hidden, self.num_classes, rng=rng, dtype=self._dtype)

    def features(self, x, training=False):
        """Hidden representation before the output layer.  x: (N, input_dim) -> (N, num_hidden)."""
        hidden = self.input_layer(x, training=training)
        for block in self.blocks:
            hidden = block(hidden, training=training)
        return hidden

    def forward(self, x, training=False):
        """x: (N, input_dim) -> logits (N, num_classes)."""
        return self.classifier(self.features(x, training=training), training=training)

    def backward(self, dy):
        dy = self.classifier.backward(dy)
        for block in reversed(self.blocks):
            dy = block.backward(dy)
        return self.input_layer.backward(dy)
