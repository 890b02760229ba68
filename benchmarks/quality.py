"""Clustering quality of VaDE beside its baselines, in the same run, on the same data, per seed.

For each data set and seed, reports ACC (Hungarian), NMI, ARI and the clusters used of:

- ``k-means (raw)``: scikit-learn's k-means (10 restarts) on the raw data;
- ``UMAP + GMM (raw)``: a UMAP of the raw data in ``umap_dims(K)`` dimensions (20
  neighbours, ``min_dist`` 0) and a
  full-covariance Gaussian mixture (5 restarts) on it: what a user reaches for without a
  network;
- ``<recipe>: start``: the model's clustering right after its initialisation, before free
  SVI (``Clusterer.start_labels_``);
- ``<recipe>``: the fitted model, with ``agree`` the ARI between its start and its final
  clustering (``Clusterer.start_agreement_``, no labels needed), ``epochs`` those run by
  pretraining, alignment and free SVI, ``s/fit`` the wall seconds of the fit and ``cpu
  s/fit`` this process's CPU seconds (all threads): on a shared machine, a one-thread
  fit's CPU seconds are what it takes alone.

The model is built as ``pyroclust fit vade`` builds it (the likelihood from the value range,
the image shape of image data, as many components as classes), seeded by the seed.

Recipes (``--recipes``):

- ``tuned``: ``pyroclust.zoo.default_training("vade", ...)``, the command line's defaults;
- ``paper``: Jiang et al. (2017): 50 epochs of autoencoder pretraining, a diagonal GMM on
  the codes (``GMMInit``, 5 restarts), Adam at 2e-3 decayed by 0.9 every 10 epochs,
  batch 128, 50 epochs;
- ``n2d``: ``tuned`` with N2D's start (McConville et al.) on any data: UMAP + GMM on the
  codes of an autoencoder pretrained for ``zoo.VADE_CODES_PRETRAIN_STEPS`` steps (5 to 100
  epochs) instead of on the raw data; ``tuned`` itself does so from 10,000 image rows on.

Data sets (``--datasets``): any name of :func:`pyroclust.datasets.load_dataset` (``digits``,
``pendigits``, ``mnist``...), and ``zipf``: :func:`pyroclust.datasets.make_zipf_mixture` with
10,000 rows, 256 features, 10 clusters of Zipf(1.1) sizes (data seed 0 for every fit seed).

Targets (issue 14): the final model's ACC >= its start's and >= UMAP + GMM's, over >= 3 seeds;
digits >= 0.95, MNIST >= 0.975.

Usage::

    python benchmarks/quality.py --threads 1                       # digits, seeds 0,1,2
    python benchmarks/quality.py --datasets digits,pendigits,zipf --seeds 0,1,2 --threads 1
    python benchmarks/quality.py --datasets mnist --seeds 0 --recipes tuned
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from _common import DEFAULT_DATA_DIR, append_results, baselines, comma_list, markdown_table, scores

from pyroclust import zoo
from pyroclust.datasets import load_dataset, make_zipf_mixture
from pyroclust.estimator import Clusterer
from pyroclust.infer.elbo import seed_everything
from pyroclust.infer.init import GMMInit
from pyroclust.infer.schedules import StepDecay
from pyroclust.regularizers import StartAgreement


def load(name: str, data_dir: str):
    """The data set ``name`` (``zipf``: the synthetic Zipf mixture described above)."""
    if name == "zipf":
        return make_zipf_mixture(n_samples=10_000, n_clusters=10, n_features=256, random_state=0)
    return load_dataset(name, data_dir=data_dir, download=False)


#: Pretraining steps of the ``n2d`` recipe's autoencoder: the tuned recipe's for large
#: images (44 epochs of MNIST in batches of 256; N2D itself trains 1,000 epochs).
N2D_PRETRAIN_STEPS = zoo.VADE_CODES_PRETRAIN_STEPS


def recipe(
    name: str,
    ds,
    epochs: int | None,
    align_alpha: float | None = None,
    start_agreement: float | None = None,
) -> dict:
    """The Clusterer options of a recipe for the data set ``ds``; ``align_alpha`` and
    ``start_agreement`` replace the start's alignment weight and the weight of
    :class:`~pyroclust.regularizers.StartAgreement` in free SVI (the tuned recipe's
    ``zoo.VADE_ALIGN_ALPHA`` and ``zoo.VADE_START_AGREEMENT``)."""
    if name == "paper":
        fit = {
            "epochs": 50,
            "batch_size": 128,
            "lr": 2e-3,
            "lr_schedule": StepDecay(10, 0.9),
            "init": GMMInit(pretrain_epochs=50, n_init=5),
        }
    elif name == "tuned":
        fit = zoo.default_training("vade", ds.n_samples, ds.image_shape)
    elif name == "n2d":  # the tuned recipe, its start N2D's: UMAP on well-trained codes
        fit = zoo.default_training("vade", ds.n_samples, ds.image_shape)
        steps = zoo.epochs_for_steps(N2D_PRETRAIN_STEPS, ds.n_samples, 256, 5, 100)
        fit["init"] = dataclasses.replace(fit["init"], space="codes", pretrain_epochs=steps)
    else:
        raise ValueError(f"unknown recipe {name!r}")
    if epochs is not None:
        fit["epochs"] = epochs
    if align_alpha is not None:
        fit["init"] = dataclasses.replace(fit["init"], align_alpha=align_alpha)
    if start_agreement is not None:
        fit["loss"] = StartAgreement(start_agreement)
    return fit


def run_model(
    ds, recipe_name: str, seed: int, epochs: int | None, device: str, **overrides
) -> list[dict]:
    """The start and the final clustering of one fit, as ``pyroclust fit vade`` builds it."""
    unit = ds.support == "unit"
    build = {
        "n_components": ds.n_classes,
        "likelihood": "bernoulli" if unit else "gaussian",
        "image_shape": list(ds.image_shape) if ds.image_shape is not None and unit else None,
    }
    seed_everything(seed)
    model, guide = zoo.make("vade", ds.n_features, **build)
    fit = recipe(recipe_name, ds, epochs, **overrides)
    est = Clusterer(model, guide, random_state=seed, progress=False, device=device, **fit)
    t0, c0 = time.perf_counter(), time.process_time()
    est.fit(ds.x)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    svi = [row["seconds"] for row in est.trainer_.history]
    stages = [row["stage"] for row in est.stage_history_]
    return [
        {"method": f"{recipe_name}: start", **scores(ds.y, est.start_labels_)},
        {
            "method": recipe_name,
            **scores(ds.y, est.labels_),
            "agree": est.start_agreement_,
            "epochs": "/".join(str(stages.count(s)) for s in ("pretrain", "align", "svi")),
            "s/fit": seconds,
            "cpu s/fit": cpu,
            "s/epoch": statistics.median(svi) if svi else float("nan"),
        },
    ]


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    keys = list(dict.fromkeys((r["data"], r["method"]) for r in rows))
    for data, method in keys:
        group = [r for r in rows if r["data"] == data and r["method"] == method]
        accs = [r["acc"] for r in group]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        row = {
            "data": data,
            "method": method,
            "seeds": len(group),
            "ACC": f"{statistics.mean(accs):.3f} ± {sd:.3f}",
            "NMI": statistics.mean(r["nmi"] for r in group),
            "ARI": statistics.mean(r["ari"] for r in group),
        }
        for key in ("agree", "s/fit", "cpu s/fit"):
            values = [r[key] for r in group if key in r]
            row[key] = statistics.mean(values) if values else "-"
        out.append(row)
    return out


def show(found: list[dict], data: str, seed: int) -> list[dict]:
    """Label the rows ``found`` with their data set and seed, print them now, return them."""
    for row in found:
        row.update(data=data, seed=seed)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--recipes", default="tuned")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None, help="override the SVI epochs")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-baselines", action="store_true", help="the models only")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--notes", default="", help="added to the RESULTS.md notes")
    parser.add_argument("--align-alpha", type=float, default=None, help="the alignment weight")
    parser.add_argument(
        "--start-agreement", type=float, default=None, help="StartAgreement's weight in SVI"
    )
    args = parser.parse_args()
    overrides = {"align_alpha": args.align_alpha, "start_agreement": args.start_agreement}
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in comma_list(args.datasets):
        ds = load(name, args.data_dir)
        for seed in comma_list(args.seeds, int):
            found = [] if args.no_baselines else baselines(ds, seed)
            show(found, ds.name, seed)
            for rec in comma_list(args.recipes):
                # each fit's rows as soon as it ends: an MNIST fit takes half an hour
                found += show(
                    run_model(ds, rec, seed, args.epochs, args.device, **overrides), ds.name, seed
                )
            rows += found
    cols = ["data", "method", "seed", "acc", "nmi", "ari", "used", "agree", "epochs", "s/fit"]
    cols.append("cpu s/fit")
    per_seed = markdown_table(rows, cols)
    summary_cols = ["data", "method", "seeds", "ACC", "NMI", "ARI", "agree", "s/fit", "cpu s/fit"]
    table = markdown_table(summarise(rows), summary_cols) + "\n\nPer seed:\n\n" + per_seed
    if args.no_record:
        print(table)
    else:
        notes = f"torch threads {torch.get_num_threads()}"
        notes += "".join(f"; {k} {v}" for k, v in overrides.items() if v is not None)
        notes += f"; {args.notes}" if args.notes else ""
        append_results("VaDE clustering quality, with baselines", table, notes=notes)


if __name__ == "__main__":
    main()
