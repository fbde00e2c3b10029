"""LeNet for 28 x 28 images, as in the EDL seed (labml's MNIST model)."""
import numpy as np

from ..nn import ChannelsLast, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential
from ..seeding import as_generator


class LeNet(Sequential):
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

    def __init__(self, dropout=0.5, num_classes=10, seed=0, channels=(20, 50), hidden=500,
                 input_grad=False, data_format="NHWC", dtype=np.float32):
        rng = as_generator(seed)
        c1, c2 = channels
        fmt = dict(data_format=data_format)
        layers = [ChannelsLast()] if data_format == "NHWC" else []                   # (N, 28, 28, 1)
        super().__init__(
            *layers,
            # conv + ReLU as one layer: the bias add, ReLU and (backward) bias sum share one pass
            Conv2D(1, c1, 5, activation="relu", input_grad=input_grad, rng=rng, dtype=dtype, **fmt),
            MaxPool2D(2, 2, **fmt),                                                   # 12 x 12 x c1
            Conv2D(c1, c2, 5, activation="relu", rng=rng, dtype=dtype, **fmt),
            MaxPool2D(2, 2, **fmt),                                                   # 4 x 4 x c2
            Flatten(),                                                                # (N, c2 * 16)
            Dense(c2 * 4 * 4, hidden, activation="relu", init="torch", rng=rng, dtype=dtype),
            Dropout(dropout, rng.spawn(1)[0]),
            Dense(hidden, num_classes, init="torch", rng=rng, dtype=dtype),
        )
