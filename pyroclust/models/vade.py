"""VaDE: a variational autoencoder with a Gaussian-mixture prior over the latent code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyroclust.components import ComponentFamily, DiagonalGaussian
from pyroclust.likelihoods import Likelihood
from pyroclust.models.base import LatentVariableModel, data_plate
from pyroclust.priors import Learned, WeightPrior, weight_logits
from pyroclust.sites import ASSIGNMENT, LATENT
from pyroclust.structure import ENUMERATE_MODEL, ClusterSite


class VaDE(LatentVariableModel):
    r"""Variational Deep Embedding (Jiang, Zheng, Tan, Tang & Zhou, IJCAI 2017).

    Generative story, for each data point n:

    .. math::
        \pi &\sim p(\pi)                          &\text{(the ``weights`` prior)}\\
        y_n \mid \pi &\sim \mathrm{Categorical}(\pi) &\text{(site ``assignment``)}\\
        z_n \mid y_n &\sim p(z \mid y_n)            &\text{(site ``z``; Gaussian in the paper)}\\
        x_n \mid z_n &\sim p(x \mid \mathrm{decoder}(z_n)) &\text{(site ``obs``)}

    The assignment is enumerated exactly (``infer={"enumerate": "parallel"}``), so training
    with ``TraceEnum_ELBO`` sums over clusters in log space and adds no Monte-Carlo noise for
    y: the ELBO is

    .. math:: \mathbb E_{q(z\mid x)}\big[\log p(x\mid z) + \log\textstyle\sum_k \pi_k
              p(z\mid k) - \log q(z\mid x)\big].

    Parameters
    ----------
    n_components : int
        Number of mixture components K.
    latent_dim : int
        Dimension d of z (10 in the paper).
    decoder : nn.Module
        Maps z (…, d) to the likelihood's parameters (…, n_features); the paper uses
        ``MLP([d, 2000, 500, 500, n_features])``.
    likelihood : Likelihood
        p(x | decoder(z)): :class:`~pyroclust.likelihoods.Bernoulli` for data in [0, 1],
        :class:`~pyroclust.likelihoods.Gaussian` for real-valued data.
    weights : WeightPrior, optional
        Prior over pi; :class:`~pyroclust.priors.Learned` (a point estimate, as in the paper)
        by default.
    components : ComponentFamily, optional
        p(z | y); :class:`~pyroclust.components.DiagonalGaussian` by default.
    regularizers : sequence of Regularizer, optional
        Terms added to the ELBO with ``pyro.factor`` (:mod:`pyroclust.regularizers`): global
        ones are called with pi, local ones with pi, z and the components inside the plate.

    Examples
    --------
    >>> from pyroclust import likelihoods, nn as pnn
    >>> model = VaDE(10, 4, decoder=pnn.MLP([4, 32, 64]), likelihood=likelihoods.Bernoulli())
    >>> model(data_size=3).shape   # generates 3 items
    torch.Size([3, 64])
    """

    def __init__(
        self,
        n_components: int,
        latent_dim: int,
        decoder: nn.Module,
        likelihood: Likelihood,
        *,
        weights: WeightPrior | None = None,
        components: ComponentFamily | None = None,
        regularizers: Sequence[Any] = (),
    ) -> None:
        super().__init__()
        n_components, latent_dim = int(n_components), int(latent_dim)
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.decoder = decoder
        self.likelihood = likelihood
        self.cluster_sites = (ClusterSite(ASSIGNMENT, n_components, ENUMERATE_MODEL),)
        self.weights = (weights if weights is not None else Learned()).build(n_components)
        if components is None:
            components = DiagonalGaussian(n_components, latent_dim)
        if (components.n_components, components.latent_dim) != (n_components, latent_dim):
            raise ValueError(
                f"components are for K={components.n_components}, d={components.latent_dim}; "
                f"the model has K={n_components}, d={latent_dim}"
            )
        self.components = components
        self.regularizers = tuple(regularizers)

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
        pi = self.weights()
        for reg in self.regularizers:
            if not reg.local:
                reg(weights=pi)
        with data_plate(batch, data_size, pi.device):
            y = pyro.sample(
                ASSIGNMENT,
                dist.Categorical(logits=weight_logits(pi)),
                infer={"enumerate": "parallel"},
            )
            z = pyro.sample(LATENT, self.components(y))
            for reg in self.regularizers:
                if reg.local:
                    reg(weights=pi, z=z, components=self.components)
            return self.likelihood(self.decoder(z), obs=x)
