"""The k-DAE guide: q(y | x) and a point mass at each cluster's encoder output."""

from __future__ import annotations

import pyro.distributions as dist
import torch

from pyroclust.guides.kdvae import KDVAEGuide


class KDAEGuide(KDVAEGuide):
    r"""q(y, z | x) = q(y | x) :math:`\delta(z - \mathrm{enc}_y(x))` for
    :class:`~pyroclust.models.KDAE`.

    The networks are :class:`KDVAEGuide`'s (k encoders D-500-100-2d as one
    :class:`~pyroclust.nn.BatchedMLP`, of which the first d outputs are the code; a learned
    q(y | x)); the ``"z"`` site is a ``Delta`` of event dimension 1 at the enumerated
    cluster's code, whose log-density is 0, so the ELBO holds reconstruction terms only.

    Examples
    --------
    >>> from pyroclust.models import KDAE
    >>> model = KDAE(64, 3, latent_dim=2, hidden=(16, 8))
    >>> guide = KDAEGuide.for_model(model)
    >>> guide.hard_assignments(model, torch.rand(5, 64)).shape   # the best autoencoder
    torch.Size([5])
    """

    def code_posterior(self, loc: torch.Tensor, scale: torch.Tensor) -> dist.Distribution:
        """A point mass at the code ``loc`` (the scale is unused)."""
        return dist.Delta(loc, event_dim=1)


__all__ = ["KDAEGuide"]
