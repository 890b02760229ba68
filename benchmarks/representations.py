"""Benchmark: the representation study of Agarap & Azcarraga (2020) on MNIST and digits.

A VAE (latent size 10, encoder 784-500-500-2000-10, decoder mirrored, Bernoulli likelihood) is
trained for 60 epochs with batches of 512 on the 60,000 MNIST training images; k-means
(k-means++, k = 10, 10 initialisations, 500 iterations) is fitted on the training set in each
representation and applied to the 10,000 test images with Gaussian noise (std 0.1, clipped to
[0, 1]); the test representations (noisy pixels, reconstructions, latent codes) are scored by
DBI, silhouette (exact on 10,000 points) and CHS, plus ACC, NMI and ARI. Digits (1,797 8x8
images) uses a seeded stratified 80/20 split.

Targets (the paper's Table 1, MNIST latent codes): DBI <= 1.557, SS >= 0.186, CHS >= 1,497, and
the latent codes better than the original pixels on all three. The script prints a markdown
table per data set, the SVI fit time, and whether the targets are met, and appends them to
benchmarks/RESULTS.md with machine, date, commit and command.

Usage::

    python benchmarks/representations.py --threads 1          # MNIST and digits, 60 epochs
    python benchmarks/representations.py --epochs 5 --datasets mnist --no-tsne   # quick check
    python benchmarks/representations.py --beta 0 --k-sweep 10,20,50,100,200,500,1024 --dbscan
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from _common import DEFAULT_DATA_DIR, append_results, comma_list

from pyroclust.representations import representation_study

TARGETS = {"dbi": ("<=", 1.557), "silhouette": (">=", 0.186), "chs": (">=", 1497.0)}
"""Agarap & Azcarraga (2020), Table 1: k-means on the VAE's latent codes of MNIST."""


def check_targets(table: dict[str, dict[str, float]]) -> list[str]:
    """One line per target: the paper's bound, the value reached, and PASS/FAIL."""
    latent, original = table["latent"], table["original"]
    lines = []
    for col, (op, bound) in TARGETS.items():
        value = latent[col]
        ok = value <= bound if op == "<=" else value >= bound
        lines.append(f"latent {col} {op} {bound:g}: {value:.4g} -> {'PASS' if ok else 'FAIL'}")
    better = (
        latent["dbi"] < original["dbi"]
        and latent["silhouette"] > original["silhouette"]
        and latent["chs"] > original["chs"]
    )
    lines.append(f"latent better than original pixels on DBI, SS and CHS: {better}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mnist,digits", help="comma-separated names")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--model", default="vae", choices=["vae", "ae"])
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--noise-std", type=float, default=0.1)
    parser.add_argument("--n-init", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=None, help="subsample the training set")
    parser.add_argument("--no-tsne", action="store_true")
    parser.add_argument("--k-sweep", default=None, help="comma-separated k, on the test codes")
    parser.add_argument("--dbscan", action="store_true")
    parser.add_argument("--out", default="runs/bench-representations", help="pictures go here")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (on a busy shared 2-core machine, 1 was 7x faster than 2)",
    )
    parser.add_argument("--no-results", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    ks = comma_list(args.k_sweep, int) if args.k_sweep else None
    for name in comma_list(args.datasets):
        start = time.perf_counter()
        study = representation_study(
            name,
            data_dir=args.data_dir,
            download=False,
            model=args.model,
            beta=args.beta,
            epochs=args.epochs,
            batch_size=args.batch_size,
            noise_std=args.noise_std,
            n_init=args.n_init,
            n_train=args.n_train,
            tsne=not args.no_tsne,
            k_sweep_ks=ks,
            dbscan=args.dbscan,
            out=Path(args.out) / name,
            device=args.device,
            random_state=args.seed,
            progress=False,
        )
        total = time.perf_counter() - start
        s = study.settings
        per_epoch = study.fit_seconds / max(args.epochs, 1)
        lines = [
            study.to_markdown(),
            "",
            f"- SVI fit: {study.fit_seconds:.1f} s for {args.epochs} epochs "
            f"({per_epoch:.2f} s/epoch) on {s['n_train']} rows; whole study {total:.1f} s",
            f"- test rows: {s['n_test']}, noise std {s['noise_std']}, silhouette sample "
            f"{s['sample_size']}, k-means k={s['n_clusters']} n_init={s['n_init']}",
        ]
        if name == "mnist":
            lines += [f"- {line}" for line in check_targets(study.table)]
        if study.dbscan is not None:
            db = study.dbscan
            lines.append(
                f"- DBSCAN on the codes: eps={db['eps']:.4g}, {db['n_clusters']} clusters, "
                f"noise {db['noise_fraction']:.1%}, "
                + ", ".join(
                    f"{k}={db[k]:.4g}"
                    for k in ("acc", "nmi", "dbi", "silhouette")
                    if k in db and math.isfinite(db[k])
                )
            )
        if study.k_sweep is not None:
            best = study.k_sweep.best_k("silhouette")
            lines.append(f"- k sweep {study.k_sweep.ks}: best silhouette at k={best}")
        text = "\n".join(lines)
        title = (
            f"Representation study ({args.model}, beta={args.beta:g}) on {name}, "
            f"{args.epochs} epochs"
        )
        if args.no_results:
            print(f"\n## {title}\n\n{text}")
        else:
            append_results(title, text, notes="Agarap & Azcarraga (2020) protocol")


if __name__ == "__main__":
    main()
