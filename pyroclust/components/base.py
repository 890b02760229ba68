"""The interface of latent component families p(z | y)."""

from __future__ import annotations

import torch
from pyro.distributions import Distribution
from pyro.nn import PyroModule, PyroParam
from torch.distributions import constraints


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


class LocScaleDfFamily(ComponentFamily):
    """Components with a mean and a scale per (component, dimension) and degrees of freedom
    shared by all: the parameters and the placement of the Student-t families.

    ``df`` is a buffer, or a point estimate with ``learn_df=True``. :meth:`set_from_moments`
    matches the variance, scale^2 df / (df - 2) = var (for df > 2; the scale is the standard
    deviation otherwise). Subclasses implement :meth:`forward`.
    """

    def __init__(
        self,
        n_components: int,
        latent_dim: int,
        *,
        df: float,
        learn_df: bool = False,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__(n_components, latent_dim)
        if not df > 0:
            raise ValueError(f"df must be positive, got {df}")
        self.loc = PyroParam(torch.randn(self.n_components, self.latent_dim) * init_scale)
        self.scale = PyroParam(
            torch.ones(self.n_components, self.latent_dim), constraint=constraints.positive
        )
        if learn_df:
            self.df = PyroParam(torch.tensor(float(df)), constraint=constraints.positive)
        else:
            self.register_buffer("df", torch.tensor(float(df)))

    def set_from_moments(self, loc: torch.Tensor, var: torch.Tensor) -> None:  # noqa: D102
        self.loc = loc.detach().to(self.loc).clone()
        df = float(self.df)
        factor = (df - 2.0) / df if df > 2 else 1.0
        self.scale = (var.detach().to(self.loc).clamp_min(1e-8) * factor).sqrt()
