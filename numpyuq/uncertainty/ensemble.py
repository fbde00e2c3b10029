"""Deep ensembles (Lakshminarayanan et al. 2017): independently trained members, averaged softmax."""
import numpy as np

from ..backend import get_array_module
from ..losses import SoftmaxCrossEntropy, softmax
from ..metrics import classification_metrics, mutual_information
from ..nn.module import check_state
from ..optim import keras_adam
from ..tasks import check_n_jobs, run_tasks
from ..training import check_data, fit, predict_logits, progress_bar
from ..validation import as_labels, check_positive_int


def _default_optimizer(params):
    return keras_adam(params, lr=1e-4)


def train_member(make_member, make_optimizer, seed, x, y, epochs, batch_size):
    """One member, trained from ``seed``: a task (``numpyuq.tasks``) that returns its state dict and
    history, which pickle the same from any worker."""
    model = make_member(seed)
    history = fit(model, SoftmaxCrossEntropy(), make_optimizer(model.parameters()), x, y,
                  epochs=epochs, batch_size=batch_size, seed=seed, progress=False)
    return model.state_dict(), history


class DeepEnsemble:
    """``size`` members built by ``make_member(seed)``, each trained from its own seed with its own
    optimizer (``make_optimizer(params)``; by default the SNGP seed's Keras Adam, lr 1e-4).

    Member i has seed ``seed + i``. The seed's notebook passes one Adam instance to all ten models;
    its moment estimates then carry over from member to member. Here each member gets a fresh
    optimizer. ``state_dict`` / ``load_state_dict`` (and so ``io.save`` / ``io.load``) cover every
    member: loading into an unfitted ensemble builds the members first.
    """

    def __init__(self, make_member, size=10, make_optimizer=_default_optimizer, seed=0):
        check_positive_int(size, "size")
        check_positive_int(seed, "seed", minimum=0)
        for name, value in (("make_member", make_member), ("make_optimizer", make_optimizer)):
            if isinstance(value, type):             # LeNet(seed) would read the seed as its first argument
                example = ("lambda seed: LeNet(seed=seed)" if name == "make_member"
                           else "lambda params: Adam(params, lr=1e-3)")
                raise TypeError(f"{name} must be a function of the {'seed' if name == 'make_member' else 'parameters'}"
                                f", e.g. {example}; got the class {value.__name__}")
            if not callable(value):
                raise TypeError(f"{name} must be a function, got {type(value).__name__}")
        self.make_member, self.size, self.make_optimizer, self.seed = make_member, size, make_optimizer, seed
        self.members, self.histories = [], []

    def fit(self, x, y, epochs=100, batch_size=128, n_jobs=None, progress=True):
        """Train every member, each one a task of ``numpyuq.tasks.run_tasks`` (BLAS on one thread,
        its own seed, its state dict returned), through ``joblib.Parallel``.

        ``n_jobs``: None (default) follows the caller's ``joblib.parallel_config`` (one process
        when nothing is set; ``backend="dask"`` or ``"ray"`` sends the members to that cluster),
        a positive integer is that many local processes, -1 every core. The members are the same
        bits whichever runs them. x, y and every size are checked on a first member before any
        training starts. ``make_member`` and ``make_optimizer`` must pickle (top-level functions
        or ``functools.partial`` of them) unless the run stays in this process.
        """
        check_positive_int(epochs, "epochs")
        check_positive_int(batch_size, "batch_size")
        n_jobs = check_n_jobs(n_jobs)
        first = self.make_member(self.seed)
        check_data(first, SoftmaxCrossEntropy(), x, y, ("x", "y"))
        tasks = [(f"(ensemble member {i}, seed {self.seed + i})",
                  (self.make_member, self.make_optimizer, self.seed + i, x, y, epochs, batch_size))
                 for i in range(self.size)]
        if first.xp is not np:      # device arrays stay in this process: no CUDA context per worker
            results = [train_member(*args) for _, args in progress_bar(tasks, progress, desc="ensemble")]
        else:
            results = run_tasks(train_member, tasks, n_jobs=n_jobs, progress=progress, desc="ensemble members")
        members = []
        for i, (state, _) in enumerate(results):
            member = first if i == 0 else self.make_member(self.seed + i)
            member.load_state_dict(state)
            members.append(member)
        self.members = members
        self.histories = [history for _, history in results]
        return self

    def member_probabilities(self, x):
        """Every member's softmax: (size, N, K), on the members' device."""
        if not self.members:
            raise RuntimeError("DeepEnsemble has no members yet: call fit (or io.load) first")
        probs = [softmax(predict_logits(m, x)) for m in self.members]
        return get_array_module(probs[0]).stack(probs)

    def predict(self, x, return_samples=False):
        """Mean member softmax (N, K); with ``return_samples`` also the per-member probs (size, N, K)."""
        samples = self.member_probabilities(x)
        probs = samples.mean(axis=0)
        return (probs, samples) if return_samples else probs

    def predict_proba(self, x, return_samples=False):
        """The same as ``predict`` (scikit-learn's name)."""
        return self.predict(x, return_samples=return_samples)

    uncertainty_kind = "mutual information between the prediction and the member (Lakshminarayanan et al. 2017)"

    def uncertainty(self, x):
        """Mutual information (N,) of the members' predictions: their disagreement (epistemic)."""
        return self.predict_with_uncertainty(x)[1]

    def predict_with_uncertainty(self, x):
        """(mean member softmax (N, K), mutual information (N,)) from one pass of each member."""
        probs, samples = self.predict(x, return_samples=True)
        return probs, mutual_information(samples)

    def predict_logits(self, x):
        """log of the mean probability (N, K): logits whose softmax is ``predict(x)`` (an ensemble
        has no single set of logits)."""
        probs = self.predict(x)
        xp = get_array_module(probs)
        return xp.log(xp.maximum(probs, np.finfo(probs.dtype).tiny))

    def evaluate(self, x, y):
        """``metrics.classification_metrics`` of ``predict(x)``: accuracy, nll, brier, ece."""
        probs = self.predict(x)
        return classification_metrics(probs, as_labels(y, "y", probs.shape[1], len(probs), like=probs))

    # ---- saving ----------------------------------------------------------------------------------
    def state_dict(self):
        """Every member's state, keyed ``"members.<i>.<name>"``."""
        if not self.members:
            raise RuntimeError("DeepEnsemble has no members yet: call fit first")
        return {f"members.{i}.{name}": value for i, member in enumerate(self.members)
                for name, value in member.state_dict().items()}

    def load_state_dict(self, state):
        """Load every member (building them with ``make_member`` if the ensemble is unfitted).
        Nothing changes unless every member's entries match."""
        members = self.members or [self.make_member(self.seed + i) for i in range(self.size)]
        parts = [{} for _ in members]
        for key, value in state.items():
            head, _, rest = key.partition(".")
            index, _, name = rest.partition(".")
            if head != "members" or not index.isdigit() or int(index) >= len(members):
                raise ValueError(f"state does not match a {len(members)}-member ensemble: unexpected {key!r}")
            parts[int(index)][name] = value
        for i, (member, part) in enumerate(zip(members, parts)):     # check all before loading any
            check_state(member.state_arrays(), part, f"ensemble member {i}")
        for member, part in zip(members, parts):
            member.load_state_dict(part)
        self.members = members
