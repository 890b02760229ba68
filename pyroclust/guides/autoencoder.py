"""The autoencoder's guide: a point mass at the encoder's output."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from pyroclust.models.base import data_plate
from pyroclust.sites import LATENT


class AutoencoderGuide(PyroModule):
    r"""q(z | x) = delta(z - encoder(x)): the deterministic encoder of an autoencoder.

    The partner of :class:`~pyroclust.models.Autoencoder`; the ``"z"`` site is a
    ``Delta`` with event dimension 1, whose log-density is 0, so the ELBO is the
    reconstruction log-likelihood alone.

    Parameters
    ----------
    encoder : nn.Module
        Maps x (…, n_features) to features (…, h) with ``encoder.out_features == h``; a
        linear head maps them to the code.
    latent_dim : int
        Dimension of z.
    """

    def __init__(self, encoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        hidden = getattr(encoder, "out_features", None)
        if hidden is None:
            raise ValueError("the encoder must expose out_features (e.g. pyroclust.nn.MLP)")
        self.encoder = encoder
        self.latent_dim = int(latent_dim)
        self.loc_head = nn.Linear(hidden, self.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (code, zeros): the code of shape (batch_size, latent_dim) and a zero scale.

        The pair mirrors ``VAEGuide.encode`` so initialisation utilities work unchanged.
        """
        loc = self.loc_head(self.encoder(x))
        return loc, torch.zeros_like(loc)

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> torch.Tensor:
        """Put ``"z"`` at encoder(x) for the mini-batch ``x`` of shape (batch, n_features)."""
        code = self.loc_head(self.encoder(x))
        with data_plate(x.shape[0], data_size, x.device):
            return pyro.sample(LATENT, dist.Delta(code, event_dim=1))
