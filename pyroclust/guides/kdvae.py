"""The k-DVAE guide: q(y | x) and one Gaussian encoder per cluster, run as one network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from pyroclust.models.base import data_plate
from pyroclust.models.kdvae import (
    KDVAE,
    assignment_scores,
    check_positive,
    hard_assignments,
    select_cluster,
)
from pyroclust.nn import MLP, BatchedMLP
from pyroclust.priors import WeightGuide
from pyroclust.sites import ASSIGNMENT, LATENT


class KDVAEGuide(PyroModule):
    r"""q(y, z | x) = q(y | x) q(z | x, y) for :class:`~pyroclust.models.KDVAE`
    (Caciularu & Goldberger, Sec. 3.2):

    .. math::
        q(y = i \mid x) = \mathrm{softmax}(l(x))_i, \qquad
        q(z \mid x, y = i) = \mathcal N\big(\mu_i(x), \mathrm{diag}\,\sigma_i(x)^2\big),

    with one encoder per cluster, widths D-500-100-2d (ReLU between layers; the last layer
    gives :math:`\mu_i` and, through a softplus, :math:`\sigma_i`): the paper's D-500-100-10
    with a mean and a scale per code unit. The k encoders are one
    :class:`~pyroclust.nn.BatchedMLP`: a mini-batch is encoded by all of them at once and the
    code of the enumerated cluster is picked (:func:`~pyroclust.models.kdvae.select_cluster`).

    The site ``"assignment"`` is enumerated in parallel (``infer={"enumerate": "parallel"}``),
    so ``TraceEnum_ELBO`` sums y out exactly: the soft objective.

    **q(y | x).** The paper has no network for it: it replaces the sum over clusters by its
    largest term (eq. 5), sets q(y | x) = p(y) (eq. 6) and clusters by eq. 8. Here q(y | x) is
    a learned classifier l(x), an MLP of widths D-500-100-K (ReLU between layers) by
    default, which the soft ELBO trains and
    :class:`~pyroclust.models.kdvae.HardAssignmentLoss` fits to eq. 6's winning cluster.
    :meth:`pyroclust.Clusterer.predict_proba` returns q(y | x);
    :meth:`assignment_scores` and :meth:`hard_assignments` give the paper's eq. 8.

    Parameters
    ----------
    n_features : int
        Width D of the data.
    n_components : int
        Number of clusters K.
    latent_dim : int
        d (10 in the paper).
    hidden : sequence of int
        The encoders' hidden widths (500, 100).
    classifier_hidden : sequence of int, optional
        Hidden widths of q(y | x)'s network; ``hidden`` by default.
    encoder : BatchedMLP, optional
        The K encoders, each D → 2d (mean, then the scale before its softplus).
    classifier : nn.Module, optional
        Maps x (batch, D) to the logits of q(y | x) (batch, K).
    weights : WeightGuide, optional
        The variational family over the weight prior's latent sites (a Dirichlet or
        stick-breaking prior); the estimator fills it in.
    min_scale : float
        Floor on :math:`\sigma_i(x)`, for numerical safety.

    Examples
    --------
    >>> from pyroclust.models import KDVAE
    >>> model = KDVAE(64, 3, latent_dim=2, hidden=(16, 8))
    >>> guide = KDVAEGuide.for_model(model)
    >>> loc, scale = guide.encode_all(torch.rand(5, 64))
    >>> loc.shape                         # (K, batch, d): every cluster's code
    torch.Size([3, 5, 2])
    >>> guide.hard_assignments(model, torch.rand(5, 64)).shape    # eq. 8
    torch.Size([5])
    """

    def __init__(
        self,
        n_features: int,
        n_components: int,
        latent_dim: int = 10,
        *,
        hidden: Sequence[int] = (500, 100),
        classifier_hidden: Sequence[int] | None = None,
        encoder: BatchedMLP | None = None,
        classifier: nn.Module | None = None,
        weights: WeightGuide | None = None,
        min_scale: float = 1e-4,
        posterior: str = "learned",
    ) -> None:
        super().__init__()
        if posterior not in ("learned", "eq8"):
            raise ValueError(f"posterior must be 'learned' or 'eq8', got {posterior!r}")
        self.posterior = posterior
        n_features, n_components, latent_dim = int(n_features), int(n_components), int(latent_dim)
        check_positive(n_features=n_features, n_components=n_components, latent_dim=latent_dim)
        hidden = [int(h) for h in hidden]
        self.n_components = n_components
        self.latent_dim = latent_dim
        if encoder is None:
            encoder = BatchedMLP(n_components, [n_features, *hidden, 2 * latent_dim])
        if encoder.n_networks != n_components or encoder.out_features != 2 * latent_dim:
            raise ValueError(
                f"the encoder must hold {n_components} networks of output width "
                f"{2 * latent_dim}, got {encoder.n_networks} of width {encoder.out_features}"
            )
        if classifier is None:
            widths = hidden if classifier_hidden is None else [int(h) for h in classifier_hidden]
            classifier = MLP([n_features, *widths, n_components])
        self.encoder = encoder
        self.classifier = classifier
        self.weights = weights
        self.min_scale = float(min_scale)

    @classmethod
    def for_model(cls, model: KDVAE, **options: Any) -> KDVAEGuide:
        """The guide of ``model``: its D, K and d, with ``options`` for the networks
        (``hidden`` defaults to the model's)."""
        n_features = model.n_features
        if n_features is None:
            raise ValueError(
                "the model's decoder does not expose out_features; build the guide with "
                f"{cls.__name__}(n_features, ...)"
            )
        options.setdefault("hidden", getattr(model, "hidden", (500, 100)))
        return cls(n_features, model.n_components, model.latent_dim, **options)

    # ------------------------------------------------------------------ networks
    def encode_all(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every cluster's (mu_i(x), sigma_i(x)) for x (batch, D): each (K, batch, d)."""
        return self._code_params(self.encoder(x))

    def encode_grouped(
        self, x: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_l(x), sigma_l(x)) of each row's own cluster l = ``labels[b]``, each (batch, d):
        encoder l runs on its rows only (:meth:`~pyroclust.nn.BatchedMLP.grouped`)."""
        return self._code_params(self.encoder.grouped(x, labels))

    def _code_params(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.latent_dim
        return out[..., :d], F.softplus(out[..., d:]) + self.min_scale

    def cluster_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of q(y | x), shape (batch, K)."""
        return self.classifier(x)

    def cluster_log_proba(self, model: KDVAE, x: torch.Tensor, site: str) -> torch.Tensor | None:
        """What ``predict_proba`` reports for the cluster site (a hook read by
        :func:`pyroclust.predictive.cluster_log_proba`): None (the learned q(y | x), read off
        the trace) with ``posterior="learned"``; the log-softmax of the paper's eq. 8 scores
        with ``posterior="eq8"``, so that ``predict`` is eq. 8's hard clustering."""
        if self.posterior == "learned":
            return None
        return self.assignment_scores(model, x).log_softmax(-1)

    def assignment_scores(self, model: KDVAE, x: torch.Tensor) -> torch.Tensor:
        """The paper's eq. 8 scores, shape (batch, K)
        (:func:`~pyroclust.models.kdvae.assignment_scores`)."""
        return assignment_scores(model, self, x)

    def hard_assignments(self, model: KDVAE, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """The paper's hard clustering, eq. 8: labels of shape (n_samples,)
        (:func:`~pyroclust.models.kdvae.hard_assignments`)."""
        return hard_assignments(model, self, x, **kwargs)

    # ------------------------------------------------------------------ the program
    def code_posterior(self, loc: torch.Tensor, scale: torch.Tensor) -> dist.Distribution:
        """q(z | x, y) at the picked mean and scale, of event dimension 1."""
        return dist.Normal(loc, scale).to_event(1)

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> torch.Tensor:
        """Sample the guide's sites for the mini-batch ``x`` of shape (batch, n_features):
        y (enumerated in parallel under ``TraceEnum_ELBO``), then z from encoder y; return z
        (of shape (K, batch, d) when y is enumerated)."""
        if self.weights is not None:
            self.weights()
        logits = self.cluster_logits(x)
        loc, scale = self.encode_all(x)
        batch = x.shape[0]
        with data_plate(batch, data_size, x.device):
            y = pyro.sample(
                ASSIGNMENT, dist.Categorical(logits=logits), infer={"enumerate": "parallel"}
            )
            posterior = self.code_posterior(
                select_cluster(loc, y, batch), select_cluster(scale, y, batch)
            )
            return pyro.sample(LATENT, posterior)


__all__ = ["KDVAEGuide"]
