"""The module protocol: ``Parameter``, ``Module``.

A module owns its parameters (``Parameter``: value, grad, trainable) and its buffers (state that
is saved but never optimised: spectral-norm vectors, GP random features and precision).
``forward(x, training)`` keeps what ``backward`` needs; ``backward(dy)`` returns the input gradient
and *accumulates* into ``p.grad`` (a parameter used twice receives both contributions).

Two rules of ``backward`` that callers rely on:

* it may return ``None``: the input gradient was skipped (a first layer built with
  ``input_grad=False``, whose input is the data). ``Sequential`` stops there;
* it may return ``dy`` itself, the very array it was given (an identity such as inference-mode
  dropout). A caller that wants to modify the result in place must check
  ``may_share_memory(dx, dy)`` first, as ``Residual`` does.

Weighted layers (``Dense``, ``Conv2D``) also have ``forward_with_weight(x, w, training)`` and
``backward_to_weight(dy) -> (dx, dw, db)``: ``forward`` / ``backward`` with a weight they are given
and no accumulation. A wrapper that transforms the weight (``SpectralNorm``) runs the layer's own
code through them, so it can never drift from the layer. Every pure backward takes the same flags:
``input_grad`` (compute dx) and ``param_grads`` (compute dw, db); a skipped gradient is None.

Glossary (one word for one idea, everywhere in the package and its docs):

* **pair**: two pure functions ``*_forward(inputs..., hyper...) -> (y, cache)`` and
  ``*_backward(dy, cache) -> gradients in the order of the forward's differentiable inputs``.
  ``gradcheck.check_pair`` checks one. A layer's ``pair()`` returns its pair with the
  hyper-parameters bound (``functools.partial``).
* **cache**: what a pair's forward hands to its backward; a module keeps the last one
  (``remember``), and drops it after inference passes inside ``without_caches``.
* **buffer**: state that is saved and moved with a module but never optimised (``register_buffer``):
  spectral-norm vectors, GP random features and precision.
* **mode**: a choice among named variants of one computation, always a string argument checked by
  ``validation.check_choice`` (spectral normalisation's ``"project"`` / ``"reparam"``, the GP
  precision's ``"exact"`` / ``"momentum"``).
* **u**: the Dirichlet uncertainty mass u = K / S (Sensoy et al. 2018; Dempster-Shafer theory):
  ``uncertainty_mass`` everywhere.
* **training**: the argument that decides whether a pass may change state (dropout draws, power
  iteration, the GP precision update); there is no hidden train/eval flag.

Children are discovered from attributes, in definition order: a ``Parameter``, a ``Module``, or a
list/tuple of modules. Buffers are registered explicitly with ``register_buffer``.

Splitting a batch (``parallel.DataParallel``): a module whose class sets ``splittable = True``
declares that a training-mode forward pass treats every row of the batch on its own and changes
no state but its backward cache. A tree of such modules may then run a batch in slices, each on a
``replicate()`` of it that shares its arrays; a module that draws random numbers per batch
(``Dropout``) overrides ``share_randomness`` so that the slices draw what the whole would have.

In-place rule: optimizers may pack every parameter into one flat array and rebind ``p.value`` and
``p.grad`` to views of it, so that one fused kernel updates the whole model. After that, code must
only ever update parameters in place (``p.value *= s``, ``p.grad[...] = 0``), never rebind them.
"""
import contextlib
import copy

import numpy as np

from ..backend import array_in, get_array_module, module_named
from ..validation import check_float_dtype


class Parameter:
    """A trainable array and its gradient.  value, grad: same shape and dtype."""

    __slots__ = ("value", "grad", "trainable")

    def __init__(self, value, trainable=True):
        self.value = value
        self.grad = get_array_module(value).zeros_like(value)
        self.trainable = trainable

    @property
    def shape(self):
        return self.value.shape

    def __repr__(self):
        return f"Parameter(shape={tuple(self.value.shape)}, dtype={self.value.dtype}, trainable={self.trainable})"


class Module:
    """Base class: forward/backward by hand, parameters and buffers discovered by walking attributes."""

    splittable = False      # True: rows are independent in training, so a batch may be split (see above)
    caching = True          # False inside without_caches: inference passes keep no cache
    _cache = None           # what the last forward pass kept for backward (see remember / cached)

    def forward(self, x, training=False):
        raise NotImplementedError(f"{type(self).__name__} must define forward (abstract in the base class)")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__} must define backward (abstract in the base class)")

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    # ---- the cache ---------------------------------------------------------------------------
    def remember(self, cache, training):
        """Keep ``cache`` for ``backward``: always on a training pass, and on an inference pass
        unless inside ``without_caches`` (then nothing is kept, and ``has_cache()`` is False)."""
        self._cache = cache if training or self.caching else None

    def cached(self):
        """The cache of the last forward pass, for ``backward``; a clear error when there is none."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs a forward pass first that kept its cache: "
                               "nothing was kept (call forward with training=True, or outside without_caches)")
        return self._cache

    def has_cache(self):
        """True while this module holds what a backward pass needs."""
        return self._cache is not None

    def forget_cache(self):
        """Drop the backward cache (memory a finished inference pass no longer needs)."""
        self._cache = None

    # ---- the tree ------------------------------------------------------------------------
    def named_children(self):
        """Yield ``(name, module)`` for direct sub-modules; list entries are named ``name.i``."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def modules(self):
        """Yield this module and every descendant, depth first."""
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def named_parameters(self, prefix=""):
        """Yield ``(dotted_name, Parameter)`` over the whole tree, e.g. ``"blocks.3.dense.w"``."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self, trainable_only=True):
        """List of parameters (only the trainable ones unless ``trainable_only=False``)."""
        return [p for _, p in self.named_parameters() if p.trainable or not trainable_only]

    def register_buffer(self, name, value, fixed_dtype=False):
        """Store ``value`` as attribute ``name`` and include it in ``state_dict``.

        ``fixed_dtype=True`` keeps the buffer's dtype through ``astype`` (the GP precision stays
        float64 in a float32 model: a float32 Cholesky loses the small eigenvalues that matter).
        """
        names = vars(self).setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        if fixed_dtype:
            vars(self).setdefault("_fixed_dtype_buffers", set()).add(name)
        setattr(self, name, value)

    def named_buffers(self, prefix=""):
        for name in vars(self).get("_buffer_names", []):
            yield prefix + name, getattr(self, name)
        for name, child in self.named_children():
            yield from child.named_buffers(prefix + name + ".")

    def named_generators(self, prefix=""):
        """Yield ``(dotted_name, Generator)`` for every random generator the tree owns (a dropout
        layer's ``rng``): what a checkpoint must hold for training to resume exactly."""
        for name, value in vars(self).items():
            if isinstance(value, np.random.Generator):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_generators(prefix + name + ".")

    def generator_states(self):
        """``{dotted_name: bit_generator.state}`` of every generator (each call returns fresh dicts)."""
        return {name: g.bit_generator.state for name, g in self.named_generators()}

    def check_generator_states(self, states):
        """Raise ValueError unless ``states`` names exactly this tree's generators and each state is
        one its generator accepts (tried on a scratch generator: nothing here changes)."""
        generators = dict(self.named_generators())
        if not isinstance(states, dict) or set(states) != set(generators):
            got = sorted(states) if isinstance(states, dict) else type(states).__name__
            raise ValueError(f"generator states must name exactly {sorted(generators)}, got {got}")
        for name, state in states.items():
            scratch = type(generators[name].bit_generator)()
            try:
                scratch.state = state
            except (TypeError, ValueError, KeyError) as err:
                raise ValueError(f"generator state {name!r} is not a {type(scratch).__name__} state: {err}") from None

    def load_generator_states(self, states):
        """Restore ``generator_states()`` output; nothing changes unless it all matches."""
        self.check_generator_states(states)
        generators = dict(self.named_generators())
        for name, state in states.items():
            generators[name].bit_generator.state = state

    def zero_grad(self):
        for p in self.parameters(trainable_only=False):
            p.grad[...] = 0

    # ---- state -----------------------------------------------------------------------------
    def state_arrays(self):
        """Every parameter value and buffer itself (no copies), keyed by dotted name."""
        arrays = {name: p.value for name, p in self.named_parameters()}
        arrays.update(dict(self.named_buffers()))
        return arrays

    def state_dict(self):
        """Copies of every parameter value and buffer, keyed by dotted name."""
        return {name: get_array_module(a).array(a, copy=True) for name, a in self.state_arrays().items()}

    def load_state_dict(self, state):
        """Copy ``state`` into parameters and buffers in place, after checking every name and shape.

        Nothing is modified unless the whole dictionary matches.
        """
        load_arrays(self.state_arrays(), state, "the model")
        for module in self.modules():
            module.state_changed()

    def state_changed(self):
        """Hook run after ``load_state_dict``: drop anything cached from the old state."""

    def training_callbacks(self):
        """Callbacks ``fit`` must run for this module (its own, not its children's): e.g. the GP
        layer's per-epoch covariance reset. ``fit`` adds one of each type unless given one."""
        return ()

    # ---- splitting a batch over replicas (parallel.DataParallel) -------------------------------
    def replicate(self):
        """A copy of the module tree that shares every parameter value and buffer with this one (the
        same arrays: an update of one is an update of both) but owns zeroed gradients and its own
        backward caches, so that two threads can run forward and backward passes at once."""
        shared = {id(array): array for array in self.state_arrays().values()}
        replica = copy.deepcopy(self, memo=shared)          # deepcopy returns memo entries as they are
        for p in replica.parameters(trainable_only=False):
            p.grad = get_array_module(p.value).zeros_like(p.value)
        return replica

    def share_randomness(self, twins, first_rows):
        """Before a step split over replicas: make this module and its ``twins`` (the same module in
        each replica) draw together what this module alone would draw for the whole batch; the
        i-th of ``(self, *twins)`` gets the rows from ``first_rows[i]`` on; ``first_rows=None``
        (after a failed pass) forgets what was shared. Nothing to share here."""

    # ---- regularisation -----------------------------------------------------------------------
    def own_penalty(self):
        """This module's own term added to the training loss (0 unless overridden)."""
        return 0.0

    def own_penalty_backward(self):
        """Accumulate the gradient of ``own_penalty`` into this module's parameters."""

    def penalty(self):
        """Sum of every module's regularisation term (e.g. the GP layer's L2 on its output weights)."""
        return sum(m.own_penalty() for m in self.modules())

    def penalty_backward(self):
        for m in self.modules():
            m.own_penalty_backward()

    def astype(self, dtype):
        """Cast every floating parameter and buffer to ``dtype``: float32 or float64 (rebinds: call
        before building an optimizer)."""
        dtype = check_float_dtype(dtype, "dtype")
        for module in self.modules():
            for value in vars(module).values():
                if isinstance(value, Parameter) and value.value.dtype.kind == "f":
                    value.value = value.value.astype(dtype)
                    value.grad = value.grad.astype(dtype)
            fixed = vars(module).get("_fixed_dtype_buffers", set())
            for name in vars(module).get("_buffer_names", []):
                buffer = getattr(module, name)
                if buffer.dtype.kind == "f" and name not in fixed:
                    setattr(module, name, buffer.astype(dtype))
        return self

    @property
    def dtype(self):
        """dtype of the first parameter (the dtype inputs are cast to by ``fit``)."""
        for _, p in self.named_parameters():
            return p.value.dtype
        return np.dtype(np.float32)

    @property
    def xp(self):
        """The array module the parameters live in (``numpy``, or ``cupy`` after ``to("cupy")``)."""
        for _, p in self.named_parameters():
            return get_array_module(p.value)
        return np

    def as_input(self, x):
        """``x`` on this module's device, in its dtype: how every entry point takes user arrays."""
        return array_in(x, self.xp, dtype=self.dtype)

    def to(self, backend):
        """Move every parameter and buffer to ``backend`` (``"numpy"`` or ``"cupy"``) in place;
        returns the module. Build optimizers after moving: they hold the arrays they update."""
        module = module_named(backend)
        for m in self.modules():
            for value in vars(m).values():
                if isinstance(value, Parameter):
                    value.value = array_in(value.value, module)
                    value.grad = array_in(value.grad, module)
            for name in vars(m).get("_buffer_names", []):
                setattr(m, name, array_in(getattr(m, name), module))
            m.state_changed()
        return self

    def __repr__(self):
        children = ", ".join(name for name, _ in self.named_children())
        return f"{type(self).__name__}({children})"


@contextlib.contextmanager
def attributes_set(objects, name, values):
    """Within the block, ``objects[i].<name>`` is ``values[i]`` (or ``values`` itself when it is not a
    list); the old values come back afterwards, whatever happens in the block."""
    objects = list(objects)
    values = values if isinstance(values, list) else [values] * len(objects)
    saved = [getattr(obj, name) for obj in objects]
    for obj, value in zip(objects, values):
        setattr(obj, name, value)
    try:
        yield objects
    finally:
        for obj, value in zip(objects, saved):
            setattr(obj, name, value)


@contextlib.contextmanager
def without_caches(model):
    """Within the block, inference passes keep nothing for backward (a convolution's im2col columns,
    pooling winners, every layer's input): ``torch.no_grad`` for a hand-written backward. Training
    passes always keep theirs. On leaving, every module drops whatever cache it still holds (an
    inference pass replaces the last training pass's cache, so none was usable): after a
    prediction the model holds no memory for a backward pass. Used by ``predict`` and every
    model's prediction methods."""
    modules = list(model.modules())
    try:
        with attributes_set(modules, "caching", False):
            yield model
    finally:
        for module in modules:
            module.forget_cache()


def check_state(targets, state, owner):
    """Raise ValueError naming the missing, unexpected and mis-shaped entries unless ``state`` has
    exactly the names of ``targets`` ({name: array}) with their shapes."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    missing = sorted(set(targets) - set(state))
    unexpected = sorted(set(state) - set(targets))
    def shape(value):
        return tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
    wrong = [f"{k}: expected {tuple(targets[k].shape)}, got {shape(state[k])}"
             for k in sorted(set(targets) & set(state)) if tuple(targets[k].shape) != shape(state[k])]
    problems = ([f"missing {missing}"] if missing else []) + ([f"unexpected {unexpected}"] if unexpected else [])
    problems += ["shape mismatch " + "; ".join(wrong)] if wrong else []
    if problems:
        raise ValueError(f"state does not match {owner}: " + ", ".join(problems))


def load_arrays(targets, state, owner):
    """``check_state``, then convert every entry of ``state`` to its target's dtype and device, and
    only then copy them all in place: nothing changes unless everything matches and converts.
    (Modules, optimizers and ensembles all load this way.)"""
    check_state(targets, state, owner)
    converted = {}
    for name, target in targets.items():
        value = state[name]
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        if kind is not None and kind not in "biuf":
            raise ValueError(f"state does not match {owner}: {name} holds {value.dtype} values, not numbers")
        try:
            converted[name] = array_in(value, get_array_module(target), dtype=target.dtype)
        except (TypeError, ValueError) as err:
            raise ValueError(f"state does not match {owner}: {name} cannot be converted to {target.dtype}: "
                             f"{err}") from None
        if target.dtype.kind == "f" and not bool(get_array_module(target).isfinite(converted[name]).all()):
            raise ValueError(f"state does not match {owner}: {name} holds NaN or infinite values")
    for name, target in targets.items():
        target[...] = converted[name]
