"""Stochastic gradient descent with heavy-ball momentum (torch.optim.SGD semantics)."""
from ..backend import get_array_module
from ..subnormals import flush_subnormals
from ..validation import check_real
from .optimizer import Optimizer


class SGD(Optimizer):
    """buf <- momentum * buf + g;  value <- value - lr * buf.

    ``g`` includes ``weight_decay * value`` unless ``decoupled=True``, which instead shrinks the
    weights by ``lr * weight_decay`` each step.

    With momentum, entries of buf below the dtype's smallest normal are set to 0. A parameter whose
    gradient stays zero (a dead ReLU unit) has its buffer multiplied by the momentum every step, down
    through the subnormal range (0.9^900 of 1e-2 is 5e-44 in float32), which Intel cores compute on
    many times slower; a subnormal buf moves a parameter by less than lr * 1.2e-38, the same update
    as zero for any parameter of ordinary size (``numpyuq.subnormals``).
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
            if self.momentum:
                flush_subnormals(buf)        # the decay's tail: 0, not subnormals (see the docstring)
            group.value -= self.lr * buf
