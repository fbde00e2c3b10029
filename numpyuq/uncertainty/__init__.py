"""Prediction procedures that produce uncertainty: SNGP, MC dropout, deep ensembles, Dirichlet."""
from ..nn.gaussian_process import ResetCovariance
from .dirichlet import (DirichletMeasures, dirichlet_measures, dirichlet_uncertainty, evidential_statistics,
                        uncertainty_from_log_evidence, uncertainty_mass_from_logits)
from .ddu import DDU, penultimate_features
from .ensemble import DeepEnsemble
from .laplace import LastLayerLaplace
from .mc_dropout import MCDropout, mc_dropout_predict
from .sngp import mc_probabilities, mean_field_logits, refit_covariance, sample_logits
from .statistics import TrackStatistics

__all__ = ["mean_field_logits", "sample_logits", "mc_probabilities", "refit_covariance",
           "ResetCovariance", "mc_dropout_predict", "DeepEnsemble", "dirichlet_uncertainty",
           "dirichlet_measures", "DirichletMeasures", "evidential_statistics", "uncertainty_from_log_evidence",
           "uncertainty_mass_from_logits", "MCDropout",
           "TrackStatistics", "DDU", "penultimate_features", "LastLayerLaplace"]
