"""The optimizer base: argument checks."""
import numpy as np
import pytest

from numpyuq.nn import Parameter
from numpyuq.optim import SGD, Adam


def test_optimizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lr must be > 0, got -1"):
        Adam([Parameter(np.ones(2))], lr=-1)
    with pytest.raises(ValueError, match="at least one trainable"):
        Adam([])
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, p])
