"""Evidence functions for evidential deep learning (Sensoy et al. 2018, section 3): the network's
outputs z become non-negative evidence e, and the Dirichlet alpha = e + 1.

    relu      e = max(z, 0)              dead units give exactly zero evidence, and zero gradient
    softplus  e = log(1 + exp(z))        the EDL seed's choice: smooth, never exactly zero
    exp       e = exp(clip(z, -c, c))    c = max_logit (10 by default)

exp overflows float32 beyond z = 88 and float64 beyond 709, and one infinite alpha turns every loss
into NaN. Every public implementation (Sensoy et al.'s code, its PyTorch ports) clips the logits
before the exponential; we do the same, with the gradient zero outside the clip as for any clamp.
Where a formula allows it, the log-space route is better: u = K / (K + sum_k e^{z_k}) is computed
exactly for any z by ``uncertainty.dirichlet.uncertainty_from_log_evidence``, without the clip.
"""
from ..backend import get_array_module
from ..validation import check_choice, check_real
from .activations import relu_backward, relu_forward, softplus_backward, softplus_forward
from .module import Module


def exp_evidence_forward(z, max_logit=10.0):
    """e = exp(clip(z, -max_logit, max_logit)).  z: any shape -> e: same shape."""
    xp = get_array_module(z)
    inside = xp.abs(z) < max_logit
    e = xp.exp(xp.clip(z, -max_logit, max_logit))
    return e, (e, inside)


def exp_evidence_backward(de, cache):
    """d exp(z) / dz = exp(z) inside the clip, 0 where the clip holds z constant."""
    e, inside = cache
    return (de * e * inside,)


EVIDENCE_FUNCTIONS = {
    "relu": (relu_forward, relu_backward),
    "softplus": (softplus_forward, softplus_backward),
    "exp": (exp_evidence_forward, exp_evidence_backward),
}


class Evidence(Module):
    """Non-negative evidence from logits: ``Evidence("softplus")``, ``"relu"`` or ``"exp"``.

    x: (N, K) logits -> (N, K) evidence. ``max_logit`` is the clip of the exp function.
    """

    splittable = True

    def __init__(self, function="softplus", max_logit=10.0):
        check_choice(function, "function", tuple(EVIDENCE_FUNCTIONS))
        check_real(max_logit, "max_logit", above=0)
        self.function, self.max_logit = function, max_logit

    def forward(self, x, training=False):
        forward, _ = EVIDENCE_FUNCTIONS[self.function]
        hyper = {"max_logit": self.max_logit} if self.function == "exp" else {}
        e, cache = forward(x, **hyper)
        self.remember(cache, training)
        return e

    def backward(self, dy):
        _, backward = EVIDENCE_FUNCTIONS[self.function]
        (dx,) = backward(dy, self.cached())
        return dx

    def __repr__(self):
        clip = f", max_logit={self.max_logit}" if self.function == "exp" else ""
        return f"Evidence({self.function!r}{clip})"
