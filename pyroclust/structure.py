"""What a model declares about itself: its cluster sites, latent codes and weight priors.

Every layer above the models (the objective, the posterior utilities, the estimator,
initialisation, inspection, the shared checks) reads this declaration instead of assuming
VaDE's shape. A model declares

- ``cluster_sites``: a tuple of :class:`ClusterSite`, one per discrete cluster variable, each
  with its number of components and *where it is inferred*:

  ================== ==========================================================================
  ``"enumerate-model"`` summed out exactly in the model (VaDE); the guide has no such site;
                       p(y | x) follows from the model by enumeration
  ``"enumerate-guide"`` sampled in the guide from q(y | x) and summed out exactly there
                       (k-DVAE: q(y | x) q(z | x, y)); the model has the same site, not enumerated
  ``"relaxed-guide"``   a Gumbel-Softmax (relaxed one-hot) sample in the guide and the model, under
                       the same name (GMVAE, VLAC); reparameterised, no enumeration
  ================== ==========================================================================

- ``latent_sites``: the names of its continuous codes (``("z",)`` by default), in the order
  :meth:`~pyroclust.estimator.Clusterer.transform` concatenates them;
- ``site_scales`` (optional): fixed weights on local sites' log densities (GMVAE's w_G on
  ``"z"``), which the shared checks take into account;
- its weight priors, found as the :class:`~pyroclust.priors.WeightPrior` modules it holds, each
  named by its cluster site (``prior.cluster``), so several coexist.

Models without ``cluster_sites`` (a user's model written before this contract) are read as
VaDE-shaped when they have ``n_components``: one ``"assignment"`` site enumerated in the
model. Models without clusters (a VAE, an autoencoder) declare none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyro.nn import PyroModule
from torch import nn

from pyroclust.priors import WeightGuide, WeightPrior
from pyroclust.sites import ASSIGNMENT, LATENT, WEIGHTS, prior_site

ENUMERATE_MODEL = "enumerate-model"
ENUMERATE_GUIDE = "enumerate-guide"
RELAXED_GUIDE = "relaxed-guide"
INFERENCE_KINDS = (ENUMERATE_MODEL, ENUMERATE_GUIDE, RELAXED_GUIDE)


@dataclass(frozen=True)
class ClusterSite:
    """One cluster variable of a model.

    Parameters
    ----------
    name : str
        The sample site (``"assignment"`` for a one-cluster model).
    n_components : int
        Its number of values K.
    inference : {"enumerate-model", "enumerate-guide", "relaxed-guide"}
        Where and how it is inferred (see :mod:`pyroclust.structure`).

    Examples
    --------
    >>> ClusterSite("y2", 5, "relaxed-guide").weights
    'y2_weights'
    """

    name: str
    n_components: int
    inference: str = ENUMERATE_MODEL

    def __post_init__(self) -> None:
        if self.inference not in INFERENCE_KINDS:
            raise ValueError(
                f"cluster site {self.name!r}: inference must be one of {INFERENCE_KINDS}, "
                f"got {self.inference!r}"
            )
        if int(self.n_components) < 1:
            raise ValueError(f"cluster site {self.name!r} needs n_components >= 1")

    @property
    def weights(self) -> str:
        """The name of its weight prior's ``"weights"`` site."""
        return prior_site(WEIGHTS, self.name)

    @property
    def relaxed(self) -> bool:
        """Whether its values are relaxed one-hot vectors rather than integers."""
        return self.inference == RELAXED_GUIDE

    @property
    def in_guide(self) -> bool:
        """Whether the guide samples it (else it is enumerated in the model)."""
        return self.inference != ENUMERATE_MODEL


def cluster_sites(model: Any) -> tuple[ClusterSite, ...]:
    """The model's declared cluster sites (see the module docstring for undeclared models)."""
    declared = getattr(model, "cluster_sites", None)
    if declared is not None:
        return tuple(declared)
    k = getattr(model, "n_components", None)
    return () if k is None else (ClusterSite(ASSIGNMENT, int(k), ENUMERATE_MODEL),)


def cluster_site(model: Any, site: str | None = None) -> ClusterSite:
    """The declared cluster site named ``site`` (the first one when None).

    Raises ``ValueError`` naming the model's sites when it has no such site.
    """
    declared = cluster_sites(model)
    if not declared:
        raise ValueError(f"{type(model).__name__} has no cluster site (it does not cluster)")
    if site is None:
        return declared[0]
    for s in declared:
        if s.name == site:
            return s
    names = ", ".join(repr(s.name) for s in declared)
    raise ValueError(
        f"{type(model).__name__} has no cluster site {site!r} (no enumerated site {site!r} in "
        f"the model, none in the guide); its cluster sites: {names}"
    )


def latent_sites(model: Any) -> tuple[str, ...]:
    """The model's continuous code sites (``("z",)`` unless it declares ``latent_sites``)."""
    return tuple(getattr(model, "latent_sites", None) or (LATENT,))


def site_scales(model: Any) -> dict[str, float]:
    """Fixed weights a model puts on its local sites' log densities (``poutine.scale``), by
    site name, on top of the mini-batch scaling: e.g. GMVAE's w_G on ``"z"`` or a VAE's beta.
    A model declares them as ``site_scales``; none by default."""
    return dict(getattr(model, "site_scales", None) or {})


def weight_priors(model: Any) -> dict[str, WeightPrior]:
    """The model's weight priors by cluster site name, in declaration order."""
    found: dict[str, WeightPrior] = {}
    if isinstance(model, nn.Module):
        for module in model.modules():
            if isinstance(module, WeightPrior):
                found.setdefault(module.cluster, module)
    return found


def weight_guides(guide: Any) -> dict[str, WeightGuide]:
    """The guide's variational families over weight-prior sites, by cluster site name."""
    found: dict[str, WeightGuide] = {}
    if isinstance(guide, nn.Module):
        for module in guide.modules():
            if isinstance(module, WeightGuide):
                found.setdefault(module.cluster, module)
    return found


def attach_weight_guides(model: Any, guide: Any) -> None:
    """Give the guide the variational families its model's weight priors need.

    Two conventions are filled in when left ``None`` by the user:

    - ``guide.weights`` (one cluster site): ``model.weights.make_guide()``;
    - ``guide.weight_guides`` (several): a ``PyroModule[nn.ModuleDict]`` cluster name ->
      family, for each prior that has latent sites (a plain ``nn.ModuleDict`` would give two
      families' parameters the same Pyro name).
    """
    priors = weight_priors(model)
    if getattr(guide, "weights", "absent") is None and priors:
        first = getattr(model, "weights", None)
        first = first if isinstance(first, WeightPrior) else next(iter(priors.values()))
        guide.weights = first.make_guide()
    if getattr(guide, "weight_guides", "absent") is None:
        made = {name: p.make_guide() for name, p in priors.items()}
        kept = {k: g for k, g in made.items() if g is not None}
        guide.weight_guides = PyroModule[nn.ModuleDict](kept)


__all__ = [
    "ENUMERATE_GUIDE",
    "ENUMERATE_MODEL",
    "INFERENCE_KINDS",
    "RELAXED_GUIDE",
    "ClusterSite",
    "attach_weight_guides",
    "cluster_site",
    "cluster_sites",
    "latent_sites",
    "site_scales",
    "weight_guides",
    "weight_priors",
]
