"""Optimizer base: owns flat parameter groups, clears gradients in one call, saves and restores its
state (step count, learning rate, moment buffers) for checkpoints."""
import numpy as np

from ..backend import get_array_module
from ..nn.module import check_state, load_arrays
from ..validation import check_real
from .flat import pack_parameters


class Optimizer:
    """Base class.  ``params``: iterable of ``Parameter`` (e.g. ``model.parameters()``).

    Subclasses define ``update()`` and, when they keep per-parameter state, ``state_buffers()``:
    ``{name: [one array per flat group]}`` (Adam's moments, SGD's momentum), which ``state_dict``
    saves as ``"name.i"``.
    """

    def __init__(self, params, lr, weight_decay=0.0, decoupled=False):
        check_real(lr, "lr", above=0)                       # finite: lr = inf would turn weights into NaN
        check_real(weight_decay, "weight_decay", at_least=0)
        self.groups = pack_parameters(params)
        self.lr, self.weight_decay, self.decoupled = float(lr), float(weight_decay), decoupled
        self.step_count = 0

    def parameters(self):
        """The trainable parameters this optimizer updates."""
        return [p for group in self.groups for p in group.params]

    def owns_parameters(self):
        """True while every parameter still lives in this optimizer's flat buffers (see ``flat.py``)."""
        return all(group.owns_parameters() for group in self.groups)

    def zero_grad(self):
        for group in self.groups:
            group.grad.fill(0)

    def step(self):
        """One update of every parameter, after checking that they are still this optimizer's."""
        if not self.owns_parameters():
            raise RuntimeError(
                f"{type(self).__name__} no longer holds its parameters: another optimizer was built on "
                "them, or the model was cast (astype) or moved after this optimizer was built. "
                "Build the optimizer again on model.parameters(); this one would train nothing.")
        self.step_count += 1
        self.update()

    def update(self):
        raise NotImplementedError(f"{type(self).__name__} must define update (abstract in the base class)")

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_buffers(self):
        """``{name: [array per group]}``: the per-parameter state to save (none in the base class)."""
        return {}

    def state_dict(self):
        """Copies of the step count, the learning rate and every state buffer, keyed by name."""
        state = {"step_count": np.array(self.step_count, np.int64), "lr": np.array(self.lr, np.float64)}
        for name, buffers in self.state_buffers().items():
            for i, buffer in enumerate(buffers):
                state[f"{name}.{i}"] = get_array_module(buffer).array(buffer, copy=True)
        return state

    def load_state_dict(self, state):
        """Restore ``state_dict()`` output in place. Nothing changes unless every entry matches."""
        targets = {f"{name}.{i}": buffer for name, buffers in self.state_buffers().items()
                   for i, buffer in enumerate(buffers)}
        scalars = {"step_count": np.zeros(()), "lr": np.zeros(())}
        owner = f"the optimizer ({type(self).__name__})"
        check_state({**targets, **scalars}, state, owner)
        step_count, lr = int(np.asarray(state["step_count"])), float(np.asarray(state["lr"]))
        if step_count < 0 or not 0 < lr < float("inf"):
            raise ValueError(f"optimizer state has step_count {step_count} and lr {lr}; need >= 0 and > 0")
        load_arrays(targets, {name: state[name] for name in targets}, owner)
        self.step_count, self.lr = step_count, lr
