"""The loss protocol: a subclass that forgets a method says which one."""
import numpy as np
import pytest

from numpyuq.losses import Loss


def test_abstract_methods_name_the_subclass():
    class Incomplete(Loss):
        pass

    with pytest.raises(NotImplementedError, match="Incomplete must define forward"):
        Incomplete()(np.zeros((1, 2)), np.zeros(1, int))
    with pytest.raises(NotImplementedError, match="Incomplete must define backward"):
        Incomplete().backward()
