"""Weight initialisers.  Each takes a ``numpy.random.Generator`` so a seed fixes the model."""
import numpy as np


def glorot_uniform(rng, fan_in, fan_out, shape, dtype):
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)): Keras' default, used by the SNGP seed."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def torch_uniform(rng, fan_in, shape, dtype):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear/Conv weights and biases.

    (Kaiming-uniform with a = sqrt(5) gives exactly this bound, as torch.nn.init notes.)
    """
    limit = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)

