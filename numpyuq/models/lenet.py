"""LeNet for 28 x 28 images, as in the EDL seed (labml's MNIST model)."""
import numpy as np

from ..nn import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Sequential
from ..nn.init import as_generator


class LeNet(Sequential):
    """conv 1->20 k5, ReLU, max-pool 2, conv 20->50 k5, ReLU, max-pool 2, flatten (800),
    Dense 500 + ReLU, Dropout, Dense num_classes.   x: (N, 1, 28, 28) -> logits (N, num_classes).

    Initialised like PyTorch's defaults; ``seed`` fixes weights and dropout masks. ``channels`` and
    ``hidden`` (20, 50 and 500 in the seed) can be shrunk, e.g. for whole-network gradient checks.
    ``input_grad=False`` (default) skips the gradient with respect to the images, which training
    never uses; ``backward`` then returns None.
    """

    def __init__(self, dropout=0.5, num_classes=10, seed=0, channels=(20, 50), hidden=500,
                 input_grad=False, dtype=np.float32):
        rng = as_generator(seed)
        c1, c2 = channels
        super().__init__(
            Conv2D(1, c1, 5, input_grad=input_grad, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2, 2),  # (N, c1, 12, 12)
            Conv2D(c1, c2, 5, rng=rng, dtype=dtype), ReLU(), MaxPool2D(2, 2),         # (N, c2, 4, 4)
            Flatten(),                                                                # (N, c2 * 16)
            Dense(c2 * 4 * 4, hidden, activation="relu", init="torch", rng=rng, dtype=dtype),
            Dropout(dropout, rng.spawn(1)[0]),
            Dense(hidden, num_classes, init="torch", rng=rng, dtype=dtype),
        )
