"""LeNet for 28 x 28 images, as in the EDL seed (labml's MNIST model)."""
import numpy as np

from ..nn import ChannelsLast, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential
from ..seeding import as_generator
from ..validation import check_features, check_positive_int, check_probability
from .classifier import Classifier


class LeNet(Sequential, Classifier):
    """conv 1->20 k5, ReLU, max-pool 2, conv 20->50 k5, ReLU, max-pool 2, flatten (800),
    Dense 500 + ReLU, Dropout, Dense num_classes.   x: (N, 1, 28, 28) -> logits (N, num_classes).

    Initialised like PyTorch's defaults; ``seed`` fixes weights and dropout masks. ``channels`` and
    ``hidden`` (20, 50 and 500 in the seed) can be shrunk, e.g. for whole-network gradient checks.
    ``input_grad=False`` (default) skips the gradient with respect to the images, which training
    never uses; ``backward`` then returns None.

    Inputs are NCHW, as everywhere in numpyuq. Inside, ``data_format="NHWC"`` (default) runs the
    convolutions and pooling channels-last, which makes every im2col copy a long contiguous run and
    removes all layout passes (for one input channel the switch costs nothing). The flattened
    features are then ordered (h, w, c) rather than PyTorch's (c, h, w): the same network up to a
    fixed permutation of the first Dense layer's rows.
    """

    input_shape = (1, 28, 28)

    def __init__(self, dropout=0.5, num_classes=10, seed=0, channels=(20, 50), hidden=500,
                 input_grad=False, data_format="NHWC", dtype=np.float32):
        check_probability(dropout, "dropout")
        check_positive_int(num_classes, "num_classes", minimum=2)
        check_positive_int(hidden, "hidden")
        if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
            raise ValueError(f"channels must be a pair (c1, c2), got {channels!r}")
        for c in channels:
            check_positive_int(c, "channels")
        if data_format not in ("NCHW", "NHWC"):
            raise ValueError(f"data_format must be 'NCHW' or 'NHWC', got {data_format!r}")
        rng = as_generator(seed)
        c1, c2 = channels
        fmt = dict(data_format=data_format)
        layers = [ChannelsLast()] if data_format == "NHWC" else []                   # (N, 28, 28, 1)
        super().__init__(
            *layers,
            # conv + ReLU as one layer: the bias add, ReLU and (backward) bias sum share one pass
            Conv2D(1, c1, 5, activation="relu", input_grad=input_grad, seed=rng, dtype=dtype, **fmt),
            MaxPool2D(2, 2, **fmt),                                                   # 12 x 12 x c1
            Conv2D(c1, c2, 5, activation="relu", seed=rng, dtype=dtype, **fmt),
            MaxPool2D(2, 2, **fmt),                                                   # 4 x 4 x c2
            Flatten(),                                                                # (N, c2 * 16)
            Dense(c2 * 4 * 4, hidden, activation="relu", init="torch", seed=rng, dtype=dtype),
            Dropout(dropout, rng.spawn(1)[0]),
            Dense(hidden, num_classes, init="torch", seed=rng, dtype=dtype),
        )

    def check_input(self, x):
        """x must be NCHW images (N, 1, 28, 28): the first Dense layer is sized for 28 x 28."""
        check_features(x, "LeNet input x", ndim=x.ndim if hasattr(x, "ndim") else 4)
        shape = tuple(x.shape)
        if shape[1:] == self.input_shape:
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
        raise ValueError(f"LeNet input x must be NCHW images of shape (N, 1, 28, 28), got {shape}{hint}")

    def forward(self, x, training=False):
        """x: (N, 1, 28, 28) -> logits (N, num_classes)."""
        self.check_input(x)
        return super().forward(x, training=training)
