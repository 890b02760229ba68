"""``pyroclust predict CHECKPOINT``: assign the rows of a data set to a fitted model's clusters."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from pyroclust import structure
from pyroclust.cli.common import (
    DEVICES,
    LabelWriter,
    UsageError,
    add_csv_arguments,
    add_site_argument,
    check_device,
    check_output_file,
    load_data,
    load_estimator,
    positive_int,
    print_table,
    streams,
)
from pyroclust.datasets.streaming import DEFAULT_CHUNK_SIZE, iter_chunks
from pyroclust.infer.progress import progress_bar

#: Seconds before predict's progress bar appears.
PROGRESS_DELAY_S = 1.0

EPILOG = """\
examples:
  pyroclust predict runs/vade-digits-20260101-120000/model.ckpt --data digits --out labels.csv
  pyroclust predict model.ckpt --data new_points.npz --out labels.csv --proba
  pyroclust predict model.ckpt --data table.csv --header yes --index-col id --overwrite
  pyroclust predict model.ckpt --data big.npy --chunk-size 100000
  pyroclust predict model.ckpt --data shards/      (a folder of .npy/.npz shards)
  pyroclust predict vlac.ckpt --data colored-mnist --site y2   (one layer of a ladder)

labels.csv has the columns index,label (and p0..p{K-1}, the posterior p(cluster | x), with
--proba), for the first cluster site or --site's; the index is the row number, or the row's
name from a .csv's --index-col. When the data have labels, the accuracy, NMI and ARI against
them are printed. An existing --out file is replaced only with --overwrite (checked before
the model runs).

A .npy file is read block by block and a folder of .npy/.npz shards shard by shard: the rows
go through the model --chunk-size at a time and their labels straight to the file, so data
larger than memory are labelled in bounded memory (see pyroclust.datasets.streaming).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pyroclust predict``."""
    parser.description = "Assign the rows of a data set to the clusters of a fitted model."
    parser.epilog = EPILOG
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="model.ckpt written by fit")
    parser.add_argument("--data", metavar="NAME|PATH", required=True, help="data set name or file")
    parser.add_argument("--data-dir", metavar="DIR", help="where named data sets live")
    add_csv_arguments(parser)
    parser.add_argument(
        "--out", metavar="FILE", default="labels.csv", help="output CSV (default: labels.csv)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--proba", action="store_true", help="also write cluster probabilities")
    add_site_argument(parser, "to assign")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")
    parser.add_argument(
        "--chunk-size",
        metavar="ROWS",
        type=positive_int,
        default=DEFAULT_CHUNK_SIZE,
        help=f"rows through the model at a time (default: {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Apply a saved model to a data set and write the cluster labels."""
    from pyroclust import metrics

    out = check_output_file(args.out, args.overwrite)  # before any work, so none is wasted
    device = check_device(args.device)
    est = load_estimator(args.checkpoint, device)
    if not est.cluster_sites_:
        raise UsageError(f"{args.checkpoint} holds a model without clusters; nothing to predict")
    site = structure.cluster_site(est.model_, args.site)  # a ValueError names the sites
    started = time.perf_counter()
    if streams(args.data):
        from pyroclust.datasets.streaming import open_stream

        data: Any = open_stream(args.data)
        name, y, row_names = data.name, None, None
    else:
        ds = load_data(args.data, args.data_dir, args.header, args.index_col)
        data, name, y, row_names = ds.x, ds.name, ds.y, ds.row_names
    k = int(site.n_components)
    counts = np.zeros(k, dtype=np.int64)
    kept = [] if y is not None else None  # labels, only to score against the data's own
    # written beside --out and renamed at the end: a failure leaves no partial file
    part = out.with_name(out.name + ".part")
    bar = progress_bar(  # shown after a second: not for small data, nor above a bad-data error
        total=len(data),
        desc="predict",
        unit="rows",
        unit_scale=True,
        delay=PROGRESS_DELAY_S,
        disable=args.no_progress,
    )
    try:
        with bar, LabelWriter(part, k if args.proba else None, row_names) as writer:
            for chunk in iter_chunks(data, args.chunk_size):
                log_proba = est.predict_log_proba(chunk, site=site.name)
                labels = log_proba.argmax(1)
                writer.write(labels, np.exp(log_proba) if args.proba else None)
                counts += np.bincount(labels, minlength=k)
                if kept is not None:
                    kept.append(labels)
                bar.update(len(labels))
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    rows: dict[str, Any] = {
        "data": name,
        **({"site": site.name} if len(est.cluster_sites_) > 1 else {}),
        "n_samples": writer.rows,
        "n_clusters_used": int((counts > 0).sum()),
        "rows/s": writer.rows / max(seconds, 1e-9),
    }
    if y is not None:
        labels = np.concatenate(kept)
        rows.update(
            acc=metrics.cluster_accuracy(y, labels),
            nmi=metrics.nmi(y, labels),
            ari=metrics.ari(y, labels),
        )
    print_table(rows)
    print(f"labels written to {out}")
    return 0
