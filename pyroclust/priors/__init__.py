"""Priors over mixture weights pi, each emitting the ``"weights"`` site.

Every prior works with every mixture architecture: a model calls ``self.weights()`` and gets
pi of shape (n_components,). A prior with latent sites also provides the matching variational
family through :meth:`~pyroclust.priors.WeightPrior.make_guide`.

========================= ===================================== ==============================
prior                     pi                                    latent sites (guide)
========================= ===================================== ==============================
:class:`Learned`          softmax(logits), a point estimate     none
:class:`Fixed`/`Uniform`  given                                 none
:class:`Dirichlet`        ~ Dir(alpha)                          ``weights`` (Dirichlet)
:class:`StickBreaking`    GEM(alpha), truncated at K            ``sticks`` (Beta)
:class:`Zipf`             ∝ k^-s                                ``zipf_exponent`` with a prior
========================= ===================================== ==============================

Each prior also names the mixture a start strategy fits under it,
:meth:`~pyroclust.priors.WeightPrior.start_mixture`: a variational Dirichlet-process or
Bayesian Dirichlet mixture for :class:`StickBreaking` and :class:`Dirichlet`, which leaves the
components the data do not need empty, a fixed-K Gaussian mixture for the others.
"""

from pyroclust.priors.base import WeightGuide, WeightPrior, weight_logits
from pyroclust.priors.dirichlet import Dirichlet, DirichletGuide
from pyroclust.priors.simple import Fixed, Learned, Uniform
from pyroclust.priors.stick_breaking import StickBreaking, StickBreakingGuide
from pyroclust.priors.zipf import Zipf, ZipfExponentGuide

__all__ = [
    "Dirichlet",
    "DirichletGuide",
    "Fixed",
    "Learned",
    "StickBreaking",
    "StickBreakingGuide",
    "Uniform",
    "WeightGuide",
    "WeightPrior",
    "Zipf",
    "ZipfExponentGuide",
    "weight_logits",
]
