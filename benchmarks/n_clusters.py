"""The number of clusters, found rather than given (issue 14): VaDE with K = 3x the classes.

For each data set and weight prior, fits the zoo's VaDE with ``n_components`` = 3 times the
number of classes and the zoo's tuned recipe (:func:`pyroclust.zoo.vade_training`), and
counts the clusters in use: those holding at least 1% of the rows (``used``), and the
posterior expected number of weights above 1% (``E[w>1%]``,
:meth:`~pyroclust.Clusterer.expected_n_clusters`). Target: within +-20% of the true number of
classes for the stick-breaking and Dirichlet priors.

The start is the recipe's :class:`~pyroclust.infer.init.ManifoldInit`, whose mixture on
the t-SNE (UMAP from 10,000 rows) embedding follows the weight prior
(:meth:`pyroclust.priors.WeightPrior.start_mixture`): a variational Dirichlet-process
Gaussian mixture for the stick-breaking prior, a Bayesian symmetric-Dirichlet mixture for the
Dirichlet prior (Blei & Jordan, 2006), which leave the components the data do not need empty.
(Before it did, the start was a Gaussian mixture with exactly K components, and the fits kept
29-30 of 30 clusters: rows of 2026-12-01 above.)

Weight priors (``--priors``): ``stick-breaking:1`` (a DP with alpha = 1) and
``dirichlet:A`` with A = 1/K (``dirichlet``: the finite approximation Dir(alpha/K) of a DP
with alpha = 1; Ishwaran & Zarepour, 2002).

Baselines, measured in the same run at the true number of classes on the raw data: k-means
(10 restarts) and UMAP + GMM (McInnes et al.'s UMAP, 2-D, min_dist 0, 20 neighbours; a
full-covariance GMM, 5 restarts); beside each fit, its start's ACC and clusters in use.

Usage::

    python benchmarks/n_clusters.py --datasets digits --threads 1
    python benchmarks/n_clusters.py --datasets pendigits --priors dirichlet --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np
import torch
from _common import DEFAULT_DATA_DIR, append_results, comma_list, markdown_table, raw_baselines

from pyroclust import zoo
from pyroclust.datasets import load_dataset
from pyroclust.estimator import Clusterer
from pyroclust.metrics import cluster_accuracy, n_clusters_used, nmi

#: A cluster is in use when it holds at least this share of the rows.
MIN_SHARE = 0.01
#: The target: clusters in use within this fraction of the true number.
TOLERANCE = 0.2
COLUMNS = [
    "data",
    "prior",
    "K",
    "true",
    "start used",
    "used",
    "E[w>1%]",
    "within 20%",
    "start ACC",
    "ACC",
    "NMI",
    "seconds",
]
BASELINE_COLUMNS = ["data", "method", "K", "used", "ACC", "NMI", "seconds"]


def in_use(labels: np.ndarray) -> int:
    """Clusters holding at least ``MIN_SHARE`` of the rows."""
    return n_clusters_used(labels, min_size=math.ceil(MIN_SHARE * len(labels)))


def prior_spec(name: str, k: int) -> str:
    """``dirichlet`` alone means Dir(1/K), the finite form of a DP with alpha = 1."""
    return f"dirichlet:{1.0 / k:.6g}" if name == "dirichlet" else name


def baselines(ds, seed: int) -> list[dict]:
    """k-means and UMAP + GMM on the raw data, at the true number of classes."""
    k = ds.n_classes
    return [
        {
            "method": method,
            "seconds": seconds,
            "data": ds.name,
            "K": k,
            "used": in_use(labels),
            "ACC": cluster_accuracy(ds.y, labels),
            "NMI": nmi(ds.y, labels),
        }
        for method, labels, seconds in raw_baselines(ds.x, k, seed)
    ]


def run_one(ds, prior: str, seed: int, n_neighbors: int | None = None) -> dict:
    """One VaDE fit with K = 3 x classes and the zoo's recipe (its start's UMAP with
    ``n_neighbors`` neighbours when given: a study, not the recipe)."""
    true = ds.n_classes
    k = 3 * true
    spec = prior_spec(prior, k)
    recipe = zoo.default_training("vade", ds.n_samples, ds.image_shape)
    if n_neighbors is not None:
        recipe["init"] = dataclasses.replace(recipe["init"], n_neighbors=n_neighbors)
    est = Clusterer(
        "vade",
        n_components=k,
        model_options={"weights": spec},
        random_state=seed,
        progress=False,
        device="cpu",
        **recipe,
    )
    t0 = time.perf_counter()
    est.fit(ds.x)
    seconds = time.perf_counter() - t0
    labels, start_labels = est.labels_, est.start_labels_
    used = in_use(labels)
    return {
        "data": ds.name,
        "prior": spec,
        "K": k,
        "true": true,
        "start used": in_use(start_labels),
        "used": used,
        "E[w>1%]": est.expected_n_clusters(threshold=MIN_SHARE, random_state=seed),
        "within 20%": "yes" if abs(used - true) <= TOLERANCE * true else "no",
        "start ACC": cluster_accuracy(ds.y, start_labels),
        "ACC": cluster_accuracy(ds.y, labels),
        "NMI": nmi(ds.y, labels),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,pendigits")
    parser.add_argument("--priors", default="stick-breaking:1,dirichlet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument(
        "--n-neighbors",
        type=int,
        default=None,
        help="UMAP neighbours of the start's embedding (a study; the recipe's by default)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--notes", default="", help="a note for RESULTS.md (machine load...)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, base, interrupted = [], [], False
    try:
        for name in comma_list(args.datasets):
            ds = load_dataset(name, data_dir=args.data_dir, download=False)
            if not args.no_baselines:
                base += baselines(ds, args.seed)
                print(base[-2:], flush=True)
            for prior in comma_list(args.priors):
                rows.append(run_one(ds, prior, args.seed, args.n_neighbors))
                print(rows[-1], flush=True)
    except KeyboardInterrupt:  # Ctrl-C (SIGINT) records the rows finished so far
        interrupted = True
    table = markdown_table(rows, COLUMNS)
    if base:
        table += "\n\nBaselines on the raw data, at the true number of classes:\n\n"
        table += markdown_table(base, BASELINE_COLUMNS)
    notes = (
        f"torch threads {torch.get_num_threads()}, seed {args.seed}; used = clusters holding "
        f">= 1% of the rows; E[w>1%] = posterior expected weights above 1%; start = the "
        "recipe's ManifoldInit, whose mixture on the embedding follows the weight prior"
    ) + (f"; the start's UMAP with {args.n_neighbors} neighbours" if args.n_neighbors else "")
    notes += "; interrupted: the rows finished before the stop" if interrupted else ""
    notes += f"; {args.notes}" if args.notes else ""
    if args.no_record:
        print(table)
    else:
        append_results(
            "The number of clusters, found rather than given (K = 3x)", table, notes=notes
        )


if __name__ == "__main__":
    main()
