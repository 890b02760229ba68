"""What every model of the zoo shares."""

from __future__ import annotations

import pyro
import torch
from pyro.nn import PyroModule

from pyroclust.likelihoods import Likelihood
from pyroclust.sites import DATA_PLATE, LATENT
from pyroclust.structure import ClusterSite


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

    A model declares its structure (:mod:`pyroclust.structure`): ``cluster_sites`` (a tuple
    of :class:`~pyroclust.structure.ClusterSite`: name, number of components, and where it
    is inferred), ``latent_sites`` (its continuous codes) and, through the
    :class:`~pyroclust.priors.WeightPrior` modules it holds, one weight prior per cluster
    site. The posterior utilities, the objective, the estimator and the shared checks read
    this declaration; a model needs no ``decode`` method (reconstructions and samples replay
    the model and read the ``"obs"`` distribution's mean).

    Subclasses set ``latent_dim`` and ``likelihood``; a one-cluster model also sets
    ``n_components`` and ``weights`` (kept for code written against VaDE).
    """

    latent_dim: int
    likelihood: Likelihood
    n_components: int | None = None
    cluster_sites: tuple[ClusterSite, ...] = ()
    latent_sites: tuple[str, ...] = (LATENT,)

    @property
    def n_features(self) -> int | None:
        """Width of the data the decoder produces, when it can be read off the decoder."""
        decoder = getattr(self, "decoder", None)
        return getattr(decoder, "out_features", None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z]: the likelihood's mean at the decoder's output."""
        return self.likelihood.mean(self.decoder(z))
