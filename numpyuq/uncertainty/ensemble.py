"""Deep ensembles (Lakshminarayanan et al. 2017): independently trained members, averaged softmax."""
import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from ..backend import to_numpy
from ..losses import SoftmaxCrossEntropy, softmax
from ..optim import keras_adam
from ..training import fit, predict
from ..validation import check_positive_int


def _default_optimizer(params):
    return keras_adam(params, lr=1e-4)


def _train_member(make_member, make_optimizer, seed, x, y, epochs, batch_size):
    model = make_member(seed)
    history = fit(model, SoftmaxCrossEntropy(), make_optimizer(model.parameters()), x, y,
                  epochs=epochs, batch_size=batch_size, rng=seed, progress=False)
    return model, history


class DeepEnsemble:
    """``size`` members built by ``make_member(seed)``, each trained from its own seed with its own
    optimizer (``make_optimizer(params)``; by default the SNGP seed's Keras Adam, lr 1e-4).

    The seed's notebook passes one Adam instance to all ten models; its moment estimates then
    carry over from member to member. Here each member gets a fresh optimizer.
    """

    def __init__(self, make_member, size=10, make_optimizer=_default_optimizer, seed=0):
        check_positive_int(size, "size")
        self.make_member, self.size, self.make_optimizer, self.seed = make_member, size, make_optimizer, seed
        self.members, self.histories = [], []

    def fit(self, x, y, epochs=100, batch_size=128, n_jobs=1, progress=True):
        """Train every member; ``n_jobs`` > 1 trains them in parallel processes (joblib)."""
        tasks = [(self.make_member, self.make_optimizer, self.seed + i, x, y, epochs, batch_size)
                 for i in range(self.size)]
        if n_jobs == 1:
            results = [_train_member(*task) for task in tqdm(tasks, desc="ensemble", disable=not progress, leave=False)]
        else:
            results = Parallel(n_jobs=n_jobs)(delayed(_train_member)(*task) for task in tasks)
        self.members = [model for model, _ in results]
        self.histories = [history for _, history in results]
        return self

    def predict_proba(self, x, return_samples=False):
        """Mean member softmax (N, K); with ``return_samples`` also the per-member probs (size, N, K)."""
        if not self.members:
            raise RuntimeError("DeepEnsemble.predict_proba called before fit")
        samples = np.stack([to_numpy(softmax(predict(m, x))) for m in self.members])
        probs = samples.mean(axis=0)
        return (probs, samples) if return_samples else probs
