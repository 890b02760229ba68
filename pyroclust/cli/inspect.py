"""``pyroclust inspect CHECKPOINT``: the posterior of a fitted model's mixture weights."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

import numpy as np

from pyroclust import structure
from pyroclust.cli.common import (
    IN_USE,
    UsageError,
    add_site_argument,
    load_estimator,
    positive_int,
    seed_type,
)
from pyroclust.sites import WEIGHTS

EPILOG = """\
examples:
  pyroclust inspect runs/vade-digits-20260101-120000/model.ckpt
  pyroclust inspect model.ckpt --out figures/ --num-samples 2000 --top all
  pyroclust inspect vlac.ckpt --site y3

Prints how many components hold more than 1% of the weight (the posterior mean and its 94%
HDI), then the summary (mean, sd, 94% HDI, as arviz.summary(kind="stats")) of the prior's
hyper-parameters and of the --top heaviest components' weights, heaviest first; writes the
summary of every site and component to weights_summary.csv, weights_forest.png (a forest
plot, weights sorted) and rank_size.png (weight against rank on log-log axes, with the Zipf
law: the model's fitted exponent for a Zipf prior, else a least-squares fit) to --out
(default: the checkpoint's folder); for a --site other than the first, the file names end
in _SITE.
"""

#: Components shown by default; ``--top all`` prints every row of the summary.
TOP = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pyroclust inspect``."""
    parser.description = "Summarise the posterior of the mixture weights of a fitted model."
    parser.epilog = EPILOG
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="model.ckpt written by fit")
    parser.add_argument("--out", metavar="DIR", help="folder of the plots (default: beside it)")
    parser.add_argument(
        "--num-samples",
        metavar="N",
        type=positive_int,
        default=1000,
        help="posterior draws (default: 1000)",
    )
    parser.add_argument(
        "--seed", metavar="S", type=seed_type, default=0, help="0 to 2**32-1 (default: 0)"
    )
    add_site_argument(parser, "whose weights to read")
    parser.add_argument(
        "--top",
        metavar="N|all",
        type=top_count,
        default=TOP,
        help=f"components printed, heaviest first (default: {TOP}); 'all' prints the whole "
        "summary in component order",
    )


def top_count(text: str) -> int | None:
    """``--top``: a positive number of components, or ``all`` (None)."""
    if text.strip().lower() == "all":
        return None
    return positive_int(text)


def shown_summary(table: Any, top: int | None) -> tuple[Any, list[str]]:
    """The rows of ``table`` (:func:`pyroclust.inspect.summary`) to print and the lines to
    follow them: the prior's one-value sites, then the ``top`` heaviest weights by posterior
    mean; a line on the lighter components' total weight and one naming the sites of several
    values (sticks, a Dirichlet's concentrations) kept for the CSV. ``top=None``: all of it."""
    import pandas as pd

    if top is None:
        return table, []
    names = pd.Series(table.index.str.replace(r"\[.*\]$", "", regex=True), index=table.index)
    sizes = names.map(names.value_counts())
    weights = table[names == WEIGHTS].sort_values("mean", ascending=False, kind="stable")
    shown = pd.concat([table[(names != WEIGHTS) & (sizes == 1)], weights.head(top)])
    notes = []
    if len(weights) > top:
        rest = float(weights["mean"].iloc[top:].sum())
        notes.append(
            f"... {len(weights) - top} lighter components hold {rest:.4g} of the weight "
            "(posterior means; --top all shows them)"
        )
    vectors = [
        f"{name} ({count} values)"
        for name, count in names[sizes > 1].value_counts(sort=False).items()
        if name != WEIGHTS
    ]
    if vectors:
        notes.append(f"also summarised in weights_summary.csv: {', '.join(vectors)}")
    return shown, notes


def run(args: argparse.Namespace) -> int:
    """Print the weights posterior of a saved model; save forest and rank/size plots."""
    try:  # imported here, so that a missing optional dependency is a clear usage error
        pinspect = importlib.import_module("pyroclust.inspect")
    except ImportError as err:
        raise UsageError(
            f"'inspect' needs the module pyroclust.inspect, which could not be imported ({err})"
        ) from err
    out = Path(args.out) if args.out else Path(args.checkpoint).parent
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"--out {str(out)!r}: {str(folder)!r} is a file, not a folder")
    est = load_estimator(args.checkpoint)
    priors = structure.weight_priors(est.model_)
    if not est.cluster_sites_ or not priors:
        raise UsageError(f"{args.checkpoint} holds a model without mixture weights")
    site = structure.cluster_site(est.model_, args.site)  # a ValueError names the sites
    if site.name not in priors:
        raise UsageError(f"cluster site {site.name!r} of {args.checkpoint} has no weight prior")
    out.mkdir(parents=True, exist_ok=True)
    idata = est.weights_posterior(args.num_samples, random_state=args.seed, site=site.name)
    table = pinspect.summary(idata)
    counts = pinspect.n_clusters_draws(idata, threshold=IN_USE)
    low, high = pinspect.hdi(counts)
    print(
        f"cluster site {site.name!r}: {type(priors[site.name]).__name__} prior, "
        f"K = {site.n_components}, {args.num_samples} posterior draws"
    )
    print(
        f"components above {IN_USE:.0%} of the weight: {counts.mean():.2f} expected "
        f"(94% HDI {low:g} to {high:g})"
    )
    shown, notes = shown_summary(table, args.top)
    print(shown.to_string())
    for note in notes:
        print(note)
    suffix = "" if site.name == est.cluster_sites_[0].name else f"_{site.name}"
    csv_path = out / f"weights_summary{suffix}.csv"
    table.to_csv(csv_path, index_label="variable")
    forest, rank_size = out / f"weights_forest{suffix}.png", out / f"rank_size{suffix}.png"
    pinspect.plot_weights_forest(idata, forest)
    draws = est.weights_
    post = pinspect.posterior_dataset(idata)
    try:  # the posterior draws give the rank/size plot a 5-95% band
        values = np.asarray(post["weights"])
        draws = values.reshape(-1, values.shape[-1])
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    # a Zipf prior: the law of the fitted exponent (posterior mean), else a least-squares fit
    exponent = float(post["zipf_exponent"].mean()) if "zipf_exponent" in post else None
    pinspect.plot_rank_size(draws, exponent=exponent, path=rank_size)
    print(f"summary written to {csv_path}; plots to {forest} and {rank_size}")
    return 0
