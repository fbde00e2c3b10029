"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks",
https://arxiv.org/abs/1706.04599): one temperature T > 0, fitted on held-out logits by minimising
the negative log-likelihood, divides every logit. Accuracy is unchanged (argmax z / T = argmax z);
only the confidence moves.

The math, with beta = 1 / T (the inverse temperature), logits z_n (K,), labels y_n, and
p_n = softmax(beta z_n):

    f(beta)   = (1/N) sum_n [ logsumexp(beta z_n) - beta z_{n, y_n} ]
    f'(beta)  = (1/N) sum_n [ E_{p_n}[z] - z_{n, y_n} ]                 (d logsumexp(beta z) / d beta = E_p[z])
    f''(beta) = (1/N) sum_n Var_{p_n}[z]  >= 0                           (d E_p[z] / d beta = Var_p[z])

f is convex in beta (a log-sum-exp of functions linear in beta, minus a linear term), so Newton's
method on beta with a step that keeps beta > 0 (halved towards the current point when it would not
decrease f or would cross 0) converges to the one minimum. If f'(beta) >= 0 as beta -> 0+, i.e. the
logits are no better than uniform on average, there is no finite T, nor when every held-out
prediction is correct (f' < 0 for every beta: the NLL keeps falling as T -> 0): ``fit`` says so.

The same solver tunes any per-row inverse scale g_n(theta) of the logits, by the chain rule
    f'(theta)  = (1/N) sum_n (E_p[z] - z_y) g_n'(theta)
    f''(theta) = (1/N) sum_n [Var_p[z] g_n'(theta)^2 + (E_p[z] - z_y) g_n''(theta)]
which ``MeanFieldScaling`` uses for SNGP's mean-field factor lambda: z / sqrt(1 + lambda sigma^2),
"tuned like temperature scaling" as the SNGP tutorial says (not convex in lambda: the step falls
back to halving when f'' <= 0).

What to scale, by method: a network's logits; for MC dropout and ensembles the log of the mean
probabilities; for SNGP the mean-field logits; for EDL the log of alpha, since softmax(log alpha) is
alpha / S, its own probabilities (so T scales the Dirichlet's concentration alpha -> alpha^(1/T)).
"""
import numpy as np

from .backend import to_numpy
from .validation import as_labels, check_batch, check_positive_int, check_real


def as_logits(logits, name="logits"):
    """Host float64 (N, K) logits, checked: real, finite, at least one row and two classes."""
    logits = to_numpy(check_batch(logits, name)).astype(np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"{name} must have shape (N, K) with K >= 2 classes, got {tuple(logits.shape)}")
    return logits


def scaled_nll_terms(logits, labels, scale):
    """For per-row scales s (N,): NLL of softmax(s z), and per row E_p[z] - z_y and Var_p[z]."""
    scaled = logits * scale[:, None]
    top = scaled.max(axis=1, keepdims=True)
    e = np.exp(scaled - top)
    total = e.sum(axis=1, keepdims=True)
    p = e / total
    log_sum = top[:, 0] + np.log(total[:, 0])
    rows = np.arange(len(labels))
    nll = float(np.mean(log_sum - scaled[rows, labels]))
    mean_z = (p * logits).sum(axis=1)
    var_z = np.maximum((p * logits * logits).sum(axis=1) - mean_z ** 2, 0.0)
    return nll, mean_z - logits[rows, labels], var_z


def temperature_nll_forward(beta, logits, labels):
    """f(beta) = mean_n logsumexp(beta z_n) - beta z_{n, y_n}.  beta: scalar or (1,) -> scalar, cache."""
    beta = float(np.asarray(beta).reshape(-1)[0])
    nll, gap, var = scaled_nll_terms(logits, labels, np.full(len(labels), beta))
    return np.array(nll), (gap, var)


def temperature_nll_backward(dy, cache):
    """df/dbeta = mean_n (E_p[z] - z_y).  -> (dbeta (1,),)."""
    gap, _ = cache
    return (np.array([float(dy) * gap.mean()]),)


def temperature_nll_hessian(cache):
    """d^2 f / dbeta^2 = mean_n Var_p[z] >= 0: f is convex in beta."""
    _, var = cache
    return float(var.mean())


class ConvergenceError(ValueError):
    """The solver did not reach its tolerance within ``max_iter`` steps."""


class NoFiniteTemperature(ValueError):
    """The held-out NLL has no minimum at a finite T > 0 (every prediction right, or none better
    than uniform)."""


def minimize_scaled_nll(logits, labels, scale_of, theta, lower, max_iter=100, tol=1e-10):
    """Newton's method on a 1-D parameter theta >= lower of per-row scales ``scale_of(theta)`` ->
    (s, s', s'') each (N,). Each step is halved until f decreases and theta stays above ``lower``;
    where f'' <= 0 the step is a scaled gradient step. Returns (theta, f, iterations)."""
    def evaluate(value):
        s, ds, d2s = scale_of(value)
        nll, gap, var = scaled_nll_terms(logits, labels, s)
        return nll, float(np.mean(gap * ds)), float(np.mean(var * ds * ds + gap * d2s))

    f, g, h = evaluate(theta)
    for iteration in range(1, max_iter + 1):
        step = -g / h if h > 0 else -g * max(1.0, abs(theta))
        candidate = theta + step
        for _ in range(60):                      # halve until above the bound and not worse
            if candidate > lower:
                f_new = evaluate(candidate)[0]
                if f_new <= f + 1e-15 * max(1.0, abs(f)):
                    break
            step /= 2
            candidate = theta + step
        else:
            candidate = theta                    # no decrease along the step: at the minimum
        converged = abs(candidate - theta) <= tol * max(1.0, abs(theta))
        theta = candidate
        f, g, h = evaluate(theta)
        if converged or abs(g) <= tol:
            return theta, f, iteration
    raise ConvergenceError(f"the scaling solve did not converge in {max_iter} Newton steps "
                           f"(parameter {theta:.6g}, gradient {g:.3g}); raise max_iter or check the logits")


class TemperatureScaling:
    """Fit one temperature on held-out logits, then divide logits by it (scikit-learn's shape:
    ``fit`` returns self, fitted attributes end in ``_``).

    Args:
        max_iter: Newton steps allowed (each is one pass over the logits).
        tol: the step or gradient below which the solve stops.
    Attributes (after ``fit``): ``temperature_`` (T), ``n_iter_``, ``nll_before_`` (at T = 1),
    ``nll_after_``. A failed ``fit`` leaves a fitted object as it was.
    """

    def __init__(self, max_iter=100, tol=1e-10):
        check_positive_int(max_iter, "max_iter")
        check_real(tol, "tol", above=0)
        self.max_iter, self.tol = max_iter, tol

    def fit(self, logits, y):
        """logits: (N, K) held-out logits (see the module docstring for each method's); y: (N,)."""
        logits = as_logits(logits)
        labels = to_numpy(as_labels(y, "y", logits.shape[1], len(logits))).astype(np.int64)
        nll_one = scaled_nll_terms(logits, labels, np.ones(len(labels)))[0]
        rows = np.arange(len(labels))
        others = np.where(np.arange(logits.shape[1])[None, :] == labels[:, None], -np.inf, logits)
        if (logits[rows, labels] > others.max(axis=1)).all():
            # f'(beta) < 0 for every beta: the NLL falls towards 0 as T -> 0, with no minimum
            raise NoFiniteTemperature("every held-out prediction is correct, with a margin: the NLL keeps falling as T -> 0, "
                             "so there is no finite temperature; fit on more (or harder) held-out data")
        # f'(beta) -> mean_n (mean_k z_nk - z_ny) as beta -> 0+: no finite T unless it is negative
        if np.mean(logits.mean(axis=1) - logits[rows, labels]) >= 0:
            raise NoFiniteTemperature("the logits are no better than uniform on these labels: the NLL keeps falling as "
                             "T grows, so there is no finite temperature (check that logits and y match)")
        beta, nll, iterations = minimize_scaled_nll(
            logits, labels, lambda b: (np.full(len(labels), b), np.ones(len(labels)), np.zeros(len(labels))),
            1.0, 0.0, self.max_iter, self.tol)
        self.temperature_, self.n_iter_ = 1.0 / beta, iterations
        self.nll_before_, self.nll_after_ = nll_one, nll
        return self

    def check_fitted(self):
        if not hasattr(self, "temperature_"):
            raise RuntimeError("TemperatureScaling is not fitted yet: call fit(logits, y) on held-out data first")

    def transform(self, logits):
        """logits / T, on the logits' own device and dtype: (N, K)."""
        self.check_fitted()
        check_batch(logits, "logits")
        return logits * (1.0 / self.temperature_)          # a Python float keeps float32 logits float32

    def predict_proba(self, logits):
        """softmax(logits / T): (N, K)."""
        from .losses.cross_entropy import softmax
        return softmax(self.transform(logits))

    def predict(self, logits):
        """The class of largest logit (N,): temperature scaling never changes it."""
        self.check_fitted()
        return check_batch(logits, "logits").argmax(axis=1)

    # ---- saving with numpyuq.io -------------------------------------------------------------------
    def state_dict(self):
        self.check_fitted()
        return {"temperature": np.array(self.temperature_, np.float64)}

    def load_state_dict(self, state):
        if not isinstance(state, dict) or set(state) != {"temperature"}:
            raise ValueError(f"state does not match TemperatureScaling: need exactly ['temperature'], "
                             f"got {sorted(state) if isinstance(state, dict) else type(state).__name__}")
        value = np.asarray(state["temperature"])
        if value.shape != () or value.dtype.kind != "f" or not (np.isfinite(value) and value > 0):
            raise ValueError(f"state does not match TemperatureScaling: temperature must be one positive "
                             f"number, got {value!r}")
        self.temperature_ = float(value)

    def __repr__(self):
        fitted = f", temperature_={self.temperature_:.4g}" if hasattr(self, "temperature_") else ""
        return f"TemperatureScaling(max_iter={self.max_iter}{fitted})"


class MeanFieldScaling:
    """Tune SNGP's mean-field factor lambda on held-out data: probabilities softmax(z / sqrt(1 +
    lambda sigma^2)) (Liu et al. 2020, eq. 10), lambda >= 0 chosen to minimise the NLL by the solver
    of ``TemperatureScaling``.

    Attributes (after ``fit``): ``lambda_``, ``n_iter_``, ``nll_before_`` (at lambda = pi / 8), ``nll_after_``.
    """

    def __init__(self, initial=np.pi / 8, max_iter=100, tol=1e-10):
        check_real(initial, "initial", above=0)
        check_positive_int(max_iter, "max_iter")
        check_real(tol, "tol", above=0)
        self.initial, self.max_iter, self.tol = initial, max_iter, tol

    @staticmethod
    def scales(lam, variance):
        """g = (1 + lam v)^(-1/2) and its first two derivatives in lam: (N,) each."""
        base = 1.0 + lam * variance
        return base ** -0.5, -0.5 * variance * base ** -1.5, 0.75 * variance * variance * base ** -2.5

    def fit(self, logits, variance, y):
        """logits: (N, K) posterior-mean logits; variance: (N,) GP variances; y: (N,) labels."""
        logits = as_logits(logits)
        variance = to_numpy(check_batch(variance, "variance", min_ndim=1)).astype(np.float64)
        if variance.shape != (len(logits),) or variance.min() < 0:
            raise ValueError(f"variance must be ({len(logits)},) non-negative GP variances, got shape "
                             f"{variance.shape}" + (f" with minimum {variance.min()}" if variance.size else ""))
        labels = to_numpy(as_labels(y, "y", logits.shape[1], len(logits))).astype(np.int64)
        nll_initial = scaled_nll_terms(logits, labels, self.scales(self.initial, variance)[0])[0]
        lam, nll, iterations = minimize_scaled_nll(logits, labels, lambda value: self.scales(value, variance),
                                                   float(self.initial), -1e-300, self.max_iter, self.tol)
        self.lambda_, self.n_iter_ = max(lam, 0.0), iterations
        self.nll_before_, self.nll_after_ = nll_initial, nll
        return self

    def transform(self, logits, variance):
        """The mean-field logits with the fitted lambda: (N, K)."""
        if not hasattr(self, "lambda_"):
            raise RuntimeError("MeanFieldScaling is not fitted yet: call fit(logits, variance, y) first")
        from .uncertainty.sngp import mean_field_logits
        return mean_field_logits(logits, variance, self.lambda_)
