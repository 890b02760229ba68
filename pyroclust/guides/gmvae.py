"""The GMVAE guide: a deterministic feature encoder, then q(c | x̂) and q(z | x̂)."""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from pyroclust.models.base import data_plate
from pyroclust.models.gmvae import (
    GMVAE,
    StableRelaxedOneHotCategorical,
    check_cluster,
    check_temperature,
    check_w_gaussian,
)
from pyroclust.models.vae import kl_weight
from pyroclust.nn import MLP
from pyroclust.priors import WeightGuide
from pyroclust.sites import ASSIGNMENT, LATENT


class GMVAEGuide(PyroModule):
    r"""q(c, z | x) = q(c | x̂) q(z | x̂) with x̂ = g(x) (Arias Figueroa & Ramírez Rivera,
    2017, eqs. 1, 5, 6), the partner of :class:`~pyroclust.models.GMVAE`.

    .. math::
        \hat x = g(x), \qquad
        q(c \mid \hat x) = \mathrm{Cat}(\mathrm{softmax}(l(\hat x))), \qquad
        q(z \mid \hat x) = \mathcal N(\mu(\hat x), \mathrm{diag}\,\sigma(\hat x)^2),

    with the encoder g of widths D-512-256-:math:`d_f`, the logits network l of widths
    :math:`d_f`-:math:`d_f`-:math:`d_f/2`-K and two linear heads for mu and sigma.
    Batch normalisation and a ReLU follow every hidden layer of g and l; the features x̂, the
    logits l and the heads are linear (the paper: "all the layers, except the input, output
    and embeddings"). The site ``"assignment"`` is, with ``cluster="relaxed"``, a
    :class:`~pyroclust.models.gmvae.StableRelaxedOneHotCategorical` draw at the logits and the
    guide's temperature buffer (the model's family, same site name), and with
    ``cluster="enumerate"`` a ``Categorical`` enumerated in parallel, so ``TraceEnum_ELBO``
    sums it out exactly. The ``"z"`` site carries the weight ``w_gaussian`` as in the model.
    q(c | x) is the softmax of the logits either way: that is what
    :meth:`pyroclust.Clusterer.predict_proba` returns.

    Parameters
    ----------
    n_features : int
        Width D of the data.
    n_components : int
        Number of clusters K.
    latent_dim : int
        :math:`d_z` (150 for MNIST, 50 for USPS and Reuters-10K in the paper).
    feature_dim : int
        :math:`d_f`, the width of x̂ (100 in the paper).
    hidden : sequence of int
        The encoder's hidden widths (512, 256).
    classifier_hidden : sequence of int, optional
        The hidden widths of the logits network, ``(d_f, d_f // 2)`` by default.
    cluster, straight_through, temperature, w_gaussian
        As for the model, and equal to the model's (:meth:`for_model` copies them).
    encoder, classifier : nn.Module, optional
        Replace g (…, D) → (…, d_f) and l (…, d_f) → (…, K).
    weights : WeightGuide, optional
        The variational family over the weight prior's latent sites (a Dirichlet or
        stick-breaking prior); the estimator fills it in.
    min_scale : float
        Floor on sigma(x̂), for numerical safety.

    Examples
    --------
    >>> from pyroclust.models import GMVAE
    >>> model = GMVAE(64, 4, latent_dim=3, feature_dim=8, hidden=(16, 12))
    >>> guide = GMVAEGuide.for_model(model, hidden=(16, 12))
    >>> guide.eval().cluster_logits(torch.rand(5, 64)).shape
    torch.Size([5, 4])
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        latent_dim: int = 150,
        *,
        feature_dim: int = 100,
        hidden: Sequence[int] = (512, 256),
        classifier_hidden: Sequence[int] | None = None,
        cluster: str = "relaxed",
        straight_through: bool = False,
        temperature: float = 1.0,
        w_gaussian: float = 5.0,
        encoder: nn.Module | None = None,
        classifier: nn.Module | None = None,
        weights: WeightGuide | None = None,
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        n_components, latent_dim, feature_dim = int(n_components), int(latent_dim), int(feature_dim)
        self.cluster = check_cluster(cluster)
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.straight_through = bool(straight_through)
        self.w_gaussian = check_w_gaussian(w_gaussian)
        if encoder is None:
            encoder = MLP(
                [int(n_features), *[int(h) for h in hidden], feature_dim], batch_norm=True
            )
        if classifier is None:
            widths = (
                classifier_hidden
                if classifier_hidden is not None
                else (
                    feature_dim,
                    max(1, feature_dim // 2),
                )
            )
            classifier = MLP(
                [feature_dim, *[int(h) for h in widths], n_components], batch_norm=True
            )
        self.encoder = encoder
        self.classifier = classifier
        self.loc_head = nn.Linear(feature_dim, latent_dim)
        self.scale_head = nn.Linear(feature_dim, latent_dim)
        self.weights = weights
        self.min_scale = float(min_scale)
        if self.relaxed:
            self.register_buffer("temperature", torch.tensor(check_temperature(temperature)))

    @classmethod
    def for_model(cls, model: GMVAE, **options: object) -> GMVAEGuide:
        """The guide of ``model``: its D, K, d_z, d_f, treatment of c, straight-through
        option, temperature and ``w_gaussian``, with ``options`` for the networks
        (``hidden``, ``classifier_hidden``, ``encoder``...)."""
        n_features = model.n_features
        if n_features is None:
            raise ValueError(
                "the model's decoder does not expose out_features; build the "
                "guide with GMVAEGuide(n_features, ...)"
            )
        shared = dict(
            latent_dim=model.latent_dim,
            feature_dim=model.feature_dim,
            cluster=model.cluster,
            straight_through=model.straight_through,
            w_gaussian=model.w_gaussian,
        )
        if model.relaxed:
            shared["temperature"] = float(model.temperature)
        shared.update(options)
        return cls(n_features, model.n_components, **shared)  # type: ignore[arg-type]

    @property
    def relaxed(self) -> bool:
        """Whether c is a relaxed one-hot vector (else enumerated here)."""
        return self.cluster == "relaxed"

    def set_temperature(self, temperature: float) -> None:
        """Set the relaxation temperature T (``cluster="relaxed"`` only)."""
        if not self.relaxed:
            raise ValueError("an enumerated GMVAEGuide has no temperature")
        self.temperature.fill_(check_temperature(temperature))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits of q(c | x̂) (B, K), mu(x̂) (B, d_z), sigma(x̂) (B, d_z)) for x (B, D)."""
        h = self.encoder(x)
        scale = F.softplus(self.scale_head(h)) + self.min_scale
        return self.classifier(h), self.loc_head(h), scale

    def cluster_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of q(c | x̂), shape (B, K): q(c | x) = softmax of them."""
        return self.classifier(self.encoder(x))

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> torch.Tensor:
        """Sample the guide's sites for the mini-batch ``x`` of shape (batch, n_features);
        return z."""
        if self.weights is not None:
            self.weights()
        logits, loc, scale = self.encode(x)
        with data_plate(x.shape[0], data_size, x.device):
            if self.relaxed:
                q_c = StableRelaxedOneHotCategorical(
                    self.temperature, logits=logits, straight_through=self.straight_through
                )
                pyro.sample(ASSIGNMENT, q_c)
            else:
                pyro.sample(
                    ASSIGNMENT, dist.Categorical(logits=logits), infer={"enumerate": "parallel"}
                )
            with kl_weight(self.w_gaussian):
                return pyro.sample(LATENT, dist.Normal(loc, scale).to_event(1))


__all__ = ["GMVAEGuide"]
