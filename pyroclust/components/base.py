"""The interface of latent component families p(z | y)."""

from __future__ import annotations

import torch
from pyro.distributions import Distribution
from pyro.nn import PyroModule


class ComponentFamily(PyroModule):
    """Base class of p(z | y = k), k = 0 .. n_components - 1, with event shape (latent_dim,).

    Subclasses implement :meth:`forward`, which takes a tensor of component indices (of any
    batch shape, including the shape Pyro gives an enumerated site) and returns the matching
    batch of distributions, and may implement :meth:`set_from_moments` so that initialisation
    strategies (GMM, k-means) can place the components.
    """

    def __init__(self, n_components: int, latent_dim: int) -> None:
        super().__init__()
        if int(n_components) < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.n_components = int(n_components)
        self.latent_dim = int(latent_dim)

    def forward(self, assignment: torch.Tensor) -> Distribution:
        """Return p(z | y = assignment) with batch shape ``assignment.shape``."""
        raise NotImplementedError

    def log_prob_all(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z | y = k) for every k, of shape ``z.shape[:-1] + (n_components,)``."""
        k = torch.arange(self.n_components, device=z.device)
        return self(k).log_prob(z.unsqueeze(-2))

    def set_from_moments(self, loc: torch.Tensor, var: torch.Tensor) -> None:
        """Set the components from per-component means and variances, each (K, latent_dim)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be set from moments")
