"""Adam (Kingma & Ba 2015) and AdamW (``decoupled=True``; Loshchilov & Hutter 2019)."""
import numpy as np

from ..backend import get_array_module
from ..kernels.adam import EPS_PLACEMENTS, adam_update
from ..validation import check_choice
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam with bias correction; the update equations are in ``numpyuq/kernels/adam.py``.

    Args:
        params: iterable of Parameters; frozen ones are skipped.
        lr, betas, eps: as in the paper (defaults as torch.optim.Adam).
        weight_decay: decay coefficient.  ``decoupled=False`` adds ``weight_decay * value`` to the
            gradient (torch.optim.Adam's L2 form); ``decoupled=True`` shrinks every weight, biases
            included, by ``value *= 1 - lr * weight_decay`` before the Adam step (AdamW; labml's
            Adam, which the EDL seed uses with weight_decay=0.005).
        eps_placement: ``"corrected"`` adds eps to the bias-corrected sqrt(v_hat) (torch.optim.Adam);
            ``"raw"`` adds it to sqrt(v) before the correction, Kingma & Ba's epsilon hat, as Keras
            (the SNGP seed, eps=1e-7) and labml (the EDL seed, eps=1e-8) do. See kernels/adam.py.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled=False, eps_placement="corrected"):
        check_choice(eps_placement, "eps_placement", EPS_PLACEMENTS)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2
                and all(isinstance(b, (int, float, np.floating)) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not eps >= 0:
            raise ValueError(f"eps must be a number >= 0, got {eps!r}")
        super().__init__(params, lr, weight_decay, decoupled)
        self.beta1, self.beta2 = betas
        self.eps, self.eps_placement = eps, eps_placement
        # First and second moment estimates, one pair of flat arrays per group (torch's names).
        self.exp_avg = [get_array_module(g.value).zeros_like(g.value) for g in self.groups]
        self.exp_avg_sq = [get_array_module(g.value).zeros_like(g.value) for g in self.groups]

    def state_buffers(self):
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq}

    def update(self):
        # One fused pass per group: $m \leftarrow \beta_1 m + (1 - \beta_1) g$,
        # $v \leftarrow \beta_2 v + (1 - \beta_2) g^2$, then
        # $w \leftarrow w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)$ with the bias-corrected $\hat m, \hat v$.
        for group, m, v in zip(self.groups, self.exp_avg, self.exp_avg_sq):
            adam_update(group.value, group.grad, m, v, self.lr, self.beta1, self.beta2, self.eps,
                        self.weight_decay, self.decoupled, self.step_count, self.eps_placement)


def keras_adam(params, lr=1e-4, eps=1e-7):
    """The SNGP seed's optimizer: Keras' Adam defaults (eps 1e-7 added before the bias correction)."""
    return Adam(params, lr=lr, eps=eps, eps_placement="raw")


def labml_adam(params, lr=1e-3, weight_decay=5e-3):
    """The EDL seed's optimizer: labml's Adam, with decoupled weight decay 5e-3 and eps 1e-8 added
    before the bias correction."""
    return Adam(params, lr=lr, weight_decay=weight_decay, decoupled=True, eps=1e-8, eps_placement="raw")
