"""The annealed EDL objective: both schedules, what fit records, and its gradient."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_loss
from numpyuq.losses import (
    AnnealedEvidentialLoss,
    KLDivergenceLoss,
    SquaredErrorBayesRisk,
)
from numpyuq.models import EvidentialClassifier
from numpyuq.optim import Adam, RelativePiecewise
from numpyuq.training import fit
from tests.helpers import assert_grad_ok
from tests.tiny_models import tiny_resnet


def test_labml_schedule_reads_the_step_after_advancing_it():
    objective = AnnealedEvidentialLoss("mse", schedule="labml")
    seen = []
    original = objective.forward

    def recording_forward(evidence, targets):
        seen.append(objective.kl_coef)
        return original(evidence, targets)
    objective.forward = recording_forward
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2))
    model = EvidentialClassifier(tiny_resnet(seed=0))
    fit(model, objective, Adam(model.parameters()), x, (x[:, 0] > 0).astype(np.int64), epochs=3,
        batch_size=16, seed=0, progress=False)
    schedule = RelativePiecewise([(0, 0.0), (0.2, 0.01), (1, 1.0)], 3 * 40)
    steps = np.cumsum([16, 16, 8] * 3)              # samples seen *including* the current batch
    np.testing.assert_allclose(seen, [min(1.0, schedule(s)) for s in steps], rtol=1e-12)
    assert seen[-1] == 1.0 and seen[0] > 0


def test_paper_schedule_and_history():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2))
    model = EvidentialClassifier(tiny_resnet(seed=0))
    objective = AnnealedEvidentialLoss("digamma", schedule="paper", annealing_epochs=2)
    history = fit(model, objective, Adam(model.parameters()), x, (x[:, 0] > 0).astype(np.int64),
                  epochs=4, batch_size=16, seed=0, progress=False)
    np.testing.assert_allclose(history.metrics["kl_coef"], [0.0, 0.5, 1.0, 1.0])
    assert len(history.metrics["kl"]) == 4 and all(k >= 0 for k in history.metrics["kl"])
    # The epoch loss is the sample-weighted mean of risk + coef * KL over the epoch's batches.
    assert history.loss[0] == pytest.approx(history.metrics["risk"][0])


def test_gradient_is_risk_plus_coefficient_times_kl(rng):
    evidence = rng.uniform(0.1, 5, (6, 3))
    labels = rng.integers(0, 3, 6)
    objective = AnnealedEvidentialLoss("mse", schedule="paper")
    objective.kl_coef = 0.37
    assert_grad_ok(check_loss(objective, evidence, labels))
    expected = float(SquaredErrorBayesRisk()(evidence, labels)) + 0.37 * float(KLDivergenceLoss()(evidence, labels))
    assert float(objective(evidence, labels)) == pytest.approx(expected, rel=1e-12)
    assert set(objective.terms) == {"risk", "kl", "kl_coef"}


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"risk must be an EvidentialLoss or one of \('mse', 'digamma', 'log'\), got 'l2'"):
        AnnealedEvidentialLoss("l2")
    with pytest.raises(TypeError, match="risk must be an EvidentialLoss"):
        AnnealedEvidentialLoss(KLDivergenceLoss)
    with pytest.raises(ValueError, match="schedule must be one of"):
        AnnealedEvidentialLoss(schedule="linear")
    with pytest.raises(ValueError, match="annealing_epochs must be > 0"):
        AnnealedEvidentialLoss(schedule="paper", annealing_epochs=0)
