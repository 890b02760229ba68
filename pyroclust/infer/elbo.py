"""Choosing the ELBO from the model: enumeration where a site asks for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyro
import torch
from pyro import poutine
from pyro.infer import ELBO, JitTrace_ELBO, JitTraceEnum_ELBO, Trace_ELBO, TraceEnum_ELBO
from pyro.poutine.util import site_is_subsample

from pyroclust.infer.graph import BACKENDS as GRAPH_BACKENDS
from pyroclust.infer.graph import GraphELBO


def enumerated_sites(model: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
    """Names of the model's sample sites that request enumeration, found by tracing it once
    (in a private param store, so nothing is left in the user's)."""
    return _enumerated(_traces(model, None, *args, **kwargs)[0])


def _traces(
    model: Callable[..., Any], guide: Callable[..., Any] | None, *args: Any, **kwargs: Any
) -> tuple[Any, Any]:
    """(model trace, guide trace or None), the model replayed against the guide, in a private
    param store and without gradients."""
    with local_params(), poutine.block(), torch.no_grad():
        guide_trace = None if guide is None else poutine.trace(guide).get_trace(*args, **kwargs)
        fn = model if guide_trace is None else poutine.replay(model, trace=guide_trace)
        model_trace = poutine.trace(fn).get_trace(*args, **kwargs)
    return model_trace, guide_trace


def _latent(site: dict[str, Any]) -> bool:
    return (
        site["type"] == "sample"
        and not site["is_observed"]
        and not site_is_subsample(site)
        and not getattr(site["fn"], "_pyro_deterministic", False)
    )


def score_function_sites(trace: Any) -> list[str]:
    """Latent sites of a (guide) trace that are neither enumerated nor reparameterisable:
    with ``Trace_ELBO`` their gradients come from the high-variance score-function estimator.
    """
    return [
        name
        for name, site in trace.nodes.items()
        if _latent(site)
        and site["infer"].get("enumerate") is None
        and not getattr(site["fn"], "has_rsample", False)
    ]


def make_elbo(
    model: Callable[..., Any],
    *args: Any,
    guide: Callable[..., Any] | None = None,
    jit: bool | str = False,
    num_particles: int = 1,
    max_plate_nesting: int = 1,
    allow_score_function: bool = False,
    **kwargs: Any,
) -> ELBO:
    """The objective that model and guide need, chosen by tracing them once.

    - ``TraceEnum_ELBO`` when a site asks for enumeration (``infer={"enumerate": ...}``) in
      the model or, given ``guide``, in the guide: the cluster site is summed out exactly,
      wherever it lives;
    - else ``Trace_ELBO``; relaxed (Gumbel-Softmax) sites are reparameterised samples and
      need nothing more.

    A discrete guide site that is neither enumerated nor reparameterisable would train by
    score-function gradients (unbiased, but so noisy that a clustering rarely learns): that
    is a ``ValueError`` naming the site, unless ``allow_score_function=True``.

    ``args``/``kwargs`` are a small example call of model and guide (e.g. a mini-batch and
    ``data_size``). A model enumerated site that the guide also samples is an error.

    ``jit`` chooses a fast path for that objective (:func:`fast_path`): ``False`` (Pyro's
    ELBO as it is), ``"fx"`` or ``"inductor"`` (the objective traced once per shape into a
    graph, :class:`~pyroclust.infer.graph.GraphELBO`), ``True`` or ``"torchscript"`` (Pyro's
    ``JitTraceEnum_ELBO``/``JitTrace_ELBO``, built on the deprecated ``torch.jit.trace``).
    """
    mode = fast_path(jit)
    # the model traced alone: replayed against the guide, it would copy the guide's flags
    model_enum = _enumerated(_traces(model, None, *args, **kwargs)[0])
    enum = bool(model_enum)
    if guide is not None:
        # reading the guide leaves the random stream as it was: a fit draws the same numbers
        # whether or not the objective was chosen with the guide
        with torch.random.fork_rng(devices=rng_devices()):
            guide_trace = _traces(model, guide, *args, **kwargs)[1]
        guide_enum = _enumerated(guide_trace)
        both = sorted(set(model_enum) & set(guide_trace.nodes))
        if both:
            raise ValueError(
                f"site(s) {both} are enumerated in the model and also sampled by the guide; "
                "enumerate a cluster site on one side only"
            )
        enum = enum or bool(guide_enum)
        scored = score_function_sites(guide_trace)
        if scored and not allow_score_function:
            raise ValueError(
                f"the guide's discrete site(s) {scored} are neither enumerated nor relaxed, so "
                "training would use high-variance score-function gradients; mark them "
                "infer={'enumerate': 'parallel'}, use a relaxed (Gumbel-Softmax) "
                "distribution, or pass allow_score_function=True"
            )
    options = dict(num_particles=num_particles, max_plate_nesting=max_plate_nesting)
    torchscript = mode == "torchscript"
    if enum:
        cls = JitTraceEnum_ELBO if torchscript else TraceEnum_ELBO
        elbo: ELBO = cls(strict_enumeration_warning=False, **options)
    else:
        elbo = (JitTrace_ELBO if torchscript else Trace_ELBO)(**options)
    if mode in GRAPH_BACKENDS:
        return GraphELBO(elbo, backend=mode)
    return elbo


#: The values of ``jit`` (:func:`make_elbo`, the trainer, the estimator) naming a fast path.
FAST_PATHS = ("torchscript", *GRAPH_BACKENDS)


def fast_path(jit: bool | str | None) -> str | None:
    """The fast path that ``jit`` names: None (the ELBO as it is) for False/None,
    ``"torchscript"`` for True, else ``"fx"``, ``"inductor"`` or ``"torchscript"`` as given;
    ``ValueError`` for anything else."""
    if jit is None or jit is False:
        return None
    if jit is True:
        return "torchscript"
    if isinstance(jit, str) and jit in FAST_PATHS:
        return jit
    raise ValueError(f"jit must be True, False or one of {FAST_PATHS}, not {jit!r}")


def rng_devices() -> list[int]:
    """The CUDA devices whose random state ``torch.random.fork_rng`` must keep (the current
    one when CUDA is available)."""
    return [torch.cuda.current_device()] if torch.cuda.is_available() else []


def _enumerated(trace: Any) -> list[str]:
    return [
        name
        for name, site in trace.nodes.items()
        if _latent(site) and site["infer"].get("enumerate") is not None
    ]


def check_guide_covers_model(
    model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    """Raise ``ValueError`` unless the guide samples every non-enumerated latent site.

    Each such site of the model must appear in the guide with the same name and event
    dimension. Called by the estimator before training, so a mismatch is a clear message
    instead of an error deep inside Pyro. Both are traced in a private param store, on a
    fork of the random stream: the check draws nothing from the fit's stream (the guides
    that sample and those that do not leave the stages after it the same stream).
    """
    with (
        local_params(),
        poutine.block(),
        torch.no_grad(),
        torch.random.fork_rng(devices=rng_devices()),
    ):
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
