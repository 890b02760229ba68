"""Choosing the ELBO from the model: enumeration where a site asks for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.infer import ELBO, JitTrace_ELBO, JitTraceEnum_ELBO, Trace_ELBO, TraceEnum_ELBO
from pyro.poutine.util import site_is_subsample


def enumerated_sites(model: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
    """Names of the model's sample sites that request enumeration, found by tracing it once
    (in a private param store, so nothing is left in the user's)."""
    with local_params(), poutine.block(), torch.no_grad():
        trace = poutine.trace(model).get_trace(*args, **kwargs)
    return [
        name
        for name, site in trace.nodes.items()
        if site["type"] == "sample"
        and not site["is_observed"]
        and not site_is_subsample(site)
        and site["infer"].get("enumerate") is not None
    ]


def make_elbo(
    model: Callable[..., Any],
    *args: Any,
    jit: bool = False,
    num_particles: int = 1,
    max_plate_nesting: int = 1,
    **kwargs: Any,
) -> ELBO:
    """The ELBO the model needs: ``TraceEnum_ELBO`` when a site is enumerated, else ``Trace_ELBO``.

    The choice follows from the model (sites with ``infer={"enumerate": ...}``), so a user
    never has to remember a flag. ``args``/``kwargs`` are a small example call of the model
    (e.g. a mini-batch), used to trace it once.
    """
    enum = bool(enumerated_sites(model, *args, **kwargs))
    options = dict(num_particles=num_particles, max_plate_nesting=max_plate_nesting)
    if enum:
        cls = JitTraceEnum_ELBO if jit else TraceEnum_ELBO
        return cls(strict_enumeration_warning=False, **options)
    cls = JitTrace_ELBO if jit else Trace_ELBO
    return cls(**options)


def check_guide_covers_model(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    """Raise ``ValueError`` unless the guide samples every non-enumerated latent site.

    Each such site of the model must appear in the guide with the same name and event
    dimension. Called by the estimator before training, so a mismatch is a clear message
    instead of an error deep inside Pyro. Both are traced in a private param store.
    """
    with local_params(), poutine.block(), torch.no_grad():
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(
            *args, **kwargs
        )
    for name, site in model_trace.nodes.items():
        if site["type"] != "sample" or site["is_observed"] or site_is_subsample(site):
            continue
        if site["infer"].get("enumerate") is not None:
            continue
        if name not in guide_trace.nodes:
            raise ValueError(
                f"the model's latent site {name!r} is not sampled by the guide "
                f"{type(guide).__name__}; a weight prior's sites come from "
                "guide.weights = model.weights.make_guide()"
            )
        g_dim = guide_trace.nodes[name]["fn"].event_dim
        m_dim = site["fn"].event_dim
        if g_dim != m_dim:
            raise ValueError(
                f"site {name!r} has event_dim {m_dim} in the model but {g_dim} in the guide"
            )


def local_params() -> Any:
    """Context with a fresh, empty Pyro param store, restored to the user's on exit.

    pyroclust's trainer, estimator and utilities run inside it, so each PyroModule uses its
    own tensors: two models whose modules have the same names (two fits, a model and its
    copy) never share parameters through Pyro's global param store, and the user's store is
    left as it was.
    """
    return pyro.get_param_store().scope()


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and torch (what Pyro samples from); no-op for None."""
    if seed is not None:
        pyro.set_rng_seed(int(seed))
