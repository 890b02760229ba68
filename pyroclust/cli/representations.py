"""``pyroclust representations``: the study of Agarap & Azcarraga (2020) from the command line.

A thin front end of :func:`pyroclust.representations.representation_study`; also run as
``python -m pyroclust.representations``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyroclust import zoo
from pyroclust.cli.common import (
    DEVICES,
    PROG,
    UsageError,
    check_device,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed_type,
)
from pyroclust.datasets.streaming import DEFAULT_CHUNK_SIZE
from pyroclust.representations import RepresentationStudy, representation_study

EPILOG = """\
examples:
  pyroclust representations                           # digits, the paper's VAE and k-means
  pyroclust representations --data mnist --data-dir ~/data --out runs/representations
  pyroclust representations --data fashion-mnist --data-dir ~/data --noise-std 0.2
  pyroclust representations --beta 0 --k-sweep 10,20,50,100,200 --dbscan --out runs/no-kl
  pyroclust representations --data train.npy --test-data test_shards/ --max-samples 20000

Fits a VAE (or an autoencoder, --model ae; --beta 0 drops the KL term) on the training set,
adds Gaussian noise to the test set only, clusters the three test representations (original
pixels, reconstructions, latent codes) with k-means fitted on the training ones, and prints the
table of DBI (lower is better), silhouette and CHS (higher is better), with ACC, NMI and ARI
when the data have labels. With --out: scores.md/.json/.csv, tsne_2d.png, tsne_3d.png,
voronoi.png, noisy_vs_reconstructed.png (images) and k_sweep.png (with --k-sweep).

With --test-data, --data and --test-data are the training and test sets on disk (each a .npy
file or a folder of .npy/.npz shards, see pyroclust.datasets.streaming): the model trains on
the training rows --chunk-size at a time, never loaded whole, and the study keeps a seeded
subsample of --max-samples rows of each set, whose codes and reconstructions it computes
--chunk-size rows at a time.
"""


def _positive_int_list(text: str) -> str:
    """An argparse type: comma-separated positive integers, returned as given."""
    try:
        values = _int_list(text) or []
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 10,20,50, got {text!r}"
        )
    return text


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``pyroclust representations`` to ``parser`` and return it.

    Every option has a help line with its default; values are checked while parsing, so a bad
    one is a usage error rather than a traceback.
    """
    parser.description = (
        "The representation study of Agarap & Azcarraga (2020): cluster the original,\n"
        "reconstructed and latent representations of noisy test data."
    )
    parser.epilog = EPILOG
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data", metavar="NAME|PATH", default="digits", help="data set name or file (digits)"
    )
    data.add_argument(
        "--test-data",
        metavar="PATH",
        help="test set on disk (.npy file or folder of shards); --data is then the training set",
    )
    data.add_argument("--data-dir", metavar="DIR", help="folder of the named data sets")
    data.add_argument("--no-download", action="store_true", help="never download data")
    data.add_argument(
        "--n-train", metavar="N", type=positive_int, help="use N training rows (default: all)"
    )
    data.add_argument(
        "--n-test", metavar="N", type=positive_int, help="use N test rows (default: all)"
    )
    data.add_argument(
        "--max-samples",
        metavar="N",
        type=positive_int,
        help="study a seeded subsample of at most N rows of each set (default: all)",
    )
    data.add_argument(
        "--chunk-size",
        metavar="ROWS",
        type=positive_int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows read from disk and encoded at a time ({DEFAULT_CHUNK_SIZE})",
    )
    data.add_argument(
        "--noise-std",
        metavar="SD",
        type=non_negative_float,
        default=0.1,
        help="std of the Gaussian noise added to the test set, 0 for none (0.1)",
    )
    mdl = parser.add_argument_group("model and training")
    choices = [name for name in zoo.ZOO if not zoo.has_cluster_site(name)]
    mdl.add_argument(
        "--model",
        default="vae",
        choices=choices,
        help="a zoo architecture without a cluster site: "
        + ", ".join(f"{name} ({zoo.ZOO[name].description})" for name in choices)
        + " (vae)",
    )
    mdl.add_argument(
        "--latent-dim", metavar="D", type=positive_int, default=10, help="latent size (10)"
    )
    mdl.add_argument(
        "--beta",
        metavar="B",
        type=non_negative_float,
        default=1.0,
        help="KL weight of the VAE, 0 for the no-KL variant (1)",
    )
    mdl.add_argument(
        "--hidden",
        metavar="W1,W2,..",
        type=_positive_int_list,
        default="500,500,2000",
        help="encoder layer widths, decoder mirrored (500,500,2000)",
    )
    mdl.add_argument(
        "--epochs", metavar="N", type=non_negative_int, default=60, help="SVI epochs (60)"
    )
    mdl.add_argument(
        "--batch-size", metavar="B", type=positive_int, default=512, help="mini-batch size (512)"
    )
    mdl.add_argument(
        "--lr", metavar="LR", type=positive_float, default=1e-3, help="Adam learning rate (1e-3)"
    )
    mdl.add_argument("--device", choices=DEVICES, default="auto", help="where to train (auto)")
    clu = parser.add_argument_group("clustering and pictures")
    clu.add_argument(
        "--n-clusters", metavar="K", type=positive_int, default=10, help="k of k-means (10)"
    )
    clu.add_argument(
        "--n-init", metavar="N", type=positive_int, default=10, help="k-means restarts (10)"
    )
    clu.add_argument(
        "--sample-size",
        metavar="N",
        type=positive_int,
        default=10_000,
        help="silhouette on a seeded subsample of N points when there are more (10000)",
    )
    clu.add_argument("--no-tsne", action="store_true", help="skip the t-SNE pictures")
    clu.add_argument(
        "--tsne-size",
        metavar="N",
        type=positive_int,
        default=2000,
        help="t-SNE on a seeded subsample of N test points (2000)",
    )
    clu.add_argument(
        "--k-sweep",
        metavar="K1,K2,..",
        type=_positive_int_list,
        help="also sweep k-means over these k on the codes (silhouette, inertia, elbow plot)",
    )
    clu.add_argument(
        "--dbscan",
        action="store_true",
        help="also run DBSCAN on the codes (eps: knee of the 5-distance curve)",
    )
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="write the table and pictures there")
    run.add_argument(
        "--seed", metavar="S", type=seed_type, default=0, help="random seed, 0 to 2**32-1 (0)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _int_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    return [int(v) for v in str(text).replace(" ", "").split(",") if v]


def _on_disk(path: str, option: str) -> Any:
    """The set at ``path`` as a stream (a .npy/.npz file or a folder of shards)."""
    from pyroclust.datasets.streaming import open_stream
    from pyroclust.exceptions import DatasetError

    try:
        return open_stream(path)
    except DatasetError as err:
        raise UsageError(f"{option}: {err}") from err


def run_from_args(args: argparse.Namespace) -> RepresentationStudy:
    """Run :func:`~pyroclust.representations.representation_study` from parsed
    :func:`add_arguments` options; print the table (and DBSCAN's row and the files written)."""
    if args.out:
        out = Path(args.out)
        for folder in (out, *out.parents):
            if folder.exists() and not folder.is_dir():
                raise UsageError(f"--out {str(out)!r}: {str(folder)!r} is a file, not a folder")
    data: Any = args.data
    if args.test_data is not None:
        data = (_on_disk(args.data, "--data"), _on_disk(args.test_data, "--test-data"))
    study = representation_study(
        data,
        data_dir=args.data_dir,
        download=not args.no_download,
        model=args.model,
        latent_dim=args.latent_dim,
        beta=args.beta,
        hidden=_int_list(args.hidden) or (),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        n_clusters=args.n_clusters,
        n_init=args.n_init,
        noise_std=args.noise_std,
        sample_size=args.sample_size,
        tsne=not args.no_tsne,
        tsne_size=args.tsne_size,
        k_sweep_ks=_int_list(args.k_sweep),
        dbscan=args.dbscan,
        n_train=args.n_train,
        n_test=args.n_test,
        out=args.out,
        device=check_device(args.device),
        random_state=args.seed,
        progress=not args.no_progress,
        max_samples=args.max_samples,
        chunk_size=args.chunk_size,
    )
    print(study.to_markdown())
    print(
        f"\nfit: {study.fit_seconds:.1f} s ({args.epochs} epochs, {study.settings['n_train']} rows)"
    )
    if study.dbscan is not None:
        print(f"DBSCAN on the codes: {json.dumps(study.dbscan)}")
    for path in study.files:
        print(f"wrote {path}")
    return study


def run(args: argparse.Namespace) -> int:
    """Cluster pixels, reconstructions and codes of a VAE or AE (Agarap & Azcarraga, 2020).

    The ``run`` of the ``pyroclust representations`` subcommand; returns the exit status 0.
    """
    run_from_args(args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pyroclust.representations``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {PROG}.representations",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser = add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
