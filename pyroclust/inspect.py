r"""Reading the posterior over mixture weights and cluster sizes, as ArviZ data.

The functions work with any model of the zoo whose weight prior is a
:class:`~pyroclust.priors.WeightPrior` in ``model.weights`` and whose guide keeps the prior's
variational family in ``guide.weights`` (see :meth:`~pyroclust.priors.WeightPrior.make_guide`):

- :func:`weights_posterior`: draws of pi (site ``"weights"``) and of the prior's other sites
  (``"sticks"``, ``"zipf_exponent"``...) from q, as an ArviZ container with a ``posterior``
  group (dims ``chain``, ``draw``, ``component``);
- :func:`expected_n_clusters`: the posterior expected number of clusters in use, and
  :func:`n_clusters_draws`, that number in each draw;
- :func:`cluster_sizes_posterior`: the posterior over the cluster sizes of a data set;
- :func:`summary`, :func:`plot_weights_forest`, :func:`plot_rank_size`;
- :func:`plot_arviz`: ArviZ's own forest and posterior plots, called the same way on both lines.

ArviZ < 1 gives an ``InferenceData``; ArviZ >= 1 (Python >= 3.12) an xarray ``DataTree``. Only
:func:`to_arviz` and :func:`plot_arviz` depend on which; :func:`summary` and the plots read both.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

with warnings.catch_warnings():  # ArviZ 0.2x's daily notice of its 1.x refactor, on import
    warnings.filterwarnings(
        "ignore", r"\s*ArviZ is undergoing a major refactor", category=FutureWarning
    )
    import arviz as az
import numpy as np
import torch
from matplotlib.figure import Figure
from pyro import poutine
from pyro.infer import Predictive

from pyroclust import predictive, structure
from pyroclust.infer.elbo import local_params
from pyroclust.regularizers import apply_mask, prune_mask
from pyroclust.sites import WEIGHTS

#: Names of the extra dimension of known sites (others get ``{site}_dim``).
SITE_DIMS = {
    WEIGHTS: "component",
    "sticks": "stick",
    "cluster_size": "component",
    "concentration": "component",  # Dirichlet alpha (stick-breaking: a scalar)
}

ARVIZ_MAJOR = int(az.__version__.split(".")[0])


def to_arviz(
    posterior: Mapping[str, np.ndarray],
    *,
    coords: Mapping[str, Any] | None = None,
    dims: Mapping[str, list[str]] | None = None,
) -> Any:
    """An ArviZ container with a ``posterior`` group, on either ArviZ line.

    Parameters
    ----------
    posterior : mapping name -> array of shape (n_chains, n_draws, ...)
    coords, dims : as in ``arviz.from_dict``

    Returns
    -------
    ``arviz.InferenceData`` (ArviZ < 1) or ``xarray.DataTree`` (ArviZ >= 1).
    """
    posterior = {k: np.asarray(v) for k, v in posterior.items()}
    if ARVIZ_MAJOR >= 1:  # pragma: no cover - ArviZ 1.x needs Python >= 3.12
        return az.from_dict({"posterior": posterior}, coords=coords, dims=dims)
    return az.from_dict(posterior=posterior, coords=coords, dims=dims)


def posterior_dataset(data: Any) -> Any:
    """The ``posterior`` group of an ArviZ container as an ``xarray.Dataset`` (both lines)."""
    post = data["posterior"]
    return post.to_dataset() if hasattr(post, "to_dataset") else post


def _dims_of(name: str, value: np.ndarray) -> tuple[list[str], dict[str, Any]]:
    extra = value.ndim - 2
    if extra == 0:
        return [], {}
    base = SITE_DIMS.get(name, f"{name}_dim")
    names = [base] + [f"{name}_dim_{i}" for i in range(1, extra)]
    return names, {n: np.arange(s) for n, s in zip(names, value.shape[2:])}


def _as_input(model: Any, x: Any) -> torch.Tensor:
    """``x`` as a float32 tensor on the model's device."""
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).to(device, torch.float32)


def _prior_and_guide(model: Any, guide: Any, site: str | None) -> tuple[Any, Any]:
    """The weight prior of cluster site ``site`` (the first) and its variational family."""
    priors = structure.weight_priors(model)
    if not priors:
        raise ValueError(f"{type(model).__name__} has no weight prior (model.weights)")
    name = structure.cluster_site(model, site).name if structure.cluster_sites(model) else None
    if name is None or name not in priors:
        if site is not None:
            raise ValueError(f"cluster site {site!r} of {type(model).__name__} has no prior")
        name = next(iter(priors))
    families = structure.weight_guides(guide) if guide is not None else {}
    return priors[name], families.get(name)


def _draw_sites(
    model: Any, guide: Any, num_samples: int, random_state: int | None, site: str | None = None
) -> dict[str, torch.Tensor]:
    prior, q = _prior_and_guide(model, guide, site)
    with local_params(), torch.no_grad(), torch.random.fork_rng(devices=[]):
        if random_state is not None:
            torch.manual_seed(int(random_state))
        trace = poutine.trace(prior).get_trace()
        sites = [
            name
            for name, site in trace.nodes.items()
            if site["type"] == "sample" and not name.startswith("_")
        ]
        latent = [n for n in sites if not trace.nodes[n]["is_observed"]]
        if latent and q is None:
            raise ValueError(
                f"the prior {type(prior).__name__} has latent sites {latent} but the guide has "
                "no weights guide; use guide.weights = model.weights.make_guide() and train it"
            )
        pred = Predictive(prior, guide=q, num_samples=num_samples, return_sites=sites)
        # the container uses the base names ("weights", "sticks"...) whatever the cluster site
        prefix = f"{prior.cluster}_" if prior.site(WEIGHTS) != WEIGHTS else ""
        draws = {name.removeprefix(prefix): value for name, value in pred().items()}
    mask = prune_mask(model) if getattr(model, "weights", None) is prior else None
    if WEIGHTS in draws and mask is not None:
        draws[WEIGHTS] = apply_mask(draws[WEIGHTS], mask)
    # Predictive stacks num_samples runs: a point-estimate prior gives num_samples copies
    return dict(draws)


def weights_posterior(
    model: Any,
    guide: Any = None,
    num_samples: int = 1000,
    random_state: int | None = None,
    *,
    site: str | None = None,
) -> Any:
    """Draws from the posterior over the mixture weights, as an ArviZ container.

    The prior module ``model.weights`` is run with its variational family ``guide.weights``
    by :class:`pyro.infer.Predictive`, so the draws are from q: for a Dirichlet prior,
    :math:`\\pi \\sim \\mathrm{Dir}(\\beta)`; for stick-breaking, the sticks from their Beta
    posteriors and pi from them; for Zipf with a prior on s, s from its LogNormal posterior
    and pi from s. A prior without latent sites (learned weights, fixed or learned Zipf
    exponent) has a point-mass "posterior": every draw is the same value. Pruned components
    (:func:`pyroclust.regularizers.prune`) have weight 0.

    Parameters
    ----------
    model : a mixture model of the zoo (with ``weights``)
    guide : its guide (with ``weights``, for priors with latent sites), optional
    num_samples : int
    random_state : int, optional
        Seeds the draws (the global torch random state is left untouched).
    site : str, optional
        The cluster site whose weights to draw, for a model with several (each has its own
        prior); the first by default. The container names the prior's sites by their base
        names (``"weights"``, ``"sticks"``...) whatever the cluster site.

    Returns
    -------
    ArviZ container (``InferenceData`` or ``DataTree``) whose ``posterior`` group has one chain
    of ``num_samples`` draws of ``"weights"`` (dims chain, draw, component) and of every
    other site of the prior (``"sticks"`` with dim ``stick``, ``"zipf_exponent"``...).

    Examples
    --------
    >>> from pyroclust import zoo
    >>> model, guide = zoo.make(
    ...     "vade", n_features=8, n_components=3, latent_dim=2, hidden=(4,), weights="dirichlet"
    ... )
    >>> guide.weights = model.weights.make_guide()  # the estimator does this in fit
    >>> post = posterior_dataset(weights_posterior(model, guide, num_samples=10))
    >>> post["weights"].dims, post["weights"].shape
    (('chain', 'draw', 'component'), (1, 10, 3))
    """
    num_samples = int(num_samples)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    draws = _draw_sites(model, guide, num_samples, random_state, site)
    posterior, coords, dims = {}, {}, {}
    for name, value in draws.items():
        arr = value.detach().cpu().double().numpy()[None]  # one chain
        posterior[name] = arr
        names, c = _dims_of(name, arr)
        if names:
            dims[name] = names
            coords.update(c)
    return to_arviz(posterior, coords=coords, dims=dims)


def expected_n_clusters(
    model: Any,
    guide: Any = None,
    x: torch.Tensor | None = None,
    *,
    threshold: float | None = None,
    num_samples: int = 1000,
    random_state: int | None = None,
) -> float:
    r"""The posterior expected number of clusters in use.

    Two definitions, by whether data are given:

    - without ``x``: the expected number of components whose weight exceeds ``threshold``
      (default :math:`1/(10K)`), :math:`E_q[\#\{k : \pi_k > t\}]`, estimated from
      ``num_samples`` draws of :func:`weights_posterior`;
    - with ``x`` of shape (n_samples, n_features): the expected number of clusters that
      receive at least one point when each row n is assigned independently from
      :math:`r_{nk} = p(y_n = k \mid x_n)` (:func:`pyroclust.predictive.assignment_log_proba`),
      computed exactly: :math:`\sum_k \big(1 - \prod_n (1 - r_{nk})\big)`, with the product
      in log space. ``threshold``, ``num_samples`` and ``random_state`` are then unused.

    Returns
    -------
    float
    """
    if x is not None:
        log_r = predictive.assignment_log_proba(model, guide, _as_input(model, x)).double()
        # log(1 - r) = log(-expm1(log r)), stable for r near 0 and near 1
        log_not = torch.log(-torch.expm1(log_r.clamp_max(-1e-300)))
        none = log_not.sum(0).exp()
        return float((1.0 - none).sum())
    data = weights_posterior(model, guide, num_samples, random_state)
    return float(n_clusters_draws(data, threshold).mean())


def n_clusters_draws(data: Any, threshold: float | None = None) -> np.ndarray:
    """The number of components whose weight exceeds ``threshold`` (default :math:`1/(10K)`)
    in each draw of a :func:`weights_posterior` container: an int array of shape
    (chains * draws,), whose mean is :func:`expected_n_clusters` without data and whose
    :func:`hdi` is the posterior's interval for the count.

    Examples
    --------
    >>> data = to_arviz({"weights": np.array([[[0.6, 0.39, 0.01], [0.5, 0.25, 0.25]]])})
    >>> n_clusters_draws(data, threshold=0.05).tolist()
    [2, 3]
    """
    w = np.asarray(posterior_dataset(data)[WEIGHTS].values, dtype=float)
    t = 1.0 / (10.0 * w.shape[-1]) if threshold is None else float(threshold)
    return (w > t).sum(-1).reshape(-1)


def cluster_sizes_posterior(
    model: Any,
    guide: Any,
    x: torch.Tensor,
    num_samples: int = 1000,
    random_state: int | None = None,
) -> Any:
    r"""The posterior over the cluster sizes of a data set, as an ArviZ container.

    Each draw assigns every row of ``x`` independently from its exact posterior
    :math:`r_{nk} = p(y_n = k \mid x_n)` (:func:`pyroclust.predictive.assignment_log_proba`,
    at the guide's mean code) and counts the rows per cluster; the mean size of cluster k is
    :math:`\sum_n r_{nk}`.

    Parameters
    ----------
    model, guide : a fitted model/guide pair
    x : tensor of shape (n_samples, n_features)
    num_samples : int
    random_state : int, optional

    Returns
    -------
    ArviZ container whose ``posterior`` group has ``"cluster_size"`` of shape
    (1, num_samples, n_components) (dims chain, draw, component), integer counts summing to
    n_samples.
    """
    num_samples = int(num_samples)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    log_r = predictive.assignment_log_proba(model, guide, _as_input(model, x)).double().cpu()
    n, k = log_r.shape
    rng = np.random.default_rng(random_state)
    cum = np.cumsum(np.exp(log_r.numpy()), axis=1)
    cum /= cum[:, -1:]
    sizes = np.empty((num_samples, k), dtype=np.int64)
    for s in range(num_samples):
        u = rng.random((n, 1))
        labels = np.minimum((cum < u).sum(1), k - 1)
        sizes[s] = np.bincount(labels, minlength=k)
    return to_arviz(
        {"cluster_size": sizes[None]},
        coords={"component": np.arange(k)},
        dims={"cluster_size": ["component"]},
    )


def hdi(samples: np.ndarray, prob: float = 0.94) -> tuple[float, float]:
    """Highest-density interval of 1-D draws: the narrowest window holding ``prob`` of them."""
    x = np.sort(np.asarray(samples, dtype=float).ravel())
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    m = min(n, max(1, int(np.ceil(prob * n))))
    widths = x[m - 1 :] - x[: n - m + 1]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + m - 1])


def summary(data: Any, var_names: list[str] | None = None, hdi_prob: float = 0.94) -> Any:
    """Posterior summary table: one row per scalar (``weights[0]``, ``zipf_exponent``...).

    Columns ``mean``, ``sd``, the highest-density interval of probability ``hdi_prob``
    (``hdi_3%`` and ``hdi_97%`` for 0.94, named as ``arviz.summary(kind="stats")`` names
    them) and ``n_draws``. Plain NumPy, so the same on both ArviZ lines; ``arviz.summary``
    gives more (ESS, R-hat) for MCMC output.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    if not 0 < hdi_prob <= 1:
        raise ValueError(f"hdi_prob must be in (0, 1], got {hdi_prob}")
    post = posterior_dataset(data)
    names = var_names if var_names is not None else list(post.data_vars)
    tail = (1.0 - hdi_prob) / 2.0
    low, high = f"hdi_{100 * tail:g}%", f"hdi_{100 * (1 - tail):g}%"
    rows, index = [], []
    for name in names:
        arr = np.asarray(post[name].values, dtype=float)
        flat = arr.reshape(arr.shape[0] * arr.shape[1], -1)
        for j in range(flat.shape[1]):
            col = flat[:, j]
            idx = np.unravel_index(j, arr.shape[2:]) if arr.ndim > 2 else ()
            index.append(f"{name}[{', '.join(map(str, idx))}]" if idx else name)
            lo, hi = hdi(col, hdi_prob)
            rows.append(
                {
                    "mean": col.mean(),
                    "sd": col.std(ddof=1) if len(col) > 1 else 0.0,
                    low: lo,
                    high: hi,
                    "n_draws": len(col),
                }
            )
    return pd.DataFrame(rows, index=index)


def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig


def plot_weights_forest(
    data: Any,
    path: str | os.PathLike | None = None,
    *,
    var_name: str = WEIGHTS,
    hdi_prob: float = 0.94,
    top: int | None = None,
) -> Figure:
    """Forest plot of the components' weights, sorted by posterior mean (largest on top).

    Each row is a component: a dot at the posterior mean and a line over the highest-density
    interval of probability ``hdi_prob``. Drawn with plain matplotlib on a new ``Figure``
    (the global backend is not touched); written to ``path`` when given.

    Parameters
    ----------
    data : ArviZ container from :func:`weights_posterior` or :func:`cluster_sizes_posterior`
    var_name : the variable to plot (``"weights"``, ``"cluster_size"``)
    top : int, optional
        Show only the ``top`` largest components.
    """
    arr = np.asarray(posterior_dataset(data)[var_name].values, dtype=float)
    flat = arr.reshape(-1, arr.shape[-1])
    mean = flat.mean(0)
    order = np.argsort(-mean, kind="stable")[: top or None]
    bounds = np.array([hdi(flat[:, k], hdi_prob) for k in order]).reshape(-1, 2)
    lo, hi = bounds[:, 0], bounds[:, 1]
    fig = Figure(figsize=(5.0, 0.8 + 0.22 * len(order)))
    ax = fig.add_subplot()
    y = np.arange(len(order))[::-1]
    ax.hlines(y, lo, hi, color="C0", lw=2)
    ax.plot(mean[order], y, "o", color="C1", ms=4)
    ax.set_yticks(y, [f"component {k}" for k in order])
    ax.set_xlabel(f"{var_name} (mean and {hdi_prob:.0%} HDI)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


#: ArviZ's plot of each kind on the 0.x line and on the 1.x line (arviz-plots).
ARVIZ_PLOTS = {
    "forest": ("plot_forest", "plot_forest"),
    "posterior": ("plot_posterior", "plot_dist"),
}


def plot_arviz(
    data: Any,
    kind: str = "forest",
    *,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """ArviZ's own ``forest`` or ``posterior`` plot of ``data``, on either ArviZ line.

    ArviZ 1.x (arviz-plots) renamed ``plot_posterior`` to ``plot_dist`` and takes the figure
    size as ``figure_kwargs={"figsize": ...}``; ArviZ 0.x takes ``figsize=``. This calls the
    right function the right way and returns the matplotlib axes on both lines.

    Parameters
    ----------
    data : ArviZ container (from :func:`weights_posterior`, :func:`cluster_sizes_posterior`)
    kind : ``"forest"`` (``arviz.plot_forest``) or ``"posterior"`` (``arviz.plot_posterior``,
        ``arviz.plot_dist`` on ArviZ 1.x): one panel per scalar
    figsize : (width, height) in inches, optional
    **kwargs : passed to ArviZ; ``var_names`` (and ``combined`` for the forest) mean the
        same on both lines, other options differ

    Returns
    -------
    numpy.ndarray of matplotlib ``Axes`` (object dtype), flat
    """
    if kind not in ARVIZ_PLOTS:
        raise ValueError(f"kind must be one of {sorted(ARVIZ_PLOTS)}, got {kind!r}")
    plot = getattr(az, ARVIZ_PLOTS[kind][ARVIZ_MAJOR >= 1])
    if ARVIZ_MAJOR >= 1:  # pragma: no cover - ArviZ 1.x needs Python >= 3.12
        if figsize is not None:
            kwargs["figure_kwargs"] = {**kwargs.get("figure_kwargs", {}), "figsize": figsize}
        axes = list(plot(data, **kwargs).viz["figure"].item().axes)
    else:
        axes = list(np.ravel(plot(data, figsize=figsize, **kwargs)))
    out = np.empty(len(axes), dtype=object)
    out[:] = axes
    return out


def fit_zipf_exponent(weights: np.ndarray) -> float:
    """Least-squares slope s of log(sorted weight) against log(rank), over positive weights."""
    w = np.sort(np.asarray(weights, dtype=float))[::-1]
    w = w[w > 0]
    if len(w) < 2:
        return 0.0
    log_k = np.log(np.arange(1, len(w) + 1))
    slope = np.polyfit(log_k, np.log(w), 1)[0]
    return float(-slope)


def plot_rank_size(
    weights: Any,
    exponent: float | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    r"""Rank/size plot on log-log axes against a Zipf law :math:`\pi_k \propto k^{-s}`.

    Parameters
    ----------
    weights : array of shape (n_components,) or (n_draws, n_components)
        Weights (or cluster sizes); each draw is sorted in decreasing order. With draws, the
        median per rank and a 5-95% band are shown.
    exponent : float, optional
        The Zipf exponent s of the reference law; fitted by least squares on the log-log
        points (:func:`fit_zipf_exponent`) when omitted.
    path : path, optional
        Write the figure there.

    Returns
    -------
    matplotlib.figure.Figure (a new one; the global backend is not touched)
    """
    w = np.asarray(weights, dtype=float)
    w = np.atleast_2d(w)
    w = w / w.sum(-1, keepdims=True)
    ranked = -np.sort(-w, axis=-1)
    k = np.arange(1, w.shape[-1] + 1)
    mid = np.median(ranked, 0)
    s = fit_zipf_exponent(mid) if exponent is None else float(exponent)
    law = k**-s / np.sum(k**-s)
    fig = Figure(figsize=(5.0, 4.0))
    ax = fig.add_subplot()
    pos = mid > 0
    if len(ranked) > 1:
        lo, hi = np.quantile(ranked, 0.05, 0), np.quantile(ranked, 0.95, 0)
        ok = pos & (lo > 0)
        ax.fill_between(k[ok], lo[ok], hi[ok], color="C0", alpha=0.25, label="5-95%")
    ax.plot(k[pos], mid[pos], "o", color="C0", ms=4, label="weights, by rank")
    how = "fitted" if exponent is None else "given"
    ax.plot(k, law, "-", color="C1", label=f"Zipf law, s = {s:.3g} ({how})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rank k")
    ax.set_ylabel("weight")
    ax.legend()
    return _save(fig, path)


__all__ = [
    "cluster_sizes_posterior",
    "expected_n_clusters",
    "fit_zipf_exponent",
    "hdi",
    "plot_arviz",
    "plot_rank_size",
    "plot_weights_forest",
    "posterior_dataset",
    "summary",
    "to_arviz",
    "weights_posterior",
]
