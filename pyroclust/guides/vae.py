"""The VAE guide: an amortised diagonal Gaussian q(z | x) whose site carries the KL weight."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from pyroclust.models.base import data_plate
from pyroclust.models.vae import check_beta, kl_weight
from pyroclust.sites import LATENT


class VAEGuide(PyroModule):
    r"""q(z | x) = N(z; mu(x), diag sigma(x)^2), the site ``"z"`` weighted by ``beta``.

    The partner of :class:`~pyroclust.models.VAE`. The ELBO's :math:`-\log q(z\mid x)` is
    weighted by the same ``beta`` as the model's :math:`\log p(z)` (``poutine.scale``, or a
    mask for beta = 0), so that together they give
    :math:`\log p(x\mid z) - \beta\,[\log q(z\mid x) - \log p(z)]`. Give the guide the
    model's beta; :func:`~pyroclust.models.vae.check_kl_weights` checks it.

    Parameters
    ----------
    encoder : nn.Module
        Maps x (…, n_features) to features (…, h) with ``encoder.out_features == h``, e.g.
        ``MLP([n_features, 500, 500, 2000], output_activation=nn.ReLU)``.
    latent_dim : int
        Dimension of z.
    beta : float
        The KL weight, equal to the model's.
    min_scale : float
        Floor on sigma(x), for numerical safety.
    """

    def __init__(
        self,
        encoder: nn.Module,
        latent_dim: int,
        *,
        beta: float = 1.0,
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        hidden = getattr(encoder, "out_features", None)
        if hidden is None:
            raise ValueError("the encoder must expose out_features (e.g. pyroclust.nn.MLP)")
        self.encoder = encoder
        self.latent_dim = int(latent_dim)
        self.loc_head = nn.Linear(hidden, self.latent_dim)
        self.scale_head = nn.Linear(hidden, self.latent_dim)
        self.beta = check_beta(beta)
        self.min_scale = float(min_scale)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (mu(x), sigma(x)), each of shape (batch_size, latent_dim)."""
        h = self.encoder(x)
        return self.loc_head(h), F.softplus(self.scale_head(h)) + self.min_scale

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> torch.Tensor:
        """Sample ``"z"`` for the mini-batch ``x`` of shape (batch, n_features)."""
        loc, scale = self.encode(x)
        with data_plate(x.shape[0], data_size, x.device), kl_weight(self.beta):
            return pyro.sample(LATENT, dist.Normal(loc, scale).to_event(1))
