"""Stochastic gradient descent with heavy-ball momentum (torch.optim.SGD semantics)."""
from ..backend import get_array_module
from ..validation import check_real
from .optimizer import Optimizer


class SGD(Optimizer):
    """buf <- momentum * buf + g;  value <- value - lr * buf.

    ``g`` includes ``weight_decay * value`` unless ``decoupled=True``, which instead shrinks the
    weights by ``lr * weight_decay`` each step.
    """

    def __init__(self, params, lr=1e-2, momentum=0.0, weight_decay=0.0, decoupled=False):
        check_real(momentum, "momentum", at_least=0, below=1)
        super().__init__(params, lr, weight_decay, decoupled)      # packs: validate everything first
        self.momentum = momentum
        self.buffers = [get_array_module(g.value).zeros_like(g.value) for g in self.groups]

    def state_buffers(self):
        return {"momentum_buffer": self.buffers}

    def update(self):
        for group, buf in zip(self.groups, self.buffers):
            grad = group.grad
            if self.decoupled:
                group.value *= 1 - self.lr * self.weight_decay
            elif self.weight_decay:
                grad = grad + self.weight_decay * group.value
            buf *= self.momentum
            buf += grad
            group.value -= self.lr * buf
