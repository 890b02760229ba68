"""The vanilla variational autoencoder (beta-VAE), a representation for post-hoc clustering."""

from __future__ import annotations

from contextlib import AbstractContextManager

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from pyroclust.likelihoods import Likelihood
from pyroclust.models.base import LatentVariableModel, data_plate
from pyroclust.sites import LATENT


def check_beta(beta: float) -> float:
    """Return ``beta`` as a float, raising ``ValueError`` unless it is finite and ``>= 0``."""
    value = float(beta)
    if not (value >= 0.0 and value < float("inf")):
        raise ValueError(f"beta (the KL weight) must be a finite number >= 0, got {beta!r}")
    return value


def kl_weight(beta: float) -> AbstractContextManager:
    r"""The handler that weights the ``"z"`` site's log-density by ``beta``.

    Used around the ``"z"`` site in the model (log p(z)) *and* in the guide (log q(z | x)), so
    the Monte-Carlo ELBO becomes :math:`\log p(x\mid z) + \beta\,[\log p(z) - \log q(z\mid x)]`.
    ``poutine.scale`` rejects 0, so ``beta = 0`` masks the site out instead
    (``poutine.mask(mask=False)``): the two terms are then removed exactly, not multiplied by a
    small number.
    """
    beta = check_beta(beta)
    if beta == 0.0:
        return poutine.mask(mask=False)
    return poutine.scale(scale=beta)


class VAE(LatentVariableModel):
    r"""The variational autoencoder (Kingma & Welling, 2014) with a KL weight beta.

    Generative story, for each data point n:

    .. math::
        z_n &\sim \mathcal N(0, I_d)                      &\text{(site ``z``)}\\
        x_n \mid z_n &\sim p(x \mid \mathrm{decoder}(z_n)) &\text{(site ``obs``)}

    With :class:`~pyroclust.guides.VAEGuide` (a diagonal Gaussian q(z | x)) and Pyro's
    ``Trace_ELBO``, the single-sample objective per data point is

    .. math:: \log p(x \mid z) + \beta\,\big[\log p(z) - \log q(z \mid x)\big],
              \qquad z \sim q(z \mid x),

    an unbiased estimate of :math:`\mathbb E_q \log p(x\mid z) - \beta\,\mathrm{KL}(q\,\|\,p)`
    (the beta-VAE of Higgins et al., 2017; beta = 1 is the plain ELBO). ``beta`` weights the
    ``"z"`` site in the model here and in the guide (see :func:`kl_weight`), so **the model and
    the guide must be given the same beta**; :func:`pyroclust.zoo.make` (``"vae"``) builds a
    matching pair, :class:`~pyroclust.estimator.Clusterer` deep-copies both as they are, and
    :func:`check_kl_weights` tells a mismatch. ``beta = 0`` removes the KL term exactly: the
    objective is the reconstruction term at a noisy code, the "VAE without KL" baseline of the
    nightingale VaDE report (an autoencoder in effect, with noise injected in the code).

    The model has no cluster site: cluster its codes afterwards with
    :class:`~pyroclust.posthoc.PostHocClustering` (Agarap & Azcarraga, 2020, "Improved
    Clustering Performance using Latent Data Representation from Variational Autoencoder";
    see :mod:`pyroclust.representations`).

    Parameters
    ----------
    latent_dim : int
        Dimension d of z (10 in Agarap & Azcarraga).
    decoder : nn.Module
        Maps z (…, d) to the likelihood's parameters (…, n_features).
    likelihood : Likelihood
        p(x | decoder(z)): :class:`~pyroclust.likelihoods.Bernoulli` for data in [0, 1],
        :class:`~pyroclust.likelihoods.Gaussian` for real-valued data.
    beta : float
        Weight of the KL term, ``>= 0``.

    Examples
    --------
    >>> from pyroclust import likelihoods, nn as pnn
    >>> model = VAE(4, decoder=pnn.MLP([4, 32, 64]), likelihood=likelihoods.Bernoulli())
    >>> model(data_size=3).shape   # generates 3 items
    torch.Size([3, 64])
    """

    def __init__(
        self,
        latent_dim: int,
        decoder: nn.Module,
        likelihood: Likelihood,
        *,
        beta: float = 1.0,
    ) -> None:
        super().__init__()
        latent_dim = int(latent_dim)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        self.decoder = decoder
        self.likelihood = likelihood
        self.beta = check_beta(beta)

    def _zeros(self, like: torch.Tensor | None) -> torch.Tensor:
        """Zeros of shape (latent_dim,), with the decoder's dtype and the data's device."""
        param = next(iter(self.decoder.parameters()), None)
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        device = like.device if like is not None else param.device if param is not None else None
        return torch.zeros(self.latent_dim, dtype=dtype, device=device)

    def prior(self, zeros: torch.Tensor) -> dist.Distribution:
        """p(z) = N(0, I_d), with event shape (latent_dim,), located at ``zeros``."""
        return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)

    def forward(
        self, x: torch.Tensor | None = None, *, data_size: int | None = None
    ) -> torch.Tensor:
        """Run the generative program; observe ``x`` (a mini-batch) when given.

        Parameters
        ----------
        x : tensor of shape (batch_size, n_features), optional
        data_size : int, optional
            Rows in the whole data set (scales the mini-batch); with ``x=None``, how many
            items to generate.

        Returns
        -------
        tensor of shape (batch_size, n_features): the observed or generated data.
        """
        batch = x.shape[0] if x is not None else data_size
        if batch is None:
            raise ValueError("pass the data x, or data_size to generate that many items")
        zeros = self._zeros(x)
        with data_plate(batch, data_size, zeros.device):
            with kl_weight(self.beta):
                z = pyro.sample(LATENT, self.prior(zeros))
            return self.likelihood(self.decoder(z), obs=x)


def check_kl_weights(model: object, guide: object) -> None:
    """Raise ``ValueError`` when a model and its guide weight the ``"z"`` site differently.

    Both :class:`VAE` and :class:`~pyroclust.guides.VAEGuide` carry ``beta``; the objective
    is the beta-ELBO only when the two agree (objects without ``beta`` are not checked).
    """
    mb, gb = getattr(model, "beta", None), getattr(guide, "beta", None)
    if mb is not None and gb is not None and float(mb) != float(gb):
        raise ValueError(
            f"the model has beta={mb} but the guide beta={gb}; give both the same KL weight "
            "(pyroclust.zoo.make('vae', ..., beta=...) does)"
        )


__all__ = ["VAE", "check_beta", "check_kl_weights", "kl_weight"]
