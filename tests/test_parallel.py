"""A batch split over replicas on threads is the one-thread step, up to float rounding."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from numpyuq.losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy
from numpyuq.models import DeepResNet, DeepResNetSNGP, EvidentialClassifier, LeNet, LeNetSNGP
from numpyuq.optim import Adam
from numpyuq.parallel import DataParallel, slice_bounds, unsplittable_modules
from numpyuq.training import fit


def small_lenet(seed=0, dropout=0.5):
    """A float64 LeNet small enough for quick tests, with dropout on."""
    return LeNet(dropout_rate=dropout, channels=(3, 4), num_hidden=16, seed=seed, dtype=np.float64)


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)), rng.integers(0, 10, n)


def blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_slice_bounds_cover_the_rows_in_near_equal_slices():
    assert slice_bounds(64, 2) == [(0, 32), (32, 64)]
    assert slice_bounds(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert slice_bounds(2, 3) == [(0, 1), (1, 2)]         # never an empty slice
    assert slice_bounds(1, 2) == [(0, 1)]


@pytest.mark.parametrize("threads, rows", [(2, 8), (2, 7), (3, 10), (3, 2), (2, 1)])
def test_one_split_step_equals_the_whole_step(threads, rows):
    """Outputs (same dropout masks), input gradients and parameter gradients of a split step equal
    those of the model run whole on the batch."""
    x, _ = images(rows)
    whole, split = small_lenet(), small_lenet()
    whole.layers[1].input_grad = split.layers[1].input_grad = True     # check dx too
    dy = np.random.default_rng(1).standard_normal((rows, 10))
    out = whole(x, training=True)
    dx = whole.backward(dy)
    with DataParallel(split, threads) as parallel:
        split_out = parallel.forward(x)
        split_dx = parallel.backward(dy)
    np.testing.assert_allclose(split_out, out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(split_dx, dx, rtol=1e-12, atol=1e-14)
    for (name, p), q in zip(whole.named_parameters(), split.parameters()):
        np.testing.assert_allclose(q.grad, p.grad, rtol=1e-10, atol=1e-13, err_msg=name)
    # the dropout generator advanced once, as in the whole step
    assert whole.layers[-2].rng.integers(2**62) == split.layers[-2].rng.integers(2**62)


def test_two_backward_passes_after_one_forward_accumulate_as_the_whole_model():
    x, _ = images(6)
    whole, split = small_lenet(), small_lenet()
    dy = np.random.default_rng(2).standard_normal((6, 10))
    whole(x, training=True)
    whole.backward(dy)
    whole.backward(2 * dy)
    with DataParallel(split, 2) as parallel:
        parallel.forward(x)
        parallel.backward(dy)
        parallel.backward(2 * dy)
    for (name, p), q in zip(whole.named_parameters(), split.parameters()):
        np.testing.assert_allclose(q.grad, p.grad, rtol=1e-10, atol=1e-13, err_msg=name)


def test_fit_with_threads_trains_as_one_thread():
    """Two epochs of the EDL objective (dropout, annealed KL) on 2 threads: the same weights and
    history as on one, up to float rounding."""
    x, y = images(90)
    runs = {}
    for threads in (1, 2):
        model = EvidentialClassifier(small_lenet())
        history = fit(model, AnnealedEvidentialLoss("mse"), Adam(model.parameters(), lr=1e-3), x, y, epochs=2,
                      batch_size=32, progress=False, threads=threads, validation_data=(x[:20], y[:20]))
        runs[threads] = model, history
    (one, h1), (two, h2) = runs[1], runs[2]
    for (name, p), q in zip(one.named_parameters(), two.parameters()):
        np.testing.assert_allclose(q.value, p.value, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(h2.loss, h1.loss, rtol=1e-10)
    np.testing.assert_allclose(h2.val_loss, h1.val_loss, rtol=1e-9)
    assert not np.allclose(one.backbone.layers[1].w.value, small_lenet().layers[1].w.value)  # it trained


def test_replicate_shares_values_and_owns_gradients():
    model = small_lenet()
    replica = model.replicate()
    for p, q in zip(model.parameters(trainable_only=False), replica.parameters(trainable_only=False)):
        assert q.value is p.value
        assert not np.shares_memory(q.grad, p.grad) and not q.grad.any()
    model.layers[1].w.value[...] = 0.5                   # an update of one is an update of both
    assert (replica.layers[1].w.value == 0.5).all()


def test_refuses_models_that_change_state_in_training_and_changes_nothing():
    for model in (LeNetSNGP(channels=(3, 4), num_hidden=16, num_inducing=8), DeepResNetSNGP(2, num_layers=1)):
        before = model.state_dict()
        with pytest.raises(ValueError, match="threads=2.*(SpectralNorm|RandomFeatureGP)"):
            DataParallel(model, 2)
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert unsplittable_modules(DeepResNet(2)) == []
    assert "RandomFeatureGP" in unsplittable_modules(DeepResNetSNGP(2))
    DataParallel(DeepResNetSNGP(2), 1)                   # one thread runs any model


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2", None])
def test_fit_names_a_bad_threads_before_changing_anything(threads):
    x, y = images(8)
    model = small_lenet()
    optimizer = Adam(model.parameters())
    before = {**model.state_dict(), **{"optimizer." + k: v for k, v in optimizer.state_dict().items()}}
    with pytest.raises((TypeError, ValueError), match="threads"):
        fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=1, progress=False, threads=threads)
    after = {**model.state_dict(), **{"optimizer." + k: v for k, v in optimizer.state_dict().items()}}
    for name, value in after.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_blas_threads_are_restored_after_the_block_even_on_error():
    before = blas_threads()
    model = small_lenet()
    with DataParallel(model, 2) as parallel:
        assert set(blas_threads()) == {1}
        parallel.forward(images(4)[0])
    assert blas_threads() == before
    with pytest.raises(ValueError, match="LeNet input x"):
        with DataParallel(model, 2) as parallel:
            parallel.forward(np.zeros((4, 1, 27, 28)))
    assert blas_threads() == before


def test_an_error_in_a_replica_thread_reaches_the_caller_after_every_thread_finished():
    model = small_lenet()

    class Boom(RuntimeError):
        pass

    with DataParallel(model, 2) as parallel:
        replica = parallel.replicas[0]

        def fail(x, training=False):
            raise Boom("in the replica")

        replica.forward = fail
        with pytest.raises(Boom, match="in the replica"):
            parallel.forward(images(6)[0])
        # the replica never reached its dropout layer: the key the failed step drew for it is forgotten
        assert replica.layers[-2].shared_key is None and model.layers[-2].shared_key is None
        done = []
        replica.forward = lambda x, training=False: done.append(len(x)) or np.zeros((len(x), 10))
        parallel.forward(images(6)[0])
        assert done == [3]


def test_predict_split_over_threads_equals_one_thread_and_restores_blas():
    from numpyuq.training import predict_logits
    x, _ = images(9)
    model = small_lenet()
    before = blas_threads()
    np.testing.assert_allclose(predict_logits(model, x, batch_size=4, threads=2), predict_logits(model, x, batch_size=4),
                               rtol=1e-12, atol=1e-14)
    assert blas_threads() == before
    with pytest.raises(ValueError, match="threads"):
        predict_logits(model, x, threads=0)


def test_data_parallel_names_a_bad_argument_and_changes_nothing():
    model = small_lenet()
    before = model.state_dict()
    for args, error, match in (((object(), 2), TypeError, "model must be a numpyuq Module"),
                               ((model, 0), ValueError, "threads"), ((model, 2.5), (TypeError, ValueError), "threads")):
        with pytest.raises(error, match=match):
            DataParallel(*args)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_a_split_pass_that_refuses_its_input_advances_no_generator(rng):
    """The split forward pass draws the batch's dropout key before the replicas run; when a slice
    refuses its input, the key is forgotten and every generator is as it was."""
    from numpyuq.nn import Dense, Dropout, Sequential
    from numpyuq.parallel import DataParallel
    model = Sequential(Dropout(0.5, np.random.default_rng(1)), Dense(3, 2, dtype=np.float64))
    before = model.generator_states()
    with DataParallel(model, threads=2) as parallel:
        with pytest.raises(ValueError, match="Dense input x must have 3 features"):
            parallel.forward(rng.standard_normal((6, 4)))
    assert model.generator_states() == before
