"""The padded convolution by tap classes: the classes' geometry, the plain pair against im2col + GEMM,
the loops and their numba twins against NumPy slices, the dispatchers against the plain pair, and the
same errors on both paths."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyuq.kernels import conv_tap_classes as mod
from numpyuq.kernels.conv_gemm import im2col_gemm_reference
from numpyuq.kernels.im2col_nhwc import col2im_nhwc_reference, im2col_nhwc_reference

# (N, H, W, C), F, KH, KW, padding: LeNet5's layers in small, odd shapes, a padding as wide as the
# kernel (outputs whose windows meet no pixel), and no padding (one class)
CASES = [((2, 7, 7, 3), 4, 5, 5, 2), ((2, 6, 5, 2), 3, 3, 3, 1), ((1, 4, 4, 2), 2, 3, 3, 3),
         ((2, 9, 8, 2), 3, 5, 3, 2), ((3, 5, 6, 1), 2, 2, 4, 1), ((1, 6, 6, 2), 2, 3, 3, 0)]


def textbook(x, w_mat, KH, KW, padding, dy):
    """y = cols w^T, dx = col2im(dy w), dw = dy^T cols with the padded im2col."""
    cols, y = im2col_gemm_reference(x, w_mat, KH, KW, 1, padding)
    return y, col2im_nhwc_reference(dy @ w_mat, x.shape, KH, KW, 1, padding), dy.T @ cols


def draw(rng, shape, F, KH, KW, dtype=np.float64):
    x = rng.standard_normal(shape).astype(dtype)
    return x, rng.standard_normal((F, KH * KW * shape[3])).astype(dtype)


@given(size=st.integers(1, 12), kernel=st.integers(1, 6), padding=st.integers(0, 6))
def test_classes_tile_the_outputs_and_name_each_windows_real_taps(size, kernel, padding):
    if size + 2 * padding < kernel:
        return
    classes = mod.tap_classes(size, kernel, padding)
    outputs = [o for o0, o1, _, _ in classes for o in range(o0, o1)]
    assert outputs == list(range(size + 2 * padding - kernel + 1))
    for o0, o1, k0, k1 in classes:
        for o in range(o0, o1):        # the taps that read a real pixel, counted one by one
            real = [k for k in range(kernel) if 0 <= o + k - padding < size]
            assert real == list(range(k0, k1))
    assert len(classes) <= 2 * padding + 1


@pytest.mark.parametrize("shape, F, KH, KW, padding", CASES)
def test_real_fraction_is_the_share_of_im2col_entries_that_are_pixels(shape, F, KH, KW, padding):
    ones = np.ones((1,) + shape[1:3] + (1,))
    assert mod.real_fraction(shape[1], shape[2], KH, KW, padding) == pytest.approx(
        im2col_nhwc_reference(ones, KH, KW, 1, padding).mean(), rel=1e-12)


@pytest.mark.parametrize("shape, F, KH, KW, padding", CASES)
def test_plain_pair_is_the_padded_im2col_gemm(rng, shape, F, KH, KW, padding):
    x, w = draw(rng, shape, F, KH, KW)
    y = mod.conv_tap_classes_reference(x, w, KH, KW, padding)
    dy = rng.standard_normal(y.shape)
    want_y, want_dx, want_dw = textbook(x, w, KH, KW, padding, dy)
    dx, dw = mod.conv_tap_classes_backward_reference(x, dy, w, KH, KW, padding)
    for name, got, want in (("y", y, want_y), ("dx", dx, want_dx), ("dw", dw, want_dw)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("compiled", [False, True], ids=["loops", "numba"])
@pytest.mark.parametrize("shape, F, KH, KW, padding", CASES)
def test_gather_and_scatter_loops_are_the_crops_im2col_and_col2im(rng, compiled, shape, F, KH, KW, padding):
    walk = numba.njit(mod._class_loops) if compiled else mod._class_loops      # the walk alone, compiled

    def gather(x, n0, n1, rows, cols, padding, block):
        walk(x, block, n0, n1, rows, cols, padding, False)

    def scatter(block, n0, n1, rows, cols, padding, dx):
        walk(dx, block, n0, n1, rows, cols, padding, True)
    x = rng.standard_normal(shape)
    for rows, cols in mod.classes_2d(shape[1], shape[2], KH, KW, padding):
        region = mod.crop(x, rows, cols, padding)
        want = im2col_nhwc_reference(region, rows[3] - rows[2], cols[3] - cols[2], 1, 0)
        n0, n1 = (1, shape[0]) if shape[0] > 1 else (0, 1)         # a chunk of the images
        block = np.full((want.shape[0] // shape[0] * (n1 - n0), want.shape[1]), np.nan)
        gather(x, n0, n1, rows, cols, padding, block)
        np.testing.assert_array_equal(block, want.reshape(shape[0], -1)[n0:n1].reshape(block.shape))
        dx = rng.standard_normal(shape)
        expected = dx.copy()
        mod.crop(expected, rows, cols, padding)[n0:n1] += col2im_nhwc_reference(
            block, (n1 - n0,) + region.shape[1:], rows[3] - rows[2], cols[3] - cols[2], 1, 0)
        scatter(block, n0, n1, rows, cols, padding, dx)
        np.testing.assert_allclose(dx, expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("shape, F, KH, KW, padding", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dispatchers_equal_the_plain_pair(rng, shape, F, KH, KW, padding, dtype):
    x, w = draw(rng, shape, F, KH, KW, dtype)
    y = mod.conv_tap_classes(x, w, KH, KW, padding)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw = mod.conv_tap_classes_backward(x, dy, w, KH, KW, padding)
    want_dx, want_dw = mod.conv_tap_classes_backward_reference(x, dy, w, KH, KW, padding)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert y.dtype == dx.dtype == dw.dtype == dtype
    for name, got, want in (("y", y, mod.conv_tap_classes_reference(x, w, KH, KW, padding)), ("dx", dx, want_dx),
                            ("dw", dw, want_dw)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=name)


def run_layer_loops(forward, backward, x, w, KH, KW, padding, dy):
    """The forward and backward loops (plain or compiled) on fresh buffers: y, dx, dw_mat."""
    F = w.shape[0]
    plan = mod.plan_table(*x.shape, KH, KW, padding, x.itemsize)
    _, most_rows, largest, widest, _ = mod.class_plan(*x.shape, KH, KW, padding, x.itemsize)
    y = np.zeros(mod.output_shape(x.shape, KH, KW, padding) + (F,), x.dtype)
    address = mod.gemm_address(x.dtype)
    forward(x, w, KW, padding, plan, y, np.empty(largest), np.empty(most_rows * F), np.empty(F * widest), address)
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    backward(x, dy.reshape(y.shape), w, KW, padding, plan, dx, dw, True, True, np.empty(largest),
             np.empty(most_rows * F), *(np.empty(F * widest) for _ in range(3)), address)
    return y.reshape(-1, F), dx, dw


@pytest.mark.parametrize("compiled", [False, True], ids=["loops", "numba"])
def test_layer_loops_run_every_class_in_image_chunks(monkeypatch, rng, compiled):
    """Chunks of 2 images: the plain loops walk every class once a chunk for the forward pass and
    twice for the backward pass (gather, add back); both kinds of loops give the padded GEMM's result."""
    calls = []
    if not compiled:
        walk = mod._class_loops
        monkeypatch.setattr(mod, "_class_loops", lambda *a: calls.append((a[7], a[2], a[3])) or walk(*a))
    monkeypatch.setattr(mod, "images_per_chunk", lambda pixels, K, itemsize: 2)
    x, w = draw(rng, (5, 7, 7, 3), 4, 5, 5)
    dy = rng.standard_normal((5 * 49, 4))
    mod.class_plan.cache_clear()                           # plans are cached by geometry
    mod.plan_table.cache_clear()
    try:
        assert (mod.plan_table(*x.shape, 5, 5, 2, 8)[:, 8] == 2).all()
        loops = (mod._forward_numba, mod._backward_numba) if compiled else (mod._forward_loops, mod._backward_loops)
        got = run_layer_loops(*loops, x, w, 5, 5, 2, dy)
    finally:
        mod.class_plan.cache_clear()
        mod.plan_table.cache_clear()
    for name, have, want in zip(("y", "dx", "dw"), got, textbook(x, w, 5, 5, 2, dy)):
        np.testing.assert_allclose(have, want, rtol=1e-12, atol=1e-12, err_msg=name)
    if not compiled:
        classes = len(mod.classes_2d(7, 7, 5, 5, 2))
        assert classes == 25
        assert {(n0, n1) for _, n0, n1 in calls} == {(0, 2), (2, 4), (4, 5)}
        assert [add_back for add_back, _, _ in calls].count(True) == classes * 3
        assert [add_back for add_back, _, _ in calls].count(False) == classes * 3 * 2   # forward, weights


@pytest.mark.parametrize("shape, F, KH, KW, padding", CASES)
def test_kernel_crop_and_class_rows_loops_are_numpy_slices(rng, shape, F, KH, KW, padding):
    x, w = draw(rng, shape, F, KH, KW)
    grid = rng.standard_normal(mod.output_shape(shape, KH, KW, padding) + (F,))
    for rows, cols in mod.classes_2d(shape[1], shape[2], KH, KW, padding):
        (o0, o1, k0, k1), (p0, p1, l0, l1) = rows, cols
        crops = np.full(w.size, np.nan)
        np.testing.assert_array_equal(mod._kernel_crop_loops(w, KW, shape[3], k0, k1, l0, l1, crops, False),
                                      mod.kernel_crop(w, KH, KW, rows, cols))
        added = np.ones_like(w)                                   # the crop added back: its taps only
        mod._kernel_crop_loops(added, KW, shape[3], k0, k1, l0, l1, crops, True)
        want_added = np.ones((F, KH, KW, shape[3]))
        want_added[:, k0:k1, l0:l1, :] += mod.kernel_crop(w, KH, KW, rows, cols).reshape(F, k1 - k0, l1 - l0, -1)
        np.testing.assert_array_equal(added, want_added.reshape(F, -1))
        n0, n1 = (1, shape[0]) if shape[0] > 1 else (0, 1)
        want = grid[n0:n1, o0:o1, p0:p1].reshape(-1, F)
        out = np.full(want.shape, np.nan)
        mod._class_rows_loops(grid, out, n0, n1, o0, o1, p0, p1, False)
        np.testing.assert_array_equal(out, want)
        back = np.zeros_like(grid)
        mod._class_rows_loops(back, out, n0, n1, o0, o1, p0, p1, True)
        np.testing.assert_array_equal(back[n0:n1, o0:o1, p0:p1], grid[n0:n1, o0:o1, p0:p1])
        assert np.count_nonzero(back) == np.count_nonzero(grid[n0:n1, o0:o1, p0:p1])


def test_dispatchers_run_the_compiled_loops_once_a_pass(monkeypatch, rng):
    from numpyuq.kernels import dispatch
    if dispatch.KERNELS == "reference":
        pytest.skip("NUMPYUQ_KERNELS=reference: the dispatcher runs no compiled code to test")
    calls = []
    for name in ("_forward_numba", "_backward_numba"):
        twin = getattr(mod, name)
        assert hasattr(twin, "signatures")                               # a numba dispatcher
        monkeypatch.setattr(mod, name, lambda *a, twin=twin, name=name: calls.append(name) or twin(*a))
    x, w = draw(rng, (3, 7, 7, 3), 4, 5, 5)
    y = mod.conv_tap_classes(x, w, 5, 5, 2)
    dy = rng.standard_normal(y.shape)
    dx, dw = mod.conv_tap_classes_backward(x, dy, w, 5, 5, 2)
    assert calls == ["_forward_numba", "_backward_numba"]
    for name, have, want in zip(("y", "dx", "dw"), (y, dx, dw), textbook(x, w, 5, 5, 2, dy)):
        np.testing.assert_allclose(have, want, rtol=1e-12, atol=1e-12, err_msg=name)


def test_without_a_compiled_gemm_the_dispatchers_run_the_plain_pair(monkeypatch, rng):
    monkeypatch.setattr(mod, "gemm_address", lambda dtype: 0)
    ran = []
    for name in ("conv_tap_classes_reference", "conv_tap_classes_backward_reference"):
        plain = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, plain=plain, name=name: ran.append(name) or plain(*a))
    x, w = draw(rng, (2, 7, 7, 3), 4, 5, 5, np.float32)
    y = mod.conv_tap_classes(x, w, 5, 5, 2)
    dx, dw = mod.conv_tap_classes_backward(x, np.ones_like(y), w, 5, 5, 2)
    assert ran == ["conv_tap_classes_reference", "conv_tap_classes_backward_reference"]
    assert y.dtype == dx.dtype == dw.dtype == np.float32


def test_buffers_fit_every_class_of_every_plan():
    """The shared buffers hold each chunk's rows, columns and kernel crop, whichever class is largest."""
    for shape in ((128, 14, 14, 6), (128, 7, 7, 16), (3, 9, 4, 2), (40, 30, 5, 1)):
        plan, most_rows, largest, widest, _ = mod.class_plan(*shape, 5, 5, 2, 4)
        for rows, cols, chunks in plan:
            K = (rows[3] - rows[2]) * (cols[3] - cols[2]) * shape[3]
            for n0, n1 in chunks:
                chunk_rows = (n1 - n0) * (rows[1] - rows[0]) * (cols[1] - cols[0])
                assert chunk_rows <= most_rows and chunk_rows * K <= largest and K <= widest
        assert [n for _, _, chunks in plan[:1] for pair in chunks for n in pair][-1] == shape[0]
    assert mod.class_plan(2, 7, 7, 3, 5, 5, 2, 4)[4]                      # SAME: every output has pixels
    assert not mod.class_plan(1, 4, 4, 2, 3, 3, 3, 8)[4]                  # padding 3, kernel 3: corners meet none


def test_skipped_gradients_are_none_and_the_rest_unchanged(rng):
    x, w = draw(rng, (2, 7, 7, 3), 4, 5, 5)
    dy = rng.standard_normal((2 * 49, 4))
    dx, dw = mod.conv_tap_classes_backward(x, dy, w, 5, 5, 2)
    only_dx = mod.conv_tap_classes_backward(x, dy, w, 5, 5, 2, param_grads=False)
    only_dw = mod.conv_tap_classes_backward(x, dy, w, 5, 5, 2, input_grad=False)
    assert only_dx[1] is None and only_dw[0] is None
    np.testing.assert_array_equal(only_dx[0], dx)
    np.testing.assert_array_equal(only_dw[1], dw)


def test_worth_it_only_where_padding_holds_a_tenth_of_the_work():
    x7, x28 = np.zeros((1, 7, 7, 16), np.float32), np.zeros((1, 28, 28, 6), np.float32)
    assert mod.real_fraction(7, 7, 5, 5, 2) == pytest.approx((29 / 35) ** 2)
    assert mod.worth_tap_classes(x7, 5, 5, 1, 2) == (mod.use_numba(x7))
    assert not mod.worth_tap_classes(x7, 5, 5, 2, 2)                  # stride 2: not this kernel
    assert not mod.worth_tap_classes(x7, 5, 5, 1, 0)                  # nothing to skip
    assert not mod.worth_tap_classes(x28, 5, 5, 1, 2)                 # 8% on padding


def test_extreme_values_stay_finite_and_agree(rng):
    """float32 near its largest: the classes overflow nowhere the padded GEMM does not."""
    x = (rng.uniform(-1, 1, (2, 7, 7, 2)) * 1e18).astype(np.float32)
    w = (rng.uniform(-1, 1, (3, 50)) * 1e18).astype(np.float32)
    y = mod.conv_tap_classes(x, w, 5, 5, 2)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, im2col_gemm_reference(x, w, 5, 5, 1, 2)[1], rtol=1e-4)


def test_non_finite_pixels_reach_only_the_outputs_that_read_them(rng):
    """The padded GEMM multiplies an infinite pixel only by taps that read it; so do the classes."""
    x, w = draw(rng, (1, 6, 6, 2), 2, 3, 3)
    x[0, 0, 0, 1] = np.inf
    y = mod.conv_tap_classes(x, w, 3, 3, 1)
    np.testing.assert_array_equal(np.isfinite(y), np.isfinite(im2col_gemm_reference(x, w, 3, 3, 1, 1)[1]))
    assert np.isfinite(y).any() and not np.isfinite(y).all()


@pytest.mark.parametrize("kernels", ["numba", "reference"])
def test_bad_arguments_give_the_same_errors_on_both_paths(monkeypatch, rng, kernels):
    from numpyuq.kernels import dispatch
    monkeypatch.setattr(dispatch, "KERNELS", kernels)
    x, w = draw(rng, (2, 6, 6, 2), 3, 3, 3)
    dy = rng.standard_normal((2 * 36, 3))
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        mod.conv_tap_classes(x[0], w, 3, 3, 1)
    with pytest.raises(ValueError, match=r"w_mat must have shape \(3, 18\)"):
        mod.conv_tap_classes(x, w[:, :9], 3, 3, 1)
    with pytest.raises(TypeError, match="w_mat must have dtype float64"):
        mod.conv_tap_classes(x, w.astype(np.float32), 3, 3, 1)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        mod.conv_tap_classes(x, w, 3, 3, -1)
    with pytest.raises(ValueError, match="does not fit"):
        mod.conv_tap_classes(x[:, :1, :1], w, 3, 3, 0)
    with pytest.raises(ValueError, match=r"dy must have shape \(72, 3\)"):
        mod.conv_tap_classes_backward(x, dy[1:], w, 3, 3, 1)
    with pytest.raises(TypeError, match="dy must have dtype float64"):
        mod.conv_tap_classes_backward(x, dy.astype(np.float32), w, 3, 3, 1)


@pytest.mark.slow                     # many geometries, each a handful of small GEMMs
@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 3), H=st.integers(1, 9), W=st.integers(1, 9), C=st.integers(1, 3), F=st.integers(1, 3),
       KH=st.integers(1, 5), KW=st.integers(1, 5), padding=st.integers(0, 5))
def test_dispatchers_equal_the_padded_gemm_on_any_geometry(N, H, W, C, F, KH, KW, padding):
    if H + 2 * padding < KH or W + 2 * padding < KW:
        return
    rng = np.random.default_rng(H * 100 + W)
    x, w = draw(rng, (N, H, W, C), F, KH, KW)
    y = mod.conv_tap_classes(x, w, KH, KW, padding)
    dy = rng.standard_normal(y.shape)
    dx, dw = mod.conv_tap_classes_backward(x, dy, w, KH, KW, padding)
    for name, got, want in zip(("y", "dx", "dw"), (y, dx, dw), textbook(x, w, KH, KW, padding, dy)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11, err_msg=name)


def test_workspaces_are_kept_per_thread_and_grown_when_too_small():
    """Scratch buffers survive calls (no fresh pages to fault in) and are never shared by threads."""
    import threading
    first = mod.workspace(10, 20, dtype=np.float32)
    again = mod.workspace(5, 20, dtype=np.float32)
    assert all(a is b for a, b in zip(first, again))
    grown = mod.workspace(30, 20, dtype=np.float32)
    assert grown[0].size >= 30 and grown[1] is first[1]
    assert mod.workspace(10, dtype=np.float64)[0].dtype == np.float64
    other = []
    thread = threading.Thread(target=lambda: other.extend(mod.workspace(10, 20, dtype=np.float32)))
    thread.start()
    thread.join()
    assert not any(np.shares_memory(a, b) for a in other for b in mod.workspace(10, 20, dtype=np.float32))


def test_calls_from_two_threads_at_once_give_each_its_own_result(rng):
    """fit's threads run the same layer's kernels at once: their buffers must not mix."""
    from concurrent.futures import ThreadPoolExecutor
    inputs = [draw(rng, (6, 7, 7, 4), 8, 5, 5, np.float32) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda xw: [mod.conv_tap_classes(*xw, 5, 5, 2) for _ in range(20)], inputs))
    for (x, w), outs in zip(inputs, results):
        want = mod.conv_tap_classes_reference(x, w, 5, 5, 2)
        for y in outs:
            np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
