"""What free SVI does to VLAC's and the single-layer GM-VAE's clusters from the same start
(issue 13): the ELBO alone against the recipe's start agreement, scored after every epoch.

The registry's VLAC recipe (:func:`pyroclust.zoo.vlac_training`) starts every mixture layer
on labels (the top one on the images' colour-free view, :class:`~pyroclust.nn.ShapeView`),
aligns q(y_l | x) to them, then runs free SVI with
:class:`~pyroclust.infer.init.sites.SitesAgreement`. The GM-VAE with the same recipe and
networks (the same VLAC class with K = [K_digit]) starts on the same view. This script asks
whether the two models' own objectives keep or leave those starts, which is where the paper's
advantage of a ladder ("clustering in disentangled spaces") would have to come from:

1. the start is fitted once per model (``epochs=0``, as ``benchmarks/vlac.py`` does) and
   scored: every site against every attribute (ACC, one-to-one);
2. where each ladder layer's code carries each attribute: a 10-nearest-neighbour classifier
   (3-fold) on the guide's code means mu_l(h_l, y_l) of 6,000 rows, with the active units
   (variance of the mean over rows > 0.01, Burda et al.) and the mean posterior scale;
3. baselines on the raw rows, K = each attribute's classes: k-means and UMAP + GMM
   (``benchmarks/vlac.py``'s, skipped with ``--no-baselines``);
4. from copies of the start, free SVI for each ``weight:epochs`` of ``--objectives``
   (``SitesAgreement(weight)``: 0 is the plain ELBO; the recipe's temperature annealing over
   its first epoch), scored after every epoch.

Usage::

    python benchmarks/vlac_free_svi.py --models vlac --seed 1 --threads 1 &
    python benchmarks/vlac_free_svi.py --models gmvae --seed 1 --threads 1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from _common import DEFAULT_DATA_DIR, append_results, comma_list, markdown_table
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from vlac import baselines, fit_start

from pyroclust import zoo
from pyroclust.datasets import load_dataset
from pyroclust.estimator import Clusterer
from pyroclust.infer.init import RandomInit
from pyroclust.infer.init.sites import SitesAgreement, guide_sites, sites_clustering
from pyroclust.infer.schedules import TemperatureAnnealing
from pyroclust.metrics import site_label_scores

#: Rows of the per-layer nearest-neighbour probe.
PROBE_ROWS = 6000
COLUMNS = ["model", "objective", "epoch", "site", "digit", "digit_colour", "background_colour"]
COLUMNS += ["s"]
LAYER_COLUMNS = ["model", "layer", "dims", "active", "mean scale"]
LAYER_COLUMNS += ["kNN digit", "kNN digit_colour", "kNN background_colour"]


def objective_spec(text: str) -> tuple[float, int]:
    """``"weight:epochs"`` -> (weight >= 0, epochs >= 1)."""
    try:
        weight, epochs = text.split(":")
        weight, epochs = float(weight), int(epochs)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not weight:epochs (e.g. 10:3)") from None
    if weight < 0 or epochs < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the weight is >= 0 and the epochs >= 1")
    return weight, epochs


def site_rows(model, guide, x, label_sets, fields: dict) -> list[dict]:
    """One row per cluster site: its one-to-one ACC against every attribute."""
    labels = sites_clustering(model, guide, x)  # batched inside (predictive.cluster_log_proba)
    names = [s.name for s in guide_sites(model)]
    scores = site_label_scores({n: labels[:, j] for j, n in enumerate(names)}, label_sets)
    return [{**fields, "site": n, **{a: scores[n][a]["acc"] for a in label_sets}} for n in names]


def layer_rows(guide, x, label_sets, method: str, seed: int) -> list[dict]:
    """Where each ladder layer's code carries each attribute (see the module docstring)."""
    rows = np.random.default_rng(seed).choice(len(x), min(PROBE_ROWS, len(x)), replace=False)
    xb = x[torch.as_tensor(rows)]
    out = []
    with torch.no_grad():
        for code, (loc, scale) in guide.code_means(xb).items():
            r = {"model": method, "layer": code, "dims": loc.shape[1]}
            r["active"] = int((loc.var(0) > 0.01).sum())
            r["mean scale"] = float(scale.mean())
            for attribute, truth in label_sets.items():
                knn = KNeighborsClassifier(10)
                acc = cross_val_score(knn, loc.numpy(), truth[rows], cv=3).mean()
                r[f"kNN {attribute}"] = float(acc)
            out.append(r)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--models", type=comma_list, default=["vlac", "gmvae"])
    parser.add_argument("--layers", default="1,4,10,1", help="VLAC's K, bottom first")
    parser.add_argument(
        "--objectives",
        type=lambda text: comma_list(text, objective_spec),
        default=[(10.0, 3), (0.0, 6)],
        help="weight:epochs of free SVI with SitesAgreement(weight), comma-separated",
    )
    parser.add_argument("--n", type=int, default=70_000, help="rows (the first n)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--no-baselines", action="store_true", help="skip k-means, UMAP + GMM")
    args = parser.parse_args()
    unknown = sorted(set(args.models) - {"vlac", "gmvae"})
    if unknown:
        parser.error(f"--models takes vlac and gmvae, not {', '.join(unknown)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset("colored-mnist", data_dir=args.data_dir, download=False)
    x = torch.as_tensor(ds.x[: args.n])
    label_sets = {name: labels[: args.n] for name, labels in ds.label_sets.items()}
    layers = [int(k) for k in args.layers.split(",")]
    ks = {"vlac": layers, "gmvae": [max(layers)]}
    recipe = zoo.vlac_training(len(x), ds.image_shape)
    rows, probes = [], []
    base = [] if args.no_baselines else baselines(x.numpy(), label_sets, args.seed)
    for method in dict.fromkeys(r["method"] for r in base):
        acc = {r["attribute"]: r["acc"] for r in base if r["method"] == method}
        rows.append({"model": method, "objective": "raw rows, K = classes", **acc})
        print(rows[-1], flush=True)
    for which in args.models:
        method = f"VLAC K={ks[which]}" if which == "vlac" else f"GM-VAE K={ks[which]}"
        t0 = time.perf_counter()
        start = fit_start(x.numpy(), ks[which], ds.image_shape, recipe, args.seed)
        seconds = time.perf_counter() - t0
        fields = {"model": method, "objective": "start", "epoch": 0, "s": seconds}
        rows.extend(site_rows(start.model_, start.guide_, x, label_sets, fields))
        probes.extend(layer_rows(start.guide_, x, label_sets, method, args.seed))
        for weight, epochs in args.objectives:
            objective = f"SitesAgreement({weight:g})" + (" = ELBO" if weight == 0 else "")
            t0 = time.perf_counter()

            def score(trainer, epoch, objective=objective, t0=t0, method=method) -> None:
                fields = {"model": method, "objective": objective, "epoch": epoch}
                fields["s"] = time.perf_counter() - t0
                scored = site_rows(trainer.model, trainer.guide, x, label_sets, fields)
                rows.extend(scored)
                print(*scored, sep="\n", flush=True)

            free = dict(recipe, loss=SitesAgreement(weight), epochs=epochs)
            free["callbacks"] = [TemperatureAnnealing(1.0, 0.5, 1, strict=False), score]
            # the estimator fits copies of the start's model and guide; the start stays
            est = Clusterer(
                start.model_, start.guide_, random_state=args.seed, progress=False, **free
            )
            est.set_params(init=RandomInit()).fit(x.numpy())
    table = markdown_table(probes, LAYER_COLUMNS) + "\n\n" + markdown_table(rows, COLUMNS)
    print(table)
    if not args.no_record:
        specs = ", ".join(f"{w:g}:{e}" for w, e in args.objectives)
        notes = (
            f"coloured MNIST, the first {len(x)} rows, seed {args.seed}; the registry's VLAC "
            "recipe's start (zoo.vlac_training, fitted with epochs=0), then from copies of it "
            f"free SVI for each weight:epochs of {specs} "
            "(SitesAgreement(weight), the recipe's objective at weight "
            f"{zoo.VLAC_START_AGREEMENT:g}; temperature 1 -> 0.5 over the first epoch), every "
            "site scored after every epoch (ACC one-to-one; 's' from the start of that "
            "stage); the layer rows: a 10-NN classifier (3-fold) on the guide's code means of "
            f"{PROBE_ROWS} rows at the start; torch threads {torch.get_num_threads()}; load "
            f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end"
        ) + ("; no baselines in this run (--no-baselines)" if args.no_baselines else "")
        append_results("VLAC and the GM-VAE: free SVI from the same start", table, notes=notes)


if __name__ == "__main__":
    main()
