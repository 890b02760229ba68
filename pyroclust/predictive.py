"""Posterior-predictive utilities, written once over the models' declared structure.

They work for any model/guide pair that follows :mod:`pyroclust.sites` and declares its
structure (:mod:`pyroclust.structure`): the guide is called as ``guide(x, data_size=...)``, the
model as ``model(x=None, data_size=...)``. Nothing is assumed about the model beyond that:
posteriors over cluster sites are read from traces (exact enumeration where the model
enumerates a site; q(y | x) where the guide holds it), reconstructions and samples replay the
model and read the ``"obs"`` distribution's mean, so no model needs a ``decode`` method.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from pyro import poutine
from pyro.infer import infer_discrete
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from pyroclust.infer.elbo import local_params
from pyroclust.sites import ASSIGNMENT, LATENT, OBS
from pyroclust.structure import (
    ENUMERATE_MODEL,
    cluster_site,
    cluster_sites,
    latent_sites,
    weight_guides,
)


def _logits_of(fn: Any) -> torch.Tensor | None:
    """The logits of a categorical-like distribution (also relaxed or wrapped), else None."""
    while fn is not None:
        logits = getattr(type(fn), "logits", None)
        if logits is not None:
            try:
                return fn.logits
            except (AttributeError, NotImplementedError):
                return None
        fn = getattr(fn, "base_dist", None)
    return None


def point_value(fn: Any) -> torch.Tensor:
    """A point summary of a distribution: its mode for categorical-like ones (an index for
    ``Categorical``, a one-hot vector for one-hot and relaxed one-hot ones), else its mean."""
    logits = _logits_of(fn)
    if logits is not None:
        k = logits.shape[-1]
        idx = logits.argmax(-1)
        if fn.event_shape and fn.event_shape[-1] == k:  # one-hot (relaxed or not)
            return torch.nn.functional.one_hot(idx, k).to(logits.dtype)
        return idx
    return fn.mean


class _PointMessenger(Messenger):
    """Replace every latent sample by :func:`point_value` of its distribution (deterministic
    guides); sites asking for enumeration are left alone when ``keep_enumerated``."""

    def __init__(self, keep_enumerated: bool = False) -> None:
        super().__init__()
        self.keep_enumerated = keep_enumerated

    def _pyro_sample(self, msg: dict[str, Any]) -> None:
        if msg["is_observed"] or msg["value"] is not None:
            return
        if msg["infer"].get("enumerate") is not None:
            if self.keep_enumerated:
                return
            msg["infer"] = {k: v for k, v in msg["infer"].items() if k != "enumerate"}
        msg["value"] = point_value(msg["fn"])


def guide_means(guide: Callable[..., Any]) -> Callable[..., Any]:
    """The guide with every latent site at its point summary (:func:`point_value`: the mean
    of continuous sites, the mode of cluster sites) instead of a random draw."""

    def mean_guide(*args: Any, **kwargs: Any) -> Any:
        with _PointMessenger():
            return guide(*args, **kwargs)

    return mean_guide


@contextlib.contextmanager
def evaluating(*modules: Any) -> Iterator[None]:
    """Put the ``nn.Module`` among ``modules`` in evaluation mode (BatchNorm uses its running
    statistics, Dropout and training-time augmentation are off), restoring each module's own
    mode on exit. Every utility here predicts in this mode."""
    saved = []
    for module in modules:
        if isinstance(module, torch.nn.Module):
            saved.extend((m, m.training) for m in module.modules())
            module.eval()
    try:
        yield
    finally:
        for m, mode in saved:
            m.training = mode


def _batches(x: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return list(torch.split(x, batch_size)) if len(x) else []


@torch.no_grad()
def codes(
    model: Any, guide: Callable[..., Any], x: torch.Tensor, *, batch_size: int = 4096
) -> dict[str, torch.Tensor]:
    """The guide's point value of every declared latent code, by site name, for each row of
    ``x``: each of shape (n_samples, code_dim). Cluster sites the codes depend on are at
    their most probable value."""
    names = latent_sites(model)
    out: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    with local_params(), evaluating(model, guide):
        for xb in _batches(x, batch_size):
            trace = poutine.trace(guide_means(guide)).get_trace(xb)
            for name in names:
                if name not in trace.nodes:
                    raise ValueError(f"the guide has no latent site {name!r}")
                out[name].append(trace.nodes[name]["value"].reshape(len(xb), -1))
    return {name: torch.cat(parts) for name, parts in out.items()}


@torch.no_grad()
def latent_codes(
    guide: Callable[..., Any], x: torch.Tensor, *, batch_size: int = 4096, site: str = LATENT
) -> torch.Tensor:
    """The guide's mean of the code ``site`` (``"z"``) for each row of ``x``: shape
    (n_samples, latent_dim)."""
    out = []
    with local_params(), evaluating(guide):
        for xb in _batches(x, batch_size):
            trace = poutine.trace(guide_means(guide)).get_trace(xb)
            out.append(trace.nodes[site]["value"])
    return torch.cat(out)


def _enumerated_joint(
    trace: Any, include_observed: bool, max_plate_nesting: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The sum of the log densities of a trace run under ``poutine.enum`` that depend on an
    enumerated site (each broadcast over the enumerated dimensions; unscaled), and its
    enumerated sites by name. Terms that do not depend on any enumerated site are constant
    across its values and left out, so large ones (the likelihood of wide data) cannot
    swamp the others in float32."""
    enumerated = {}
    joint: torch.Tensor | None = None
    device = None
    for name, s in trace.nodes.items():
        if s["type"] != "sample" or site_is_subsample(s):
            continue
        if torch.is_tensor(s["value"]):
            device = s["value"].device
        if s["is_observed"] and not include_observed:
            continue
        if getattr(s["fn"], "_pyro_deterministic", False):
            continue
        if "_enumerate_dim" in s["infer"]:
            enumerated[name] = s
        elif not s["is_observed"] and not include_observed:
            continue
        lp = s["fn"].log_prob(s["value"])
        if lp.dim() > max_plate_nesting:  # it has an enumerated dimension
            joint = lp if joint is None else joint + lp
    if joint is None:  # nothing enumerated: a zero on the trace's device (CUDA included)
        joint = torch.zeros((), device=device)
    return joint, enumerated


def _marginal(joint: torch.Tensor, site: dict[str, Any], batch: int) -> torch.Tensor:
    """log of the normalised marginal (batch, K) of ``site`` from a joint over enumerated
    dimensions (..., batch): every other enumerated dimension is summed out in log space."""
    lp = joint.movedim(site["infer"]["_enumerate_dim"], -1)
    lp = lp.reshape(-1, *lp.shape[-2:]).logsumexp(0) if lp.ndim > 2 else lp
    lp = lp.expand(batch, lp.shape[-1])
    return _normalise(lp)


def _normalise(lp: torch.Tensor) -> torch.Tensor:
    """Log-probability rows from unnormalised ones. Normalised twice: log densities in the
    thousands carry float32 rounding of about 1e-4 through the first subtraction, and the
    second (of values near 0) makes each row sum to 1 to float precision."""
    lp = lp - lp.logsumexp(-1, keepdim=True)
    return lp - lp.logsumexp(-1, keepdim=True)


def _model_enumerated_log_proba(
    model: Any, guide: Any, xb: torch.Tensor, site: str, draws: int, max_plate_nesting: int
) -> torch.Tensor:
    r"""log p(y | codes, x) for a site enumerated in the model, by brute-force enumeration:
    the model is replayed at the guide's codes (point values, or ``draws`` samples) under
    ``poutine.enum``; its joint log density over the enumerated sites is normalised over the
    target's values with every other enumerated site summed out, in log space."""
    use_guide = guide_means(guide) if draws == 0 else guide
    acc = []
    for _ in range(max(1, draws)):
        guide_trace = poutine.trace(use_guide).get_trace(xb)
        replayed = poutine.replay(model, trace=guide_trace)
        fn = poutine.enum(replayed, first_available_dim=-1 - max_plate_nesting)
        trace = poutine.trace(fn).get_trace(xb)
        joint, enumerated = _enumerated_joint(trace, True, max_plate_nesting)
        if site not in enumerated:
            raise ValueError(
                f"the model has no enumerated site {site!r}; it has {sorted(enumerated)}"
            )
        acc.append(_marginal(joint, enumerated[site], len(xb)))
    return torch.stack(acc).logsumexp(0) - math.log(len(acc))


def _guide_log_proba(
    guide: Any, xb: torch.Tensor, site: str, draws: int, max_plate_nesting: int
) -> torch.Tensor:
    r"""log q(y | x) for a guide-side cluster site, exactly over the guide's enumerated sites.

    The guide runs with its enumerated sites enumerated in parallel (their values span every
    combination) and its other latent sites at their point values (or sampled, with
    ``draws > 0``). The joint log q of the enumerated sites is summed and every enumerated
    dimension but the target's is marginalised with ``logsumexp``; for a relaxed target, its
    logits are averaged the same way over the enumerated sites it depends on.
    """
    acc = []
    for _ in range(max(1, draws)):
        fn = poutine.enum(guide, first_available_dim=-1 - max_plate_nesting)
        with _PointMessenger(keep_enumerated=True) if draws == 0 else _Null():
            trace = poutine.trace(fn).get_trace(xb)
        if site not in trace.nodes:
            raise ValueError(f"the guide has no site {site!r}")
        joint, enumerated = _enumerated_joint(trace, False, max_plate_nesting)
        if site in enumerated:
            acc.append(_marginal(joint, enumerated[site], len(xb)))
            continue
        logits = _logits_of(trace.nodes[site]["fn"])
        if logits is None:
            raise ValueError(f"site {site!r} of the guide is not categorical")
        lp = joint.unsqueeze(-1) + logits.log_softmax(-1)
        lp = lp.reshape(-1, *lp.shape[-2:]).logsumexp(0) if lp.ndim > 2 else lp
        acc.append(_normalise(lp.expand(len(xb), lp.shape[-1])))
    lp = torch.stack(acc).logsumexp(0) - math.log(len(acc))
    return lp


class _Null(Messenger):
    """A messenger that does nothing (the stochastic branch of :func:`_guide_log_proba`)."""


@torch.no_grad()
def cluster_log_proba(
    model: Any,
    guide: Callable[..., Any],
    x: torch.Tensor,
    *,
    site: str | None = None,
    num_samples: int = 0,
    batch_size: int = 4096,
    max_plate_nesting: int = 1,
) -> torch.Tensor:
    r"""log p(y | x) for the cluster site ``site`` (the model's first by default), in log space.

    Where the site is inferred decides what that means (:mod:`pyroclust.structure`):

    - enumerated in the model: the exact posterior of y given the guide's codes and x,
      computed by Pyro's enumeration with ``logsumexp`` (for VaDE, the paper's eq. 16:
      :math:`\log \pi_k + \log p(\mu(x) \mid k) - \log\sum_j \pi_j p(\mu(x) \mid j)`);
    - held by the guide (enumerated or relaxed): the guide's q(y | x), exactly summed over
      the guide's other enumerated cluster sites it depends on; a guide with a method
      ``cluster_log_proba(model, x, site)`` that returns a tensor says itself what its
      posterior is (k-DVAE's eq. 8).

    With ``num_samples=0`` continuous latent sites sit at their point values; with
    ``num_samples=S`` the probabilities are averaged over S draws of them.

    Returns
    -------
    tensor of shape (n_samples, n_components), each row a log-probability vector.
    """
    decl = cluster_site(model, site)
    draws = max(0, int(num_samples))
    out = []
    with local_params(), evaluating(model, guide):
        for xb in _batches(x, batch_size):
            if decl.inference == ENUMERATE_MODEL:
                lp = _model_enumerated_log_proba(
                    model, guide, xb, decl.name, draws, max_plate_nesting
                )
            else:
                # a guide may say what its posterior over the site is (k-DVAE's eq. 8)
                hook = getattr(guide, "cluster_log_proba", None)
                lp = hook(model, xb, decl.name) if callable(hook) else None
                if lp is None:
                    lp = _guide_log_proba(guide, xb, decl.name, draws, max_plate_nesting)
                else:
                    lp = _normalise(lp)
            out.append(lp)
    if not out:
        return torch.zeros(0, decl.n_components)
    return torch.cat(out)


#: log p(y | x) for a cluster site: :func:`cluster_log_proba`, kept under this name for code
#: written against VaDE, whose one site is ``"assignment"``.
assignment_log_proba = cluster_log_proba


def _has_model_enumeration(model: Any) -> bool:
    return any(s.inference == ENUMERATE_MODEL for s in cluster_sites(model))


@torch.no_grad()
def _component_value(
    decl: Any, k: int, n: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The value that fixes cluster site ``decl`` at component ``k`` for ``n`` rows: an index,
    or a one-hot vector for a relaxed site."""
    if not 0 <= int(k) < decl.n_components:
        raise ValueError(
            f"component must be in [0, {decl.n_components}) for site {decl.name!r}, got {k}"
        )
    value = torch.full((n,), int(k), device=device)
    if decl.relaxed:
        value = torch.nn.functional.one_hot(value, decl.n_components).to(dtype)
    return value


@torch.no_grad()
def reconstruct(
    model: Any,
    guide: Callable[..., Any],
    x: torch.Tensor,
    *,
    component: int | None = None,
    site: str | None = None,
    batch_size: int = 4096,
) -> torch.Tensor:
    """E[x | codes of x]: the model replayed at the guide's point values of ``x``, read at
    the ``"obs"`` distribution's mean; shape (n_samples, n_features).

    A cluster site enumerated in the model that the likelihood depends on is set to its most
    probable value given the codes (``infer_discrete`` at temperature 0). With ``component``,
    the cluster site ``site`` (the first) is fixed at that component in the guide and the
    model instead: each item's codes decoded as if it belonged to cluster ``component`` (the
    style-transfer grid of GMVAE's Fig. 4a; k-DVAE's decoder ``component``).
    """
    out = []
    decl = cluster_site(model, site) if component is not None else None
    with local_params(), evaluating(model, guide):
        for xb in _batches(x, batch_size):
            use_model, use_guide = model, guide
            if decl is not None:
                value = _component_value(decl, component, len(xb), xb.device, xb.dtype)
                fixed = {decl.name: value}
                use_model = poutine.condition(model, fixed)
                use_guide = poutine.condition(guide, fixed) if decl.in_guide else guide
            guide_trace = poutine.trace(guide_means(use_guide)).get_trace(xb)
            replayed = poutine.replay(use_model, trace=guide_trace)
            if _has_model_enumeration(model):
                trace = poutine.trace(poutine.enum(replayed, first_available_dim=-2)).get_trace(xb)
                mean = trace.nodes[OBS]["fn"].mean
                if mean.shape != xb.shape:  # the likelihood depends on the enumerated site
                    fn = infer_discrete(replayed, first_available_dim=-2, temperature=0)
                    mean = poutine.trace(fn).get_trace(xb).nodes[OBS]["fn"].mean
            else:
                mean = poutine.trace(replayed).get_trace(xb).nodes[OBS]["fn"].mean
            out.append(mean.reshape(xb.shape))
    return torch.cat(out) if out else x.new_zeros(x.shape)


def _weights_posterior_trace(guide: Any) -> Any:
    """One draw of every weight prior's latent sites from the guide's families (None when the
    guide has none)."""
    families = weight_guides(guide) if guide is not None else {}
    if not families:
        return None

    def draw() -> None:
        for family in families.values():
            family()

    return poutine.trace(draw).get_trace()


@torch.no_grad()
def sample(
    model: Any,
    n: int,
    *,
    component: int | None = None,
    site: str | None = None,
    guide: Any = None,
    mean: bool = True,
) -> dict[str, torch.Tensor]:
    """Draw ``n`` items from the model, from cluster ``component`` of ``site`` when given.

    The model is run forward (no data): one cluster site is conditioned on ``component``
    (a one-hot vector for a relaxed site) and every other site is drawn. With ``guide``, the
    weight priors' latent sites (a Dirichlet pi, stick-breaking sticks, a Zipf exponent) are
    drawn from their variational posterior, not from the prior.

    Returns
    -------
    dict with every cluster site (integer labels of shape (n,)), every latent code (n, dim)
    and ``"x"`` (n, n_features): the likelihood's mean when ``mean`` is true, else a draw.
    The keys ``"assignment"`` and ``"z"`` are always present (None when the model has no
    such site).
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    fn = model
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    device = params[0].device if params else torch.device("cpu")
    if component is not None or site is not None:
        decl = cluster_site(model, site)
    if component is not None:
        dtype = params[0].dtype if params else torch.float32
        value = _component_value(decl, component, n, device, dtype)
        fn = poutine.condition(model, {decl.name: value})
    with local_params(), evaluating(model, guide):
        weights_trace = _weights_posterior_trace(guide)
        if weights_trace is not None:
            fn = poutine.replay(fn, trace=weights_trace)
        trace = poutine.trace(fn).get_trace(data_size=n)
    nodes = trace.nodes
    out: dict[str, Any] = {ASSIGNMENT: None, LATENT: None}
    for decl_site in cluster_sites(model):
        if decl_site.name in nodes:
            value = nodes[decl_site.name]["value"]
            out[decl_site.name] = value.argmax(-1) if decl_site.relaxed else value
    for name in latent_sites(model):
        if name in nodes:
            out[name] = nodes[name]["value"]
    obs = nodes[OBS]
    out["x"] = obs["fn"].mean if mean else obs["value"]
    return out


__all__ = [
    "assignment_log_proba",
    "cluster_log_proba",
    "codes",
    "evaluating",
    "guide_means",
    "latent_codes",
    "point_value",
    "reconstruct",
    "sample",
]
