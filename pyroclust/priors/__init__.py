"""Priors over the mixture weights pi, each emitting the ``"weights"`` site.

Every prior works with every mixture architecture: a model calls ``self.weights()`` and gets
pi of shape (n_components,). A prior with latent sites also provides the matching variational
family through :meth:`~pyroclust.priors.WeightPrior.make_guide`.
"""

from pyroclust.priors.base import WeightGuide, WeightPrior
from pyroclust.priors.simple import Fixed, Learned, Uniform

__all__ = ["Fixed", "Learned", "Uniform", "WeightGuide", "WeightPrior"]
