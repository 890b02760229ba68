"""A deterministic autoencoder written as a Pyro model (the AE of "AE + GMM" baselines)."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyroclust.likelihoods import Likelihood
from pyroclust.models.base import LatentVariableModel, data_plate
from pyroclust.sites import LATENT


class Autoencoder(LatentVariableModel):
    r"""A deterministic autoencoder as a Pyro model/guide pair.

    The model is a VAE's whose prior over the code is switched off:

    .. math::
        z_n &\sim \mathcal N(0, I_d) \text{ masked out (contributes nothing)} &\text{(site ``z``)}\\
        x_n \mid z_n &\sim p(x \mid \mathrm{decoder}(z_n))                  &\text{(site ``obs``)}

    and its guide, :class:`~pyroclust.guides.AutoencoderGuide`, puts a point mass
    :math:`q(z\mid x) = \delta(z - \mathrm{encoder}(x))` on the code. Since the ``"z"`` site
    is masked in the model (``.mask(False)``) and a Delta has log-density 0 at its value,
    Pyro's ``Trace_ELBO`` is exactly the reconstruction log-likelihood

    .. math:: \mathrm{ELBO}(x) = \log p\big(x \mid \mathrm{decoder}(\mathrm{encoder}(x))\big),

    i.e. binary cross-entropy (Bernoulli) or squared error (Gaussian) training of an
    autoencoder by the zoo's one SVI trainer. It is not a generative model (there is no
    prior); ``model(data_size=n)`` decodes N(0, I) draws only so that the program runs.

    Clustering its codes with a Gaussian mixture,
    ``PostHocClustering("gmm", representation=fitted_estimator)``, is the "AE + GMM" baseline
    of the k-DVAE comparison table (and of VaDE's, Jiang et al., 2017).

    Parameters
    ----------
    latent_dim : int
        Dimension d of the code.
    decoder : nn.Module
        Maps z (…, d) to the likelihood's parameters (…, n_features).
    likelihood : Likelihood
        p(x | decoder(z)).

    Examples
    --------
    >>> from pyroclust import likelihoods, nn as pnn
    >>> model = Autoencoder(4, decoder=pnn.MLP([4, 32, 64]), likelihood=likelihoods.Bernoulli())
    >>> model(data_size=3).shape
    torch.Size([3, 64])
    """

    def __init__(self, latent_dim: int, decoder: nn.Module, likelihood: Likelihood) -> None:
        super().__init__()
        latent_dim = int(latent_dim)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.latent_dim = latent_dim
        self.decoder = decoder
        self.likelihood = likelihood

    def _zeros(self, like: torch.Tensor | None) -> torch.Tensor:
        """Zeros of shape (latent_dim,), with the decoder's dtype and the data's device."""
        param = next(iter(self.decoder.parameters()), None)
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        device = like.device if like is not None else param.device if param is not None else None
        return torch.zeros(self.latent_dim, dtype=dtype, device=device)

    def forward(
        self, x: torch.Tensor | None = None, *, data_size: int | None = None
    ) -> torch.Tensor:
        """Run the program; observe ``x`` (a mini-batch of shape (batch, n_features)) when given.

        Returns
        -------
        tensor of shape (batch_size, n_features): the observed or generated data.
        """
        batch = x.shape[0] if x is not None else data_size
        if batch is None:
            raise ValueError("pass the data x, or data_size to generate that many items")
        zeros = self._zeros(x)
        prior = dist.Normal(zeros, torch.ones_like(zeros)).to_event(1).mask(False)
        with data_plate(batch, data_size, zeros.device):
            z = pyro.sample(LATENT, prior)
            return self.likelihood(self.decoder(z), obs=x)
