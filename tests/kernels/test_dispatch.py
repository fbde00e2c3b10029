"""One dispatch rule: ``NUMPYUQ_KERNELS=reference`` runs no compiled code at all, in any model."""
import pytest

from tests.helpers import run_python

# Trains one step of every model and optimizer, then counts the numba twins that were called
# (a twin that ran has at least one compiled signature in this process).
SCRIPT = r"""
import importlib, pkgutil
import numpy as np
import numpyuq.kernels
for info in pkgutil.iter_modules(numpyuq.kernels.__path__):
    importlib.import_module("numpyuq.kernels." + info.name)
from numpyuq.kernels.dispatch import COMPILED
from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.models import DeepResNetSNGP, LeNet
from numpyuq.nn import Conv2D, MaxPool2D, Sequential
from numpyuq.optim import SGD, Adam
from numpyuq.training import fit

rng = np.random.default_rng(0)
images, labels = rng.random((8, 1, 28, 28), np.float32), rng.integers(0, 10, 8)
nchw = Sequential(Conv2D(1, 3, 3, activation="relu", seed=0), MaxPool2D(2, 2))
for model, x, y, opt in ((LeNet(seed=0), images, labels, Adam),
                         (DeepResNetSNGP(2, num_layers=2, num_hidden=8, num_inducing=16), rng.random((8, 2)),
                          labels % 2, SGD)):
    fit(model, SoftmaxCrossEntropy(), opt(model.parameters()), x, y, epochs=1, batch_size=4, progress=False)
out = nchw(images, training=True)
nchw.backward(np.ones_like(out))
print(len(COMPILED), sum(len(twin.signatures) > 0 for twin in COMPILED))
"""


@pytest.mark.parametrize("kernels", ["reference", "numba"])
def test_reference_mode_runs_no_compiled_code(kernels):
    out = run_python(SCRIPT, env={"NUMPYUQ_KERNELS": kernels})
    assert out.returncode == 0, out.stderr[-3000:]
    registered, used = map(int, out.stdout.split())
    assert registered >= 10                      # every kernel module was imported
    if kernels == "reference":
        assert used == 0
    else:
        assert used >= 8                         # the check can see a twin run: it is not vacuous


def test_bad_kernels_setting_is_a_clear_error():
    out = run_python("import numpyuq.kernels.dispatch", env={"NUMPYUQ_KERNELS": "fast"})
    assert out.returncode != 0 and "NUMPYUQ_KERNELS must be 'numba' or 'reference', got 'fast'" in out.stderr


# ---- the two paths agree on every input, valid or not ----------------------------------------
import numpy as np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from numpyuq.kernels import dispatch  # noqa: E402
from numpyuq.kernels.adam import adam_update  # noqa: E402
from numpyuq.kernels.bias_relu import bias_relu_forward, relu_bias_backward  # noqa: E402
from numpyuq.kernels.conv_gemm import gemm_col2im, im2col_gemm, im2col_gemm_weights  # noqa: E402
from numpyuq.kernels.dirichlet_kl import dirichlet_kl  # noqa: E402
from numpyuq.kernels.dropout_mask import keep_mask  # noqa: E402
from numpyuq.kernels.im2col_nhwc import col2im_nhwc, im2col_nhwc  # noqa: E402
from numpyuq.kernels.pooling import maxpool_backward, maxpool_forward  # noqa: E402
from numpyuq.kernels.pooling_nhwc import maxpool_nhwc_backward, maxpool_nhwc_forward  # noqa: E402

DTYPES = st.sampled_from([np.float32, np.float64, np.float32, np.float64, np.float16, np.int32])


def array(draw, shape, dtype=None):
    dtype = dtype or draw(DTYPES)
    values = np.random.default_rng(draw(st.integers(0, 2**16))).normal(size=shape)
    return values.astype(dtype)


@st.composite
def window(draw):
    """(N, H, W, C, KH, KW, stride, padding): half the time a valid geometry, else one that is often
    invalid (sizes of 0, windows that do not fit, negative padding, stride 0)."""
    if draw(st.booleans()):
        KH, KW, stride, padding = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3)), 0
        return (draw(st.integers(1, 2)), draw(st.integers(KH, 7)), draw(st.integers(KW, 7)), draw(st.integers(1, 3)),
                KH, KW, stride, padding)
    return (draw(st.integers(0, 2)), draw(st.integers(0, 7)), draw(st.integers(0, 7)), draw(st.integers(1, 3)),
            draw(st.integers(-1, 5)), draw(st.integers(-1, 5)), draw(st.integers(-1, 3)), draw(st.integers(-2, 2)))


@st.composite
def im2col_args(draw):
    N, H, W, C, KH, KW, stride, padding = draw(window())
    x = array(draw, draw(st.sampled_from([(N, H, W, C), (N, H, W, C), (H, W, C)])))
    return (x, KH, KW, stride, padding)


@st.composite
def col2im_args(draw):
    N, H, W, C, KH, KW, stride, padding = draw(window())
    OH = max(0, (H + 2 * padding - KH) // max(stride, 1) + 1)
    OW = max(0, (W + 2 * padding - KW) // max(stride, 1) + 1)
    rows = N * OH * OW + draw(st.sampled_from([0, 0, 0, 1]))
    cols = array(draw, (rows, max(KH, 0) * max(KW, 0) * C))
    return (cols, (N, H, W, C), KH, KW, stride, padding)


@st.composite
def gemm_args(draw):
    N, H, W, C, KH, KW, stride, padding = draw(window())
    x = array(draw, (N, H, W, C))
    dtype = draw(st.sampled_from([x.dtype] * 3 + [np.float64]))
    w_mat = array(draw, (draw(st.integers(1, 4)), max(KH, 0) * max(KW, 0) * C + draw(st.sampled_from([0, 0, 0, 1]))), dtype)
    return (x, w_mat, KH, KW, stride, padding)


@st.composite
def gemm_col2im_args(draw):
    N, H, W, C, KH, KW, stride, padding = draw(window())
    OH = max(0, (H + 2 * padding - KH) // max(stride, 1) + 1)
    OW = max(0, (W + 2 * padding - KW) // max(stride, 1) + 1)
    F = draw(st.integers(1, 4))
    dy = array(draw, (N * OH * OW + draw(st.sampled_from([0, 0, 0, 1])), F))
    dtype = draw(st.sampled_from([dy.dtype] * 3 + [np.float64]))
    w_mat = array(draw, (F, max(KH, 0) * max(KW, 0) * C + draw(st.sampled_from([0, 0, 0, 1]))), dtype)
    return (dy, w_mat, (N, H, W, C), KH, KW, stride, padding)


@st.composite
def gemm_weights_args(draw):
    N, H, W, C, KH, KW, stride, padding = draw(window())
    OH = max(0, (H + 2 * padding - KH) // max(stride, 1) + 1)
    OW = max(0, (W + 2 * padding - KW) // max(stride, 1) + 1)
    x = array(draw, draw(st.sampled_from([(N, H, W, C)] * 3 + [(H, W, C)])))
    dtype = draw(st.sampled_from([x.dtype] * 3 + [np.float64]))
    dy = array(draw, (N * OH * OW + draw(st.sampled_from([0, 0, 0, 1])), draw(st.integers(1, 4))), dtype)
    return (x, dy, KH, KW, stride, padding)


@st.composite
def pool_args(draw, layout):
    N, H, W, C, size, size_w, stride, _ = draw(window())
    H, W = (max(H, size), max(W, size)) if size == size_w else (H, W)
    shape = (N, C, H, W) if layout == "NCHW" else (N, H, W, C)
    if layout == "NHWC":
        return (array(draw, shape), size, stride, draw(st.booleans()))     # with and without winners
    return (array(draw, shape), size, stride)


@st.composite
def pool_backward_args(draw, layout):
    N, H, W, C, size, size_w, stride, _ = draw(window())
    H, W = (max(H, size), max(W, size)) if size == size_w else (H, W)
    OH = max(0, (H - size) // max(stride, 1) + 1) + draw(st.sampled_from([0, 0, 0, 1]))
    OW = max(0, (W - size) // max(stride, 1) + 1)
    dy_shape = (N, C, OH, OW) if layout == "NCHW" else (N, OH, OW, C)
    argmax = np.random.default_rng(0).integers(0, max(size, 1) ** 2 + draw(st.sampled_from([0, 0, 0, 3])),
                                               dy_shape).astype(np.int8)
    x_shape = (N, C, H, W) if layout == "NCHW" else (N, H, W, C)
    return (array(draw, dy_shape), argmax, x_shape, size, stride)


@st.composite
def bias_relu_args(draw):
    rows, cols = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    z = array(draw, draw(st.sampled_from([(rows, cols)] * 4 + [(rows,), (rows, cols, 1)])))
    b = array(draw, (cols + draw(st.sampled_from([0, 0, 0, 1])),), draw(st.sampled_from([z.dtype] * 3 + [np.float64])))
    return (z, b)


@st.composite
def relu_backward_args(draw):
    rows, cols = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    dy = array(draw, (rows, cols))
    y = np.maximum(array(draw, (rows, cols + draw(st.sampled_from([0, 0, 1]))), dy.dtype), 0)
    return (dy, y)


@st.composite
def keep_mask_args(draw):
    shape = tuple(draw(st.lists(st.integers(-1, 4), min_size=0, max_size=3)))
    like = array(draw, (2,))
    return (draw(st.integers(-1, 2**20)), shape, draw(st.floats(-0.5, 1.5)), like, 2.0,
            draw(st.sampled_from([0, 0, 3, -1, 2**62, True])))


@st.composite
def adam_args(draw):
    size = draw(st.integers(0, 6))
    dtype = draw(DTYPES)
    value, grad, m = (array(draw, (size,), dtype) for _ in range(3))
    v = np.abs(array(draw, (size + draw(st.sampled_from([0, 0, 1])),), dtype))
    if draw(st.booleans()):        # valid hyper-parameters
        return (value, grad, m, v, 1e-3, 0.9, 0.999, 1e-8, draw(st.sampled_from([0.0, 0.01])), draw(st.booleans()),
                draw(st.integers(1, 3)), draw(st.sampled_from(["corrected", "raw"])))
    return (value, grad, m, v, draw(st.sampled_from([1e-3, 0.0])), draw(st.sampled_from([0.9, 1.0])), 0.999,
            1e-8, 0.01, draw(st.booleans()), draw(st.integers(0, 3)), draw(st.sampled_from(["corrected", "raw", "x"])))


@st.composite
def dirichlet_kl_args(draw):
    """Mostly valid (alpha >= 1, one-hot y); else below 1, non-finite, out-of-range y or a bad shape."""
    N, K = draw(st.integers(0, 4)), draw(st.integers(0, 5))
    dtype = draw(DTYPES)
    alpha = 1 + np.abs(array(draw, (N, K), np.float64)) * draw(st.sampled_from([1e-6, 1.0, 1e3, 1e8]))
    y = np.eye(max(K, 1))[np.random.default_rng(0).integers(0, max(K, 1), N)][:, :K]
    flaw = draw(st.sampled_from([None] * 4 + ["below one", "nan", "y", "shape", "rank"]))
    if flaw == "below one" and alpha.size:
        alpha[0, 0] = 0.5
    elif flaw == "nan" and alpha.size:
        alpha[-1, -1] = np.nan
    elif flaw == "y" and y.size:
        y[0, 0] = 2.0
    elif flaw == "shape":
        y = np.zeros((N, K + 1))
    elif flaw == "rank":
        alpha = alpha.reshape(-1)
    with np.errstate(over="ignore"):                                  # 1e8 overflows float16: fine
        return (alpha.astype(dtype), y.astype(dtype if draw(st.booleans()) else np.float64))


ENTRY_POINTS = {
    "dirichlet_kl": (dirichlet_kl, dirichlet_kl_args()),
    "im2col_nhwc": (im2col_nhwc, im2col_args()),
    "col2im_nhwc": (col2im_nhwc, col2im_args()),
    "im2col_gemm": (im2col_gemm, gemm_args()),
    "gemm_col2im": (gemm_col2im, gemm_col2im_args()),
    "im2col_gemm_weights": (im2col_gemm_weights, gemm_weights_args()),
    "maxpool_forward": (maxpool_forward, pool_args("NCHW")),
    "maxpool_nhwc_forward": (maxpool_nhwc_forward, pool_args("NHWC")),
    "maxpool_backward": (maxpool_backward, pool_backward_args("NCHW")),
    "maxpool_nhwc_backward": (maxpool_nhwc_backward, pool_backward_args("NHWC")),
    "bias_relu_forward": (bias_relu_forward, bias_relu_args()),
    "relu_bias_backward": (relu_bias_backward, relu_backward_args()),
    "keep_mask": (keep_mask, keep_mask_args()),
    "adam_update": (adam_update, adam_args()),
}


def outcome(function, args, kernels):
    """(error type, None) or (None, outputs and in-place-updated array arguments) under ``kernels``."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dispatch, "KERNELS", kernels)
        try:
            result = function(*args)
        except (ValueError, TypeError) as err:
            return type(err), None
    results = result if isinstance(result, tuple) else (result,)
    return None, [np.asarray(r) for r in results if r is not None] + [a for a in args if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
@settings(max_examples=80, deadline=None, derandomize=True)
@given(data=st.data())
def test_numba_and_reference_agree_on_any_input(name, data):
    function, strategy = ENTRY_POINTS[name]
    args = data.draw(strategy)
    ref_error, ref = outcome(function, args, "reference")
    numba_error, compiled = outcome(function, args, "numba")
    assert ref_error == numba_error
    if ref_error is None:
        assert len(ref) == len(compiled)
        for a, b in zip(ref, compiled):
            assert a.shape == b.shape and a.dtype == b.dtype
            tol = 1e-5 if a.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_kernels_cache_in_the_user_cache_folder_and_leave_numba_config_alone(tmp_path):
    """Compiled kernels cache under cache_dir() (never beside the installed sources), and numba's
    process-wide setting is left as it was for other numba users."""
    code = ("import numba\nbefore = numba.config.CACHE_DIR\n"
            "from numpyuq.kernels.dispatch import COMPILED, cache_dir\nimport numpyuq.kernels.bias_relu\n"
            "print(before == numba.config.CACHE_DIR, cache_dir(), COMPILED[0]._cache._cache_path)")
    out = run_python(code, env={"NUMBA_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path)})
    unchanged, folder, path = out.stdout.split()
    assert out.returncode == 0 and unchanged == "True"
    assert folder == str(tmp_path / "numpyuq" / "numba") and path.startswith(folder)
    out = run_python(code, env={"NUMBA_CACHE_DIR": str(tmp_path / "mine")})
    assert out.stdout.split()[2].startswith(str(tmp_path / "mine"))


def test_serial_and_parallel_twins_are_cached_apart(tmp_path):
    """numba's cache key ignores ``parallel``: one shared folder served serial twins to
    NUMPYUQ_PARALLEL_KERNELS=1 runs. Each kind has its own folder, and each run compiles its own kind."""
    code = ("from numpyuq.kernels import im2col_nhwc as m\n"
            "print(m._im2col_nhwc_numba.targetoptions['parallel'], m._im2col_nhwc_numba._cache._cache_path)")
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    serial = run_python(code, env=dict(env, NUMPYUQ_PARALLEL_KERNELS="0")).stdout.split()
    parallel = run_python(code, env=dict(env, NUMPYUQ_PARALLEL_KERNELS="1")).stdout.split()
    assert serial[0] == "False" and serial[1].startswith(str(tmp_path / "serial"))
    assert parallel[0] == "True" and parallel[1].startswith(str(tmp_path / "parallel"))


@pytest.mark.slow
def test_parallel_twins_match_the_references(tmp_path):
    """Under NUMPYUQ_PARALLEL_KERNELS=1 (prange over the batch) every opting-in kernel still equals
    its xp reference: each image's writes are its own, so the threads cannot race."""
    code = """
import numpy as np
from numpyuq.kernels import im2col_nhwc as c, pooling_nhwc as p
assert c._im2col_nhwc_numba.targetoptions['parallel']
rng = np.random.default_rng(0)
for shape, k, s, pad in [((5, 12, 12, 3), 5, 1, 0), ((4, 7, 6, 2), 3, 2, 1)]:
    x = rng.standard_normal(shape)
    cols = c.im2col_nhwc(x, k, k, s, pad)
    assert np.array_equal(cols, c.im2col_nhwc_reference(x, k, k, s, pad))
    dx = c.col2im_nhwc(cols, shape, k, k, s, pad)
    assert np.allclose(dx, c.col2im_nhwc_reference(cols, shape, k, k, s, pad), rtol=1e-12, atol=1e-12)
for size, stride in [(2, 2), (3, 2)]:
    x = rng.standard_normal((5, 9, 8, 3))
    y, arg = p.maxpool_nhwc_forward(x, size, stride)
    y_ref, arg_ref = p.maxpool_nhwc_forward_reference(x, size, stride)
    assert np.array_equal(y, y_ref) and np.array_equal(arg, arg_ref)
    assert np.array_equal(p.maxpool_nhwc_forward(x, size, stride, with_argmax=False)[0], y_ref)
    dy = rng.standard_normal(y.shape)
    assert np.allclose(p.maxpool_nhwc_backward(dy, arg, x.shape, size, stride),
                       p.maxpool_nhwc_backward_reference(dy, arg_ref, x.shape, size, stride), rtol=1e-12, atol=1e-12)
print("ok")
"""
    out = run_python(code, env={"NUMBA_CACHE_DIR": str(tmp_path), "NUMPYUQ_PARALLEL_KERNELS": "1"})
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr[-2000:]


def test_the_cache_folder_changes_with_any_kernel_source(tmp_path):
    """numba keeps a cached function while its own file is unchanged, even when a function it calls
    from another file changed: the folder is named by a digest of every kernel source instead."""
    from numpyuq.kernels import dispatch
    for name, text in (("a.py", "x = 1\n"), ("b.py", "y = 2\n"), ("notes.txt", "not a source\n")):
        (tmp_path / name).write_text(text)
    first = dispatch.sources_digest(str(tmp_path))
    (tmp_path / "notes.txt").write_text("changed, but not a source\n")
    assert dispatch.sources_digest(str(tmp_path)) == first
    (tmp_path / "b.py").write_text("y = 3\n")
    assert dispatch.sources_digest(str(tmp_path)) != first
    assert dispatch.SOURCES == dispatch.sources_digest()
    from numpyuq.kernels import bias_relu
    assert dispatch.SOURCES in bias_relu._bias_relu_forward_numba._cache._cache_path
