"""Clustering quality of VaDE: the paper's recipe and pyroclust's tuned recipe, over seeds.

For each data set and recipe, fits ``pyroclust.zoo.make("vade", ...)`` with the paper's
networks (encoder D-500-500-2000-10, decoder mirrored, Bernoulli likelihood, learned weights)
once per seed on all the data, and reports ACC (Hungarian), NMI and ARI against the labels,
the number of clusters used, seconds per fit and per SVI epoch.

Recipes:

- ``paper``: Jiang et al. (2017): autoencoder pretraining (50 epochs), a diagonal GMM on the
  codes (``GMMInit``, 5 restarts), Adam at 2e-3 decayed by 0.9 every 10 epochs, batch 128.
- ``tuned``: ``pyroclust.zoo.default_training`` (what ``pyroclust fit vade`` uses), with the
  guide trained on randomly shifted/rotated images. Digits: augmented pretraining,
  ``ManifoldInit`` (t-SNE + GMM start), 20 epochs of SVI with the assignment observed at
  the start's labels (``align_epochs``), 20 epochs of free SVI at 5e-4. MNIST: 10 epochs of
  plain pretraining, a UMAP + GMM start, 20 alignment epochs, 10 epochs of free SVI.

Targets (issue 2): digits ACC >= 0.90 over 5 seeds at <= 60 s per fit on the 2-core CPU;
MNIST (70,000 images) ACC >= 0.945 over at least 3 seeds.

Usage::

    python benchmarks/quality.py                                   # digits, 5 seeds, both recipes
    python benchmarks/quality.py --datasets mnist --seeds 0 --recipes tuned --epochs 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import DEFAULT_DATA_DIR, append_results, markdown_table

from pyroclust import zoo
from pyroclust.datasets import load_dataset
from pyroclust.estimator import Clusterer
from pyroclust.infer.elbo import seed_everything
from pyroclust.infer.init import GMMInit
from pyroclust.infer.schedules import StepDecay
from pyroclust.metrics import ari, cluster_accuracy, n_clusters_used, nmi


def recipe(name: str, ds, epochs: int | None) -> tuple[dict, dict]:
    """(builder options, Clusterer options) of a recipe for the data set ``ds``."""
    if name == "paper":
        build: dict = {}
        fit = {
            "epochs": 50,
            "batch_size": 128,
            "lr": 2e-3,
            "lr_schedule": StepDecay(10, 0.9),
            "init": GMMInit(pretrain_epochs=50, n_init=5),
        }
    elif name == "tuned":
        build = {"image_shape": ds.image_shape}
        fit = zoo.default_training("vade", ds.n_samples, ds.image_shape)
    else:
        raise ValueError(f"unknown recipe {name!r}")
    if epochs is not None:
        fit["epochs"] = epochs
    return build, fit


def run_one(ds, recipe_name: str, seed: int, epochs: int | None, device: str) -> dict:
    build, fit = recipe(recipe_name, ds, epochs)
    seed_everything(seed)
    model, guide = zoo.make("vade", ds.n_features, n_components=ds.n_classes, **build)
    est = Clusterer(model, guide, random_state=seed, progress=False, device=device, **fit)
    t0 = time.perf_counter()
    est.fit(ds.x)
    seconds = time.perf_counter() - t0
    labels = est.predict(ds.x)
    epoch_seconds = statistics.median(row["seconds"] for row in est.trainer_.history)
    return {
        "data": ds.name,
        "recipe": recipe_name,
        "seed": seed,
        "acc": cluster_accuracy(ds.y, labels),
        "nmi": nmi(ds.y, labels),
        "ari": ari(ds.y, labels),
        "used": n_clusters_used(labels),
        "s/fit": seconds,
        "s/epoch": epoch_seconds,
    }


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["data"], r["recipe"]) for r in rows}, key=str)
    for data, name in keys:
        group = [r for r in rows if r["data"] == data and r["recipe"] == name]
        accs = [r["acc"] for r in group]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        out.append(
            {
                "data": data,
                "recipe": name,
                "seeds": len(group),
                "ACC": f"{statistics.mean(accs):.3f} ± {sd:.3f}",
                "NMI": statistics.mean(r["nmi"] for r in group),
                "ARI": statistics.mean(r["ari"] for r in group),
                "s/fit": statistics.mean(r["s/fit"] for r in group),
                "s/epoch": statistics.mean(r["s/epoch"] for r in group),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--recipes", default="paper,tuned")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=int, default=None, help="override the SVI epochs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets.split(","):
        ds = load_dataset(name, data_dir=args.data_dir)
        for rec in args.recipes.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = run_one(ds, rec, seed, args.epochs, args.device)
                print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
                rows.append(row)
    per_seed = markdown_table(
        rows, ["data", "recipe", "seed", "acc", "nmi", "ari", "used", "s/fit"]
    )
    cols = ["data", "recipe", "seeds", "ACC", "NMI", "ARI", "s/fit", "s/epoch"]
    table = markdown_table(summarise(rows), cols) + "\n\nPer seed:\n\n" + per_seed
    if args.no_record:
        print(table)
    else:
        append_results(
            "VaDE clustering quality", table, notes=f"torch threads {torch.get_num_threads()}"
        )


if __name__ == "__main__":
    main()
