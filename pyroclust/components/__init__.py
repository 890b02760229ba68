"""Latent component families p(z | y): one distribution over z per mixture component."""

from pyroclust.components.base import ComponentFamily, LocScaleDfFamily
from pyroclust.components.diag_normal import DiagLocScale, DiagNormal
from pyroclust.components.diag_student_t import DiagStudentT
from pyroclust.components.gaussian import DiagonalGaussian
from pyroclust.components.multivariate_t import MultivariateStudentT
from pyroclust.components.student_t import StudentT

__all__ = [
    "ComponentFamily",
    "DiagLocScale",
    "DiagNormal",
    "DiagStudentT",
    "DiagonalGaussian",
    "LocScaleDfFamily",
    "MultivariateStudentT",
    "StudentT",
]
