"""VLAC ("Disentangling to Cluster"): which ladder layer clusters which attribute of coloured
MNIST, against a single-layer Gaussian-mixture VAE with the same networks and K.

Fits, on a seeded subsample of coloured MNIST (digit, digit colour, background colour; built
from the MNIST files in ``--data-dir``, no download):

- VLAC with mixture layers at two levels, K = ``--layers`` bottom first ([1, 4, 10, 1] by
  default: a small mixture at layer 2 for a colour, K = 10 at layer 3 for the digit, as the
  paper's [1, 5, 50, 1] puts its digit mixture at layer 3), the registry's builder and recipe
  (``pyroclust.zoo``: conv g_1 / deconv f_0 from the image shape);
- the single-layer GM-VAE of the paper's Table 1: the same VLAC class with K = [K_digit]
  (one latent layer with a Gaussian-mixture prior), so g_1, f_0, widths and K are exactly the
  VLAC's;
- the models' starts (the recipe's LayerwiseStart, scored before free SVI) and the baselines
  on the raw data, k-means and UMAP (``umap_dims`` of the most classes) + full-covariance
  GMM, per attribute with K = its number of classes and at each mixture layer's K.

Prints the full layer x attribute table (ACC one-to-one, ACC rectangular, NMI, ARI), the
per-attribute comparison and seconds per epoch, and appends them to RESULTS.md. The
comparison picks each attribute's best VLAC site by the paper's ACC (each cluster to its
majority class, eq. 10), which at K above the classes (the paper's 50 for the digit) is the
figure to read, beside the baselines at that K.

Targets (issue VLAC): one layer's clusters match the digit at ACC >= 0.90, another layer's a
colour attribute at ACC >= 0.95; VLAC above the GM-VAE on the digit; a fit <= 20 min on the
2-core CPU.

Usage::

    python benchmarks/vlac.py --threads 1 --epochs 20         # 10,000 rows
    python benchmarks/vlac.py --n 70000 --threads 2            # the recipe's 10 epochs in all
    python benchmarks/vlac.py --data mnist --n 70000 --no-gmvae --seed 1   # plain MNIST
    python benchmarks/vlac.py --n 10000 --no-vlac --threads 1  # the GM-VAE beside a --no-gmvae run
    python benchmarks/vlac.py --n 70000 --no-shape-view --no-colour-view --free-bits 2 \
        --layers 50,5,5,1   # the paper's setting: no view, the digit layer at the paper's K
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import numpy as np
import torch
from _common import (
    DEFAULT_DATA_DIR,
    append_results,
    gmm_labels,
    kmeans_labels,
    markdown_table,
    umap_embedding,
)

from pyroclust import zoo
from pyroclust.datasets import load_dataset
from pyroclust.estimator import Clusterer
from pyroclust.infer.init import RandomInit
from pyroclust.metrics import site_label_scores


def subsample(ds, n: int, seed: int):
    """The data set's x and label sets on a seeded subsample of ``n`` rows (all when n >= rows)."""
    rows = np.arange(ds.n_samples)
    if n < ds.n_samples:
        rows = np.sort(np.random.default_rng(seed).choice(ds.n_samples, n, replace=False))
    return ds.x[rows], {name: labels[rows] for name, labels in ds.label_sets.items()}


def baselines(x: np.ndarray, label_sets: dict, seed: int, extra_k=()) -> list[dict]:
    """k-means and UMAP + GMM on the raw data, K = each attribute's number of classes, and
    at each K of ``extra_k`` (a mixture layer's K, such as the paper's 50 for the digit),
    scored against every attribute: at a K above the classes the paper's ACC (each cluster
    to its majority class) is the figure to compare."""
    rows = []
    t0, c0 = time.perf_counter(), time.process_time()
    most = max(int(np.unique(t).size) for t in label_sets.values())
    emb = umap_embedding(x, seed, most)  # one embedding for every attribute
    umap_s, umap_cpu = time.perf_counter() - t0, time.process_time() - c0
    classes = {name: int(np.unique(truth).size) for name, truth in label_sets.items()}
    for k in sorted({*classes.values(), *(int(k) for k in extra_k)}):
        of = [name for name in label_sets if classes[name] == k or k in extra_k]
        t0, c0 = time.perf_counter(), time.process_time()
        km = kmeans_labels(x, k, seed, n_init=10 if k <= 10 else 3)  # 50 clusters: 3 restarts
        km_s, km_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        gmm = gmm_labels(emb, k, seed)
        gmm_s, gmm_cpu = umap_s + time.perf_counter() - t0, umap_cpu + time.process_time() - c0
        for name in of:
            truth = label_sets[name]
            rows.append({**row("k-means (raw)", f"K={k}", name, truth, km, km_s), "cpu s": km_cpu})
            r = row("UMAP + GMM (raw)", f"K={k}", name, truth, gmm, gmm_s)
            rows.append({**r, "cpu s": gmm_cpu})
    return rows


def row(method: str, site: str, attribute: str, truth, labels, seconds=None) -> dict:
    s = site_label_scores({site: labels}, {attribute: truth})[site][attribute]
    out = {"method": method, "site": site, "attribute": attribute, **s}
    out["used"] = int(np.unique(labels).size)
    if seconds is not None:
        out["s/fit"] = seconds
    return out


def fit_start(x, layers, image_shape, recipe: dict, seed: int) -> Clusterer:
    """The registry's VLAC with K = ``layers`` (Bernoulli likelihood; conv g_1 / deconv f_0
    from ``image_shape``) fitted by ``recipe`` up to the end of its start: 0 free epochs."""
    torch.manual_seed(seed)
    model, guide = zoo.make(
        "vlac", x.shape[1], layers=layers, image_shape=image_shape, likelihood="bernoulli"
    )
    start = Clusterer(model, guide, random_state=seed, progress=False, **recipe)
    return start.set_params(epochs=0).fit(x)


def fit_ladder(
    x, label_sets, layers, image_shape, epochs, seed, method, options=None, viewed_warmup=None
) -> list[dict]:
    """Fit VLAC with K = ``layers`` by the registry's recipe (``epochs`` in all, warm-up and
    alignment included; the recipe's budget when None); one row per (site, attribute) for
    its start and for the fitted model. The start is fitted once: the estimator stops after
    it (0 free epochs), its rows are scored, and free SVI continues from its model and guide
    (the recipe's objective bound to that start, no second start)."""
    recipe = zoo.vlac_training(len(x), image_shape, epochs=epochs, **(options or {}))
    if viewed_warmup is not None:  # LayerwiseStart.viewed_warmup_epochs, over the recipe's
        recipe["init"] = dataclasses.replace(recipe["init"], viewed_warmup_epochs=viewed_warmup)
    rows = []
    clock = (time.perf_counter(), time.process_time())
    start = fit_start(x, layers, image_shape, recipe, seed)
    start_s = (time.perf_counter() - clock[0], time.process_time() - clock[1])
    est = Clusterer(
        start.model_, start.guide_, random_state=seed, progress=False, **recipe
    ).set_params(init=RandomInit())
    est.fit(x)
    fit_s = (time.perf_counter() - clock[0], time.process_time() - clock[1])
    for stage, fitted, (wall, cpu) in (("start", start, start_s), ("fit", est, fit_s)):
        name = method if stage == "fit" else f"{method}: start"
        for site in fitted.cluster_sites_:
            labels = fitted.predict(x, site=site.name)
            for attribute, truth in label_sets.items():
                r = row(name, f"{site.name} (K={site.n_components})", attribute, truth, labels)
                r["s/fit"], r["cpu s"] = wall, cpu
                if stage == "fit":
                    r["s/epoch"] = statistics.median(h["seconds"] for h in est.history_)
                rows.append(r)
    return rows


def summary(rows: list[dict], vlac: str, gmvae: str, classes: dict) -> list[dict]:
    """Per attribute: the best VLAC site by the paper's ACC (each cluster to its majority
    class, eq. 10: at K above the classes one-to-one ACC cannot credit the extra clusters),
    beside the GM-VAE and the baselines, these at the attribute's classes and at the VLAC
    site's K when the run has it. ``classes``: each attribute's number of classes."""
    out = []
    for attribute in dict.fromkeys(r["attribute"] for r in rows):
        of = [r for r in rows if r["attribute"] == attribute]
        none = {"site": "-", "acc": "-", "acc_majority": "-"}  # --no-vlac
        best = max(
            (r for r in of if r["method"] == vlac), key=lambda r: r["acc_majority"], default=none
        )
        entry = {"attribute": attribute, "best VLAC site": best["site"]}
        entry["VLAC acc"], entry["VLAC acc_majority"] = best["acc"], best["acc_majority"]
        gm = next((r for r in of if r["method"] == gmvae), none)
        entry["GM-VAE acc"], entry["GM-VAE acc_majority"] = gm["acc"], gm["acc_majority"]
        k_site = best["site"].partition("(")[2].rstrip(")")  # "K=50" of "y1 (K=50)"
        for method, key in (("k-means (raw)", "k-means"), ("UMAP + GMM (raw)", "UMAP+GMM")):
            base = [r for r in of if r["method"] == method]
            at_classes = next((r for r in base if r["site"] == f"K={classes[attribute]}"), None)
            entry[f"{key} acc"] = at_classes["acc"] if at_classes else "-"
            at_k = next((r for r in base if r["site"] == k_site), None)
            entry[f"{key} acc_majority at the site's K"] = at_k["acc_majority"] if at_k else "-"
        out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument(
        "--data", default="colored-mnist", help="an image data set with labels (mnist: plain)"
    )
    parser.add_argument("--no-gmvae", action="store_true", help="fit VLAC only")
    parser.add_argument(
        "--no-vlac", action="store_true", help="no VLAC (with --no-gmvae: the baselines only)"
    )
    parser.add_argument("--n", type=int, default=10_000, help="rows of the seeded subsample")
    parser.add_argument("--layers", default="1,4,10,1", help="VLAC's K, bottom first")
    parser.add_argument("--epochs", type=int, default=None, help="the recipe's by default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--no-shape-view",
        action="store_true",
        help="start the top mixture layer on its features, not on the images' colour-free view",
    )
    parser.add_argument(
        "--no-colour-view",
        action="store_true",
        help="start the lowest mixture layer on its features, not on the images' two colours",
    )
    parser.add_argument(
        "--viewed-warmup-epochs",
        type=int,
        default=None,
        help="LayerwiseStart.viewed_warmup_epochs (the recipe's zoo.VLAC_VIEWED_WARMUP_EPOCHS "
        "by default): the warm-up's epochs beyond it go to the alignment when every site "
        "starts on a view",
    )
    parser.add_argument(
        "--free-bits",
        type=float,
        default=None,
        help="nats per code: the warm-up on infer.freebits.FreeBits, and each layer without a "
        "view started on its code means (zoo.vlac_training's free_bits); off by default",
    )
    parser.add_argument(
        "--warmup-restarts",
        type=int,
        default=1,
        help="warm-ups from fresh initialisations, the lowest warm-up objective kept "
        "(zoo.vlac_training's warmup_restarts); 1: none",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip k-means and UMAP + GMM (when another run of the same rows and seed has them)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    layers = [int(k) for k in args.layers.split(",")]
    ds = load_dataset(args.data, data_dir=args.data_dir, download=False)
    x, label_sets = subsample(ds, args.n, args.seed)
    rows = []
    k_digit = max(layers)
    mixture_ks = [k for k in layers if k > 1]
    for r in [] if args.no_baselines else baselines(x, label_sets, args.seed, mixture_ks):
        rows.append(r)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
    vlac, gmvae = f"VLAC K={layers}", f"GM-VAE K=[{k_digit}]"
    models = [] if args.no_vlac else [(vlac, layers)]
    models += [] if args.no_gmvae else [(gmvae, [k_digit])]
    if not models and args.no_baselines:
        parser.error("--no-vlac, --no-gmvae and --no-baselines leave nothing to do")
    options = {
        "shape_view": not args.no_shape_view,
        "colour_view": not args.no_colour_view,
        "free_bits": args.free_bits,
        "warmup_restarts": args.warmup_restarts,
    }
    for method, ks in models:
        fits = fit_ladder(
            x,
            label_sets,
            ks,
            ds.image_shape,
            args.epochs,
            args.seed,
            method,
            options,
            args.viewed_warmup_epochs,
        )
        for r in fits:
            rows.append(r)
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
    cols = ["method", "site", "attribute", "acc", "acc_majority", "nmi", "ari", "used"]
    cols += ["s/fit", "cpu s", "s/epoch"]
    classes = {name: int(np.unique(t).size) for name, t in label_sets.items()}
    best = summary(rows, vlac, gmvae, classes)
    table = markdown_table(best, list(best[0])) + "\n\n" + markdown_table(rows, cols)
    notes = (
        f"{args.data}, seeded subsample of {len(x)} of {ds.n_samples} rows (seed "
        f"{args.seed}); {args.epochs or 'the recipe budget of'} epochs in all of the "
        f"registry's VLAC recipe for {' and '.join(m for m, _ in models)} "
        f"(zoo.vlac_training: {zoo.VLAC_WARMUP_SHARE:.0%} warm-up, the LayerwiseStart's "
        "alignment at weight "
        f"{zoo.VLAC_ALIGN_ALPHA:g} until every layer reproduces {zoo.VLAC_ALIGN_UNTIL:.0%} of "
        f"its start labels (at most {2 * zoo.VLAC_ALIGN_STEPS} steps), the rest free SVI "
        f"with SitesAgreement({zoo.VLAC_START_AGREEMENT:g}); "
        + (
            "the top mixture layer's start clusters the images' colour-free view (nn.ShapeView); "
            if not args.no_shape_view
            else "the top layer's start clusters its features (--no-shape-view); "
        )
        + (
            "the lowest mixture layer below the top clusters the images' background and "
            "figure colours (nn.ColourView), the others their features; "
            if not args.no_colour_view
            else "the lower layers' starts cluster their features (--no-colour-view); "
        )
        + (
            f"the warm-up on free bits ({args.free_bits:g} nats per code, infer.freebits), "
            "each layer without a view started on its code means; "
            if args.free_bits is not None
            else ""
        )
        + (
            f"{args.warmup_restarts} warm-up restarts, the lowest warm-up objective kept; "
            if args.warmup_restarts > 1
            else ""
        )
        + (
            f"viewed_warmup_epochs={args.viewed_warmup_epochs} (the warm-up's other epochs "
            "go to the alignment when every site starts on a view); "
            if args.viewed_warmup_epochs is not None
            else f"viewed_warmup_epochs={zoo.VLAC_VIEWED_WARMUP_EPOCHS} (the recipe's); "
        )
        + "temperature 1 -> 0.5 over the first half of free SVI); s/fit and cpu s of the "
        "fitted rows include the start; "
        f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores at the end (a shared machine when above the cores); "
        "acc = one-to-one Hungarian, acc_majority = "
        "each cluster to its majority class (the paper's eq. 10)"
    )
    if args.no_baselines:
        notes += "; no baselines in this run (--no-baselines)"
    print(table)
    if not args.no_record:
        title = "VLAC: layer x attribute on coloured MNIST, vs a GM-VAE"
        if not models:
            title = f"Baselines for VLAC's layers (raw rows): {args.data}"
        elif args.no_vlac:
            title = f"GM-VAE (VLAC's recipe, one layer): {args.data}"
        elif args.data != "colored-mnist" or args.no_gmvae:
            title = f"VLAC: layer x attribute on {args.data}" + (
                "" if args.no_gmvae else ", vs a GM-VAE"
            )
        append_results(title, table, notes=notes)


if __name__ == "__main__":
    main()
