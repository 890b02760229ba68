"""The one set of site and plate names shared by every model and guide in the zoo.

Because every architecture names its sites the same way, generic code (guides, ``Predictive``,
the clustering utilities, the estimator) works for every model, including a user's new one.

========== ================================================================
name       meaning
========== ================================================================
weights    mixture weights pi, shape (n_components,)          (global)
assignment cluster assignment y (or c), enumerated where possible (local)
z          continuous latent code, event shape (latent_dim,)      (local)
obs        the observation x, event shape (n_features,)           (local)
data       the plate over data points; local sites live inside it
========== ================================================================
"""

from __future__ import annotations

WEIGHTS = "weights"
ASSIGNMENT = "assignment"
LATENT = "z"
OBS = "obs"
DATA_PLATE = "data"

__all__ = ["ASSIGNMENT", "DATA_PLATE", "LATENT", "OBS", "WEIGHTS"]
