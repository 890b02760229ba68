"""What ``pyroclust fit`` reports for models with several cluster sites and data sets with
several known partitions: every site scored against every label set, and per-layer pictures.

A model such as VLAC (Willetts, Roberts & Holmes, 2019) clusters at several layers at once;
a data set such as coloured MNIST has several true partitions (digit, digit colour,
background colour). :func:`site_scores` scores each cluster site against each label set (for
``metrics.json``), :func:`format_site_table` prints the result, and
:func:`write_layer_plots` draws the paper's component-wise generation (Fig. 3) and per-layer
traversals (Fig. 2) for image data.

Nothing here names an architecture: the sites are read from the fitted estimator
(``cluster_sites_``) and the pictures need only a model with ``component_grid`` and
``layer_traversals`` (:class:`~pyroclust.models.VLAC` has them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pyroclust.metrics import SITE_SCORE_KEYS, site_label_scores

#: Column titles of :func:`format_site_table`, by score key.
SCORE_TITLES = {"acc": "ACC", "acc_majority": "ACC(majority)", "nmi": "NMI", "ari": "ARI"}


def site_predictions(est: Any, x: Any) -> dict[str, np.ndarray]:
    """The most probable cluster of each row of ``x`` at every cluster site of the fitted
    estimator ``est``, by site name (empty without sites)."""
    return {site.name: est.predict(x, site=site.name) for site in est.cluster_sites_}


def site_scores(est: Any, ds: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Every cluster site of ``est`` against every label set of the data set ``ds``.

    Parameters
    ----------
    est : Clusterer
        A fitted estimator (its ``cluster_sites_`` and ``predict(x, site=...)`` are used).
    ds : Dataset
        The data it was fitted to; its label sets are :attr:`Dataset.label_sets` (``labels``,
        and ``y`` as ``"y"`` when it is not one of them, so a data set with one partition
        is scored against ``y``).

    Returns
    -------
    dict
        ``scores[site][label_set]`` with ``"acc"`` (one-to-one), ``"acc_majority"`` (each
        cluster to its majority class, the VLAC paper's eq. 10), ``"nmi"`` and ``"ari"``
        (see :func:`pyroclust.metrics.site_label_scores`); empty when the model has no
        cluster site or the data set no labels. JSON-serialisable, for ``metrics.json``.
    """
    sets = ds.label_sets
    if not sets or not est.cluster_sites_:
        return {}
    return site_label_scores(site_predictions(est, ds.x), sets)


def format_site_table(scores: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """The output of :func:`site_scores` as a text table, one line per (site, label set).

    Examples
    --------
    >>> print(format_site_table({"y1": {"digit": {"acc": 0.9, "acc_majority": 0.95,
    ...                                            "nmi": 0.8, "ari": 0.7}}}))
      site  label set  ACC     ACC(majority)  NMI     ARI
      y1    digit      0.9000  0.9500         0.8000  0.7000
    """
    header = ["site", "label set", *(SCORE_TITLES[k] for k in SITE_SCORE_KEYS)]
    lines = [
        [site, name, *(f"{row[k]:.4f}" for k in SITE_SCORE_KEYS)]
        for site, by_set in scores.items()
        for name, row in by_set.items()
    ]
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
    return "\n".join(
        "  " + "  ".join(str(cell).ljust(width) for cell, width in zip(r, widths)).rstrip()
        for r in [header, *lines]
    )


def has_layer_pictures(est: Any, ds: Any) -> bool:
    """Whether :func:`write_layer_plots` has something to draw: image data and a fitted model
    that generates layer by layer (``component_grid`` and ``layer_traversals``)."""
    model = getattr(est, "model_", None)
    return (
        ds.image_shape is not None
        and hasattr(model, "component_grid")
        and hasattr(model, "layer_traversals")
    )


def write_layer_plots(
    est: Any,
    ds: Any,
    out: str | Path,
    *,
    n_rows: int = 4,
    n_draws: int = 8,
    item: int = 0,
    seed: int = 0,
) -> list[Path]:
    """Per-layer pictures of a fitted ladder model, for image data.

    Writes ``components_<site>.png`` for every cluster site (the VLAC paper's Fig. 3: one
    column per component, every other layer at one prior draw per row, ``n_rows`` rows) and
    ``layer_traversals.png`` (Fig. 2: row ``z<l>`` decodes the item ``item`` of the data with
    layer l's code drawn ``n_draws`` times from its prior, the other layers at the item's
    codes; the first cell is the item at its own codes). Grey and colour images alike.

    Parameters
    ----------
    est : Clusterer
        A fitted estimator whose model has ``component_grid`` and ``layer_traversals``.
    ds : Dataset
        The data (its ``image_shape`` and the row ``item``).
    out : path
        The run folder (created if missing).
    n_rows, n_draws, item, seed
        Rows of each component grid, draws per layer, the item traversed, and the seed of
        every prior draw (the same seed gives the same pictures).

    Returns
    -------
    list of Path
        The files written; empty when :func:`has_layer_pictures` is false.
    """
    from pyroclust import plots
    from pyroclust.predictive import evaluating

    if not has_layer_pictures(est, ds):
        return []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = est.model_
    generator = torch.Generator().manual_seed(int(seed))
    written = []
    with evaluating(model, est.guide_):
        for site in est.cluster_sites_:
            grid = model.component_grid(site.name, n_rows, generator=generator)
            path = out / f"components_{site.name}.png"
            plots.plot_component_grid(grid.cpu().numpy(), ds.image_shape, path, site=site.name)
            written.append(path)
        row = np.asarray(ds.x[item : item + 1])
        codes = est.codes(row)
        ref = next(model.parameters())
        item_codes = [
            torch.as_tensor(codes[name][0], dtype=ref.dtype, device=ref.device)
            for name in model.latent_sites
        ]
        traversals = model.layer_traversals(item_codes, n_draws, generator=generator)
        reference = model.generate([c[None] for c in item_codes])[0]
        path = out / "layer_traversals.png"
        plots.plot_layer_traversals(
            {name: t.cpu().numpy() for name, t in traversals.items()},
            ds.image_shape,
            path,
            reference=reference.cpu().numpy(),
        )
        written.append(path)
    return written


__all__ = [
    "format_site_table",
    "has_layer_pictures",
    "site_predictions",
    "site_scores",
    "write_layer_plots",
]
