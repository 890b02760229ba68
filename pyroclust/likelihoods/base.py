"""The likelihood interface: how a decoder's output becomes a distribution over x."""

from __future__ import annotations

import pyro
import torch
from pyro.distributions import Distribution
from pyro.nn import PyroModule

from pyroclust.exceptions import DataError
from pyroclust.sites import OBS


class Likelihood(PyroModule):
    """Base class of observation models p(x | h), with h the decoder's output.

    Subclasses implement :meth:`distribution` (a distribution with event shape
    ``(n_features,)``) and :meth:`mean`; they may override :meth:`validate` to reject data
    outside their support before training starts.

    Calling the likelihood inside a model emits the ``"obs"`` site::

        likelihood(decoder(z), obs=x)   # pyro.sample("obs", p(x | decoder(z)), obs=x)
    """

    #: "unit" for data in [0, 1], "real" for real-valued data.
    support: str = "real"

    def distribution(self, params: torch.Tensor) -> Distribution:
        """Return p(x | params) with event shape ``(n_features,)``."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Return E[x | params], of the same shape as the data."""
        raise NotImplementedError

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of each row of ``x``; shape ``x.shape[:-1]``."""
        return self.distribution(params).log_prob(x)

    def validate(self, x: torch.Tensor) -> None:
        """Raise :class:`~pyroclust.exceptions.DataError` if ``x`` is outside the support."""
        if not torch.isfinite(x).all():
            raise DataError("data contain NaN or infinite values")

    def forward(self, params: torch.Tensor, obs: torch.Tensor | None = None) -> torch.Tensor:
        """Emit the ``"obs"`` sample site, observed at ``obs`` when given."""
        return pyro.sample(OBS, self.distribution(params), obs=obs)
