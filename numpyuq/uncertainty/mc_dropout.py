"""Monte-Carlo dropout (Gal & Ghahramani 2016): average the softmax over dropout masks at test time."""

from ..backend import get_array_module
from ..losses.cross_entropy import softmax
from ..nn.dropout import dropout_at_inference
from ..seeding import as_generator
from ..validation import check_batch, check_positive_int


def mc_dropout_predict(model, x, num_samples=10, return_samples=False, batch_size=4096, seed=0):
    """Mean of softmax(model(x)) over ``num_samples`` dropout masks.

    Only dropout is switched on: the pass is otherwise an inference pass, so spectral-norm vectors
    and GP precisions are left untouched.

    Args:
        model: a Module with Dropout layers.  x: (N, D).  num_samples: >= 1.
        seed: the masks' seed (the same call twice gives the same result; the model's own dropout
            generators are left as they were). None: continue the model's own generators.
    Returns:
        probs (N, K) on the model's device; with ``return_samples`` also the per-sample probs (S, N, K).
    """
    check_positive_int(num_samples, "num_samples")
    check_positive_int(batch_size, "batch_size")
    if seed is not None:
        as_generator(seed)                      # checked before anything runs
    x = model.as_input(check_batch(x, "x"))
    xp = get_array_module(x)
    samples = []
    with dropout_at_inference(model, seed):
        for _ in range(num_samples):
            samples.append(xp.concatenate([softmax(model(x[i:i + batch_size]))
                                           for i in range(0, x.shape[0], batch_size)]))
    samples = xp.stack(samples)
    probs = samples.mean(axis=0)
    return (probs, samples) if return_samples else probs
