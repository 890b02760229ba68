"""Observation models p(x | decoder output), each emitting the ``"obs"`` site."""

from pyroclust.likelihoods.base import Likelihood
from pyroclust.likelihoods.bernoulli import Bernoulli
from pyroclust.likelihoods.gaussian import Gaussian

__all__ = ["Bernoulli", "Gaussian", "Likelihood"]
