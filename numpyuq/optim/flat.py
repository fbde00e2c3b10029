"""Pack parameters into one flat buffer per dtype so one fused kernel can update them all.

After packing, ``p.value`` and ``p.grad`` are views into ``FlatGroup.value`` / ``.grad``; the module
protocol's in-place rule (see ``nn/module.py``) keeps those views valid.
"""
from ..backend import get_array_module
from ..validation import check_float_dtype


class FlatGroup:
    """Parameters of one dtype: ``value``, ``grad`` are 1-D arrays; ``params`` their owners."""

    def __init__(self, params):
        xp = get_array_module(params[0].value)
        dtype = params[0].value.dtype
        total = sum(int(p.value.size) for p in params)
        self.params = params
        self.value = xp.empty(total, dtype)
        self.grad = xp.zeros(total, dtype)
        offset = 0
        for p in params:
            n = int(p.value.size)
            self.value[offset:offset + n] = p.value.ravel()
            p.value = self.value[offset:offset + n].reshape(p.value.shape)
            p.grad = self.grad[offset:offset + n].reshape(p.value.shape)
            offset += n

    def owns_parameters(self):
        """True while every parameter's value and grad are still views of this group's buffers.

        They stop being so when another optimizer packs the same parameters, or when the model is
        cast (``astype``) or moved: the parameters then live elsewhere, and updating this group's
        buffers would train nothing.
        """
        xp = get_array_module(self.value)
        return all(xp.may_share_memory(p.value, self.value) and xp.may_share_memory(p.grad, self.grad)
                   for p in self.params)


def pack_parameters(params):
    """Group trainable ``params`` by dtype into ``FlatGroup``s (rebinding their value/grad to views)."""
    if not hasattr(params, "__iter__") or hasattr(params, "named_parameters"):
        raise TypeError(f"params must be an iterable of Parameters such as model.parameters(), "
                        f"got {type(params).__name__}")
    params = list(params)
    for p in params:
        if not (hasattr(p, "value") and hasattr(p, "grad") and hasattr(p, "trainable")):
            raise TypeError(f"params must hold Parameter objects, got a {type(p).__name__}")
        check_float_dtype(p.value.dtype, "every parameter's dtype")
    if not params:
        raise ValueError("params must contain at least one trainable Parameter, got none")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("params lists the same Parameter more than once")
    by_dtype = {}
    for p in params:
        if p.trainable:
            by_dtype.setdefault(p.value.dtype, []).append(p)
    return [FlatGroup(group) for group in by_dtype.values()]
