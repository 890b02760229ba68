"""What every model of the zoo shares."""

from __future__ import annotations

import pyro
import torch
from pyro.nn import PyroModule
from torch import nn

from pyroclust.likelihoods import Likelihood
from pyroclust.sites import DATA_PLATE


def data_plate(batch_size: int, data_size: int | None, device: torch.device) -> pyro.plate:
    """The ``"data"`` plate over ``data_size`` rows, of which ``batch_size`` are present.

    Models and guides call this with the same arguments so their plates agree; local sites
    inside it are scaled by ``data_size / batch_size``. The subsample is given explicitly (the
    rows present are the mini-batch itself), so no random indices are drawn.
    """
    size = int(data_size) if data_size is not None else int(batch_size)
    if size < batch_size:
        raise ValueError(f"data_size={size} is smaller than the batch ({batch_size} rows)")
    return pyro.plate(DATA_PLATE, size, subsample=torch.arange(batch_size, device=device))


class LatentVariableModel(PyroModule):
    """Base class of the zoo's generative models.

    A model is a ``PyroModule`` whose ``forward(x=None, *, data_size=None)`` runs the
    generative program with the zoo's site names (:mod:`pyroclust.sites`): local sites live in
    ``pyro.plate("data", data_size)``, subsampled to the rows of ``x`` when ``x`` is a
    mini-batch of a data set of ``data_size`` rows. With ``x=None`` the model generates
    ``data_size`` new items.

    Subclasses set ``latent_dim``, ``decoder`` and ``likelihood`` and may set
    ``n_components`` and ``weights`` (a :class:`~pyroclust.priors.WeightPrior`) when they are
    mixtures.
    """

    latent_dim: int
    decoder: nn.Module
    likelihood: Likelihood
    n_components: int | None = None

    @property
    def n_features(self) -> int | None:
        """Width of the data the decoder produces, when it can be read off the decoder."""
        return getattr(self.decoder, "out_features", None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z]: the likelihood's mean at the decoder's output."""
        return self.likelihood.mean(self.decoder(z))
