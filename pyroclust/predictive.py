"""Posterior-predictive utilities, written once over the zoo's site names.

They work for any model/guide pair that follows :mod:`pyroclust.sites`: the guide is called as
``guide(x, data_size=...)``, the model as ``model(x=None, data_size=...)``, the cluster site is
``"assignment"`` (enumerated in the model) and the code is ``"z"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from pyro import poutine
from pyro.infer import Predictive, TraceEnum_ELBO
from pyro.poutine.messenger import Messenger

from pyroclust.infer.elbo import local_params
from pyroclust.sites import ASSIGNMENT, LATENT, OBS


class _MeanMessenger(Messenger):
    """Replace every latent sample by the mean of its distribution (deterministic guides)."""

    def _pyro_sample(self, msg: dict[str, Any]) -> None:
        if not msg["is_observed"] and msg["value"] is None:
            msg["value"] = msg["fn"].mean


def guide_means(guide: Callable[..., Any]) -> Callable[..., Any]:
    """The guide with every latent site at its mean instead of a random draw."""

    def mean_guide(*args: Any, **kwargs: Any) -> Any:
        with _MeanMessenger():
            return guide(*args, **kwargs)

    return mean_guide


def _batches(x: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return list(torch.split(x, batch_size)) if len(x) else []


@torch.no_grad()
def latent_codes(
    guide: Callable[..., Any], x: torch.Tensor, *, batch_size: int = 4096
) -> torch.Tensor:
    """The guide's mean of ``z`` for each row of ``x``: shape (n_samples, latent_dim)."""
    out = []
    with local_params():
        for xb in _batches(x, batch_size):
            trace = poutine.trace(guide_means(guide)).get_trace(xb)
            out.append(trace.nodes[LATENT]["value"])
    return torch.cat(out)


@torch.no_grad()
def assignment_log_proba(
    model: Callable[..., Any],
    guide: Callable[..., Any],
    x: torch.Tensor,
    *,
    site: str = ASSIGNMENT,
    num_samples: int = 0,
    batch_size: int = 4096,
    max_plate_nesting: int = 1,
) -> torch.Tensor:
    r"""log p(y | x) for the enumerated cluster site, exactly, in log space.

    With ``num_samples=0`` the guide's latent sites are set to their means, and the result is
    the exact posterior of y given those codes and x (for VaDE,
    :math:`\log \pi_k + \log p(\mu(x) \mid k) - \log\sum_j \pi_j p(\mu(x) \mid j)`, the paper's
    eq. 16 at the mean code), computed by Pyro's enumeration with ``logsumexp``. With
    ``num_samples=S`` it averages the posterior over S draws of the guide.

    Returns
    -------
    tensor of shape (n_samples, n_components), each row a log-probability vector.
    """
    elbo = TraceEnum_ELBO(max_plate_nesting=max_plate_nesting)
    draws = max(1, int(num_samples))
    use_guide = guide_means(guide) if num_samples == 0 else guide
    out = []
    with local_params():
        for xb in _batches(x, batch_size):
            acc = []
            for _ in range(draws):
                marginals = elbo.compute_marginals(model, use_guide, xb)
                if site not in marginals:
                    raise ValueError(
                        f"the model has no enumerated site {site!r}; it has {list(marginals)}"
                    )
                logits = marginals[site].logits
                acc.append(logits - logits.logsumexp(-1, keepdim=True))
            lp = torch.stack(acc).logsumexp(0) - torch.log(torch.tensor(float(draws)))
            out.append(lp.reshape(len(xb), -1))
    return torch.cat(out)


@torch.no_grad()
def reconstruct(
    model: Any, guide: Callable[..., Any], x: torch.Tensor, *, batch_size: int = 4096
) -> torch.Tensor:
    """E[x | z = mean code of x]: reconstructions of shape (n_samples, n_features)."""
    with local_params():
        return torch.cat([model.decode(latent_codes(guide, xb)) for xb in _batches(x, batch_size)])


@torch.no_grad()
def sample(
    model: Any,
    n: int,
    *,
    component: int | None = None,
    mean: bool = True,
) -> dict[str, torch.Tensor]:
    """Draw ``n`` items from the model (from cluster ``component`` when given).

    Uses :class:`pyro.infer.Predictive` on the model (no guide: the prior predictive), with
    the cluster site conditioned on ``component``.

    Returns
    -------
    dict with ``"assignment"`` (n,), ``"z"`` (n, latent_dim) and ``"x"`` (n, n_features): the
    likelihood's mean E[x | z] when ``mean`` is true, else a draw from p(x | z).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    fn = model
    if component is not None:
        k = getattr(model, "n_components", None)
        if k is not None and not 0 <= int(component) < k:
            raise ValueError(f"component must be in [0, {k}), got {component}")
        device = next(iter(model.parameters())).device
        fn = poutine.condition(model, {ASSIGNMENT: torch.full((n,), int(component), device=device)})
    with local_params():
        predictive = Predictive(fn, num_samples=1, return_sites=[ASSIGNMENT, LATENT, OBS])
        draws = {name: value[0] for name, value in predictive(data_size=n).items()}
        if ASSIGNMENT not in draws and component is not None:
            draws[ASSIGNMENT] = torch.full((n,), int(component))
        x = model.decode(draws[LATENT]) if mean else draws[OBS]
    return {"assignment": draws.get(ASSIGNMENT), "z": draws[LATENT], "x": x}
