"""Adam (Kingma & Ba 2015) and AdamW (``decoupled=True``; Loshchilov & Hutter 2019)."""
from ..backend import get_array_module
from ..kernels.adam import adam_update
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam with bias correction; the update equations are in ``numpyuq/kernels/adam.py``.

    Args:
        params: iterable of Parameters; frozen ones are skipped.
        lr, betas, eps: as in the paper (defaults as torch.optim.Adam).
        weight_decay: L2 coefficient.  ``decoupled=False`` adds ``weight_decay * value`` to the
            gradient (torch.optim.Adam, the EDL seed); ``decoupled=True`` shrinks the weights
            directly by ``lr * weight_decay`` (AdamW).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled=False):
        super().__init__(params, lr, weight_decay, decoupled)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.moments = [(get_array_module(g.value).zeros_like(g.value),
                         get_array_module(g.value).zeros_like(g.value)) for g in self.groups]

    def step(self):
        self.step_count += 1
        for group, (m, v) in zip(self.groups, self.moments):
            adam_update(group.value, group.grad, m, v, self.lr, self.beta1, self.beta2, self.eps,
                        self.weight_decay, self.decoupled, self.step_count)
