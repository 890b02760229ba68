"""The VaDE guide: an amortised diagonal Gaussian q(z | x)."""

from __future__ import annotations

from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from pyroclust.models.base import data_plate
from pyroclust.priors import WeightGuide
from pyroclust.sites import LATENT


class VaDEGuide(PyroModule):
    r"""q(z | x) = N(z; mu(x), diag sigma(x)^2), with mu and sigma read off a shared encoder.

    The cluster assignment is enumerated in the model, so the guide has no site for it; the
    exact posterior p(y | z) follows from the model (Jiang et al., 2017, eq. 16).

    Parameters
    ----------
    encoder : nn.Module
        Maps x (…, n_features) to features (…, h) with ``encoder.out_features == h``; the
        paper uses ``MLP([n_features, 500, 500, 2000])`` with a ReLU after its last layer
        (pass ``output_activation=nn.ReLU``).
    latent_dim : int
        Dimension of z.
    weights : WeightGuide, optional
        The variational family over the weight prior's latent sites, from
        ``model.weights.make_guide()``; needed only when the prior has latent sites
        (Dirichlet, stick-breaking, Zipf with a prior on its exponent). The estimator fills
        it in for you.
    min_scale : float
        Floor on sigma(x), for numerical safety.
    augment : callable, optional
        A random transformation of a batch (e.g. :class:`pyroclust.nn.RandomAffine`) applied
        to what the encoder sees while training (grad enabled and ``self.training``); the
        model still scores the original x. Any q(z | x) gives a lower bound, so this stays an
        ELBO, averaged over the augmentation; it rewards codes that ignore small shifts and
        rotations (DEC-DA, Guo et al., 2018). Prediction and scoring never augment.
    """

    def __init__(
        self,
        encoder: nn.Module,
        latent_dim: int,
        *,
        weights: WeightGuide | None = None,
        min_scale: float = 1e-4,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        hidden = getattr(encoder, "out_features", None)
        if hidden is None:
            raise ValueError("the encoder must expose out_features (e.g. pyroclust.nn.MLP)")
        self.encoder = encoder
        self.latent_dim = int(latent_dim)
        self.loc_head = nn.Linear(hidden, self.latent_dim)
        self.scale_head = nn.Linear(hidden, self.latent_dim)
        self.weights = weights
        self.min_scale = float(min_scale)
        self.augment = augment

    @torch.no_grad()
    def set_scale(self, scale: float) -> None:
        """Start sigma(x) at the constant ``scale`` (zero weights, matching bias).

        Autoencoder pretraining trains only mu(x); starting sigma small keeps the pretrained
        codes from being drowned in noise when SVI begins.
        """
        target = torch.as_tensor(max(float(scale) - self.min_scale, 1e-6))
        self.scale_head.weight.zero_()
        self.scale_head.bias.fill_(float(target + torch.log(-torch.expm1(-target))))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (mu(x), sigma(x)), each of shape (batch_size, latent_dim)."""
        h = self.encoder(x)
        return self.loc_head(h), F.softplus(self.scale_head(h)) + self.min_scale

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> torch.Tensor:
        """Sample the guide's sites for the mini-batch ``x`` of shape (batch, n_features)."""
        if self.weights is not None:
            self.weights()
        seen = x
        if self.augment is not None and self.training and torch.is_grad_enabled():
            seen = self.augment(x)
        loc, scale = self.encode(seen)
        with data_plate(x.shape[0], data_size, x.device):
            return pyro.sample(LATENT, dist.Normal(loc, scale).to_event(1))
