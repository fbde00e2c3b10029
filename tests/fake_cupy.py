"""A strict, NumPy-backed stand-in for CuPy: proves numpyuq's CuPy backend on machines without a GPU.

``install(monkeypatch)`` puts this module into ``sys.modules`` as ``cupy`` (with ``cupy.random``
and ``cupy.linalg``), and small companions as ``cupyx``, ``cupyx.scipy``, ``cupyx.scipy.special``
and ``cupyx.scipy.linalg``. Arrays are instances of ``ndarray``, a *wrapper* around a NumPy array,
not a subclass. A subclass would let ``np.asarray`` succeed silently, and a silent move to the host
is exactly the bug this stand-in exists to catch.

What it imitates (written against CuPy 13.x; each point is checked in ``tests/test_fake_cupy.py``):

* No implicit conversion to NumPy. ``np.asarray(x)``, ``np.array(x)`` and anything that calls them
  (scipy, scikit-learn, matplotlib) raise TypeError, as CuPy's ``__array__`` does. A plain class
  has no buffer protocol, so ``memoryview(x)`` raises too. ``x.get()`` and ``cupy.asnumpy(x)`` are
  the explicit way out; ``cupy.asarray(numpy_array)`` the explicit way in.
* No mixing. An operator or function given a device array and a NumPy array raises TypeError
  ("Unsupported type"), in either order. Python and NumPy scalars are accepted, as in CuPy.
* Reductions and scalar indexing return 0-d device arrays, never NumPy scalars. ``float()``,
  ``int()`` and ``bool()`` of a one-element array work (a device synchronisation in CuPy).
* Only names CuPy has. The module exposes a list of NumPy's functions that CuPy implements;
  anything else is an AttributeError. ``cupy.random.default_rng`` returns a Generator without
  ``normal``, ``permutation``, ``shuffle``, ``choice`` and ``spawn``.
* ``ufunc.at`` only for ``add``, ``subtract``, ``maximum`` and ``minimum``, and only on the dtypes
  CuPy's atomics support (``add``/``subtract``: float16/32/64, int32, uint32, uint64;
  ``maximum``/``minimum``: float32/64, int32, uint32, uint64). No int64: CUDA has no atomic add
  for it. ``reduce``, ``accumulate`` and ``outer`` on ufuncs are refused.

Stricter than CuPy, on purpose: NumPy functions and ufuncs called *on* device arrays
(``np.exp(x)``, ``np.concatenate([x, y])``) raise here. CuPy would dispatch them through
``__array_ufunc__`` and ``__array_function__``, but numpyuq's rule is to call the array's own module
(``xp``). NumPy arrays as indices or as values assigned into a device array are refused here too.

What it cannot imitate: CUDA compilation (``ElementwiseKernel``, ``RawKernel`` are absent), device
memory and its limits, asynchronous streams, the numerics of atomics (the order of a GPU's
floating-point sums), cuRAND's streams (the Generator draws NumPy's numbers), and speed.
"""
import numbers
import sys
import types

import numpy as np

IS_FAKE = True         # lets tests tell the stand-in from real CuPy; numpyuq itself never looks

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")


def _unsupported(value):
    return TypeError(f"Unsupported type {type(value)}")


def _unwrap(value, allow_host=False):
    """The NumPy payload of a device array; scalars pass; a NumPy array is refused (mixing)."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        if allow_host:
            return value
        raise _unsupported(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, allow_host) for v in value)
    return value


def _wrap(value):
    """NumPy results become device arrays; NumPy scalars become 0-d device arrays."""
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _operand(value):
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, (numbers.Number, np.generic)):
        return value
    raise _unsupported(value)


def _index(key):
    """Indices may be ints, slices, None, Ellipsis, device arrays, or tuples of these."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, np.ndarray):
        raise _unsupported(key)
    return key


class ndarray:
    """A device array: a NumPy array that refuses to leave the device implicitly."""

    __slots__ = ("_a",)
    __array_ufunc__ = None          # NumPy ufuncs and operators on a device array raise TypeError
    __hash__ = None

    def __init__(self, payload):
        if not isinstance(payload, np.ndarray):
            raise TypeError("fake cupy.ndarray wraps a NumPy array; use cupy.asarray")
        self._a = payload

    # ---- the refusals -----------------------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"{func.__module__}.{func.__name__} called on a device array: {_IMPLICIT}")

    # ---- the explicit way out and scalars ---------------------------------------------------
    def get(self, stream=None, order="C", out=None):
        return np.array(self._a, order=order, copy=True)

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __complex__(self):
        return complex(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(row)) for row in self._a)

    def __repr__(self):
        return "fake_cupy." + repr(self._a)

    def __format__(self, spec):
        return format(self._a.item(), spec) if self._a.size == 1 else repr(self)

    # ---- attributes -------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    real = property(lambda self: ndarray(self._a.real))
    imag = property(lambda self: ndarray(self._a.imag))

    def __getattr__(self, name):
        # Array methods (reshape, sum, astype, ...): arguments unwrapped, results wrapped.
        if name not in _METHODS:
            raise AttributeError(f"fake cupy.ndarray has no attribute {name!r}")
        method = getattr(self._a, name)

        def call(*args, **kwargs):
            out = kwargs.get("out")
            result = method(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
            return out if out is not None and result is out._a else _wrap(result)
        return call

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _operand(value) if not isinstance(value, (list, tuple)) else _unwrap(value)


_METHODS = frozenset("""
    all any argmax argmin argsort astype clip copy cumsum diagonal dot fill flatten max mean min nonzero
    prod ravel repeat reshape round sort squeeze std sum swapaxes take trace transpose var view
""".split())


def _binary(name):
    def op(self, other):
        return _wrap(getattr(self._a, name)(_operand(other)))
    op.__name__ = name
    return op


def _inplace(name):
    def op(self, other):
        getattr(self._a, name)(_operand(other))
        return self
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    setattr(ndarray, f"__{_name}__", _binary(f"__{_name}__"))
    setattr(ndarray, f"__r{_name}__", _binary(f"__r{_name}__"))
    setattr(ndarray, f"__i{_name}__", _inplace(f"__i{_name}__"))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", (lambda n: lambda self: _wrap(getattr(self._a, f"__{n}__")()))(_name))


# ---- module-level functions ---------------------------------------------------------------------
def _function(fn, allow_host=False):
    def call(*args, **kwargs):
        out = kwargs.get("out")
        result = fn(*_unwrap(args, allow_host), **{k: _unwrap(v, allow_host) for k, v in kwargs.items()})
        return out if out is not None and result is out._a else _wrap(result)
    call.__name__ = getattr(fn, "__name__", "function")
    return call


class ufunc:
    """A NumPy ufunc on device arrays; ``at`` only where CuPy has it, no ``reduce``/``outer``."""

    _AT_DTYPES = {"add": "efdiIQ", "subtract": "efdiIQ", "maximum": "fdiIQ", "minimum": "fdiIQ"}

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = np_ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _function(self._u)(*args, **kwargs)

    def at(self, a, indices, b=None):
        allowed = self._AT_DTYPES.get(self.__name__)
        if allowed is None:
            raise NotImplementedError(f"cupy.{self.__name__}.at is not supported")
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        if a.dtype.char not in allowed and not (a.dtype.char == "L" and "Q" in allowed):
            raise TypeError(f"cupy.{self.__name__}.at does not support dtype {a.dtype} (no CUDA atomic for it)")
        self._u.at(a._a, _index(indices), *(() if b is None else (_operand(b),)))


_UFUNCS = """
    abs absolute add arctan2 bitwise_and bitwise_or bitwise_xor ceil cos cosh divide equal exp exp2 expm1 floor
    floor_divide fmax fmin greater greater_equal hypot invert isfinite isinf isnan less less_equal log log10
    log1p log2 logaddexp logical_and logical_not logical_or logical_xor maximum minimum mod multiply negative
    not_equal power reciprocal remainder rint sign sin sinh sqrt square subtract tan tanh true_divide
""".split()

_FUNCTIONS = """
    allclose amax amin any all arange argmax argmin argsort argwhere array_equal array_split atleast_1d
    atleast_2d bincount broadcast_to clip concatenate count_nonzero cumsum diag diagonal dot einsum empty
    empty_like expand_dims eye flip full full_like hstack identity inner interp isclose linspace matmul max
    may_share_memory mean meshgrid min moveaxis nonzero ones ones_like outer pad prod ravel repeat reshape roll round
    searchsorted shares_memory sort split squeeze stack std sum swapaxes take take_along_axis tensordot tile trace
    transpose tril triu unique var vstack where zeros zeros_like
""".split()

_module = sys.modules[__name__]
for _name in _UFUNCS:
    setattr(_module, _name, ufunc(getattr(np, _name)))
for _name in _FUNCTIONS:
    setattr(_module, _name, _function(getattr(np, _name)))


def asarray(a, dtype=None, order=None):
    """The explicit way in: host data (NumPy arrays, lists, scalars) copied to the device."""
    return ndarray(np.array(_unwrap(a, allow_host=True), dtype=dtype, order=order, copy=True)
                   if not isinstance(a, ndarray) else np.asarray(a._a, dtype=dtype, order=order))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    return ndarray(np.array(_unwrap(a, allow_host=True), dtype=dtype, copy=True, order=order, ndmin=ndmin))


def ascontiguousarray(a, dtype=None):
    return ndarray(np.ascontiguousarray(_unwrap(a), dtype=dtype))


def asnumpy(a, stream=None, order="C", out=None):
    """The explicit way out."""
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*args):
    return _module if any(isinstance(a, ndarray) for a in args) else np


def isscalar(value):
    return np.isscalar(value)


for _name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint32", "uint64",
              "bool_", "complex64", "complex128", "dtype", "finfo", "iinfo", "result_type", "can_cast",
              "promote_types", "integer", "floating", "number", "generic", "newaxis", "inf", "nan", "pi", "e"):
    setattr(_module, _name, getattr(np, _name))


# ---- cupy.random and cupy.linalg ----------------------------------------------------------------
class Generator:
    """cupy.random.Generator: the draws CuPy's Generator offers (NumPy's numbers, as device arrays).
    Missing as in CuPy: normal, permutation, shuffle, choice, spawn."""

    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        if name not in ("random", "integers", "standard_normal", "uniform", "standard_exponential",
                        "exponential", "gamma", "standard_gamma", "beta", "binomial", "poisson"):
            raise AttributeError(f"cupy.random.Generator has no attribute {name!r}")
        return _function(getattr(self._g, name))


random = types.ModuleType("cupy.random")
random.default_rng = Generator
random.Generator = Generator

linalg = types.ModuleType("cupy.linalg")
for _name in ("cholesky", "det", "eigh", "inv", "norm", "qr", "slogdet", "solve", "svd"):
    setattr(linalg, _name, _function(getattr(np.linalg, _name)))


# ---- cupyx ----------------------------------------------------------------------------------------
def _cupyx_modules():
    import scipy.linalg
    import scipy.special

    cupyx = types.ModuleType("cupyx")
    cupyx_scipy = types.ModuleType("cupyx.scipy")
    special = types.ModuleType("cupyx.scipy.special")
    for name in ("digamma", "entr", "erf", "erfc", "erfinv", "expit", "gammaln", "i0", "log_softmax",
                 "logit", "logsumexp", "polygamma", "softmax", "xlogy", "zeta"):
        setattr(special, name, _function(getattr(scipy.special, name)))

    scipy_linalg = types.ModuleType("cupyx.scipy.linalg")
    scipy_linalg.solve_triangular = _function(scipy.linalg.solve_triangular)

    def scatter_add(a, indices, value):
        _module.add.at(a, indices, value)

    cupyx.scatter_add = scatter_add
    cupyx.scipy, cupyx_scipy.special, cupyx_scipy.linalg = cupyx_scipy, special, scipy_linalg
    return {"cupyx": cupyx, "cupyx.scipy": cupyx_scipy, "cupyx.scipy.special": special,
            "cupyx.scipy.linalg": scipy_linalg}


def install(monkeypatch):
    """Make ``import cupy`` (and cupyx.scipy.special) give this stand-in, until the test ends."""
    monkeypatch.setitem(sys.modules, "cupy", _module)
    monkeypatch.setitem(sys.modules, "cupy.random", random)
    monkeypatch.setitem(sys.modules, "cupy.linalg", linalg)
    for name, module in _cupyx_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return _module
