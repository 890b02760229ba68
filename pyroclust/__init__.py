"""pyroclust: a probabilistic-programming model zoo for deep generative clustering."""

from pyroclust import components, guides, likelihoods, models, nn, priors, sites
from pyroclust.exceptions import (
    CheckpointError,
    DataError,
    DatasetError,
    NonFiniteLossError,
    PyroclustError,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "CheckpointError",
    "DataError",
    "DatasetError",
    "NonFiniteLossError",
    "PyroclustError",
    "components",
    "guides",
    "likelihoods",
    "models",
    "nn",
    "priors",
    "sites",
]
