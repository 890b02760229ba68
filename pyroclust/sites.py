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

A model with several cluster sites (one per ladder layer, say ``"y1"`` and ``"y2"``) gives each
its own weight prior; the prior's sites are then named after their cluster site by
:func:`prior_site` (``"y1_weights"``, ``"y1_sticks"``...), so they never collide. The default
cluster site ``"assignment"`` keeps the plain names (``"weights"``, ``"sticks"``...), so
one-cluster models, their checkpoints and user code are unchanged.
"""

from __future__ import annotations

WEIGHTS = "weights"
ASSIGNMENT = "assignment"
LATENT = "z"
OBS = "obs"
DATA_PLATE = "data"


def prior_site(base: str, cluster: str = ASSIGNMENT) -> str:
    """The name of a weight prior's site ``base`` (``"weights"``, ``"sticks"``...) for the
    cluster site ``cluster``: ``base`` itself for ``"assignment"``, else ``f"{cluster}_{base}"``.

    >>> prior_site("weights"), prior_site("weights", "y2")
    ('weights', 'y2_weights')
    """
    return base if cluster == ASSIGNMENT else f"{cluster}_{base}"


__all__ = ["ASSIGNMENT", "DATA_PLATE", "LATENT", "OBS", "WEIGHTS", "prior_site"]
