"""Sequential: forward in order, backward in reverse, and stopping at a skipped input gradient."""
import numpy as np

from numpyuq.gradcheck import check_module
from numpyuq.nn import Conv2D, Dense, Flatten, ReLU, Sequential
from tests.helpers import assert_grad_ok


def test_chain_gradients_and_indexing(rng):
    net = Sequential(Dense(3, 4, seed=rng, dtype=np.float64), ReLU(), Dense(4, 2, seed=rng, dtype=np.float64))
    assert len(net) == 3 and isinstance(net[1], ReLU)
    assert_grad_ok(check_module(net, rng.standard_normal((5, 3))))


def test_backward_stops_at_a_first_layer_that_skips_its_input_gradient(rng):
    net = Sequential(Conv2D(1, 2, 3, input_grad=False, seed=rng, dtype=np.float64), Flatten(),
                     Dense(2 * 3 * 3, 2, seed=rng, dtype=np.float64))
    y = net(rng.standard_normal((2, 1, 5, 5)))
    assert net.backward(np.ones_like(y)) is None
    assert np.abs(net[0].w.grad).sum() > 0            # the parameter gradients were still taken


def test_repr_lists_the_layers_under_the_class_name(rng):
    class Tiny(Sequential):
        pass

    text = repr(Tiny(Dense(2, 3, seed=rng), ReLU()))
    assert text.startswith("Tiny(") and "Dense(2, 3" in text
