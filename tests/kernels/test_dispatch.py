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
nchw = Sequential(Conv2D(1, 3, 3, activation="relu", rng=0), MaxPool2D(2, 2))
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
