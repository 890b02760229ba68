"""``pyroclust predict CHECKPOINT``: assign the rows of a data set to a fitted model's clusters."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from pyroclust.cli.common import (
    DEVICES,
    UsageError,
    add_csv_arguments,
    check_device,
    check_output_file,
    load_data,
    load_estimator,
    print_table,
    write_labels,
)

EPILOG = """\
examples:
  pyroclust predict runs/vade-digits-20260101-120000/model.ckpt --data digits --out labels.csv
  pyroclust predict model.ckpt --data new_points.npz --out labels.csv --proba
  pyroclust predict model.ckpt --data table.csv --header yes --index-col id --overwrite

labels.csv has the columns index,label (and p0..p{K-1}, the posterior p(cluster | x), with
--proba). When the data have labels, the accuracy, NMI and ARI against them are printed. An
existing --out file is replaced only with --overwrite (checked before the model runs).
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
    parser.add_argument("--device", choices=DEVICES, default="auto", help="default: auto")


def run(args: argparse.Namespace) -> int:
    """Apply a saved model to a data set and write the cluster labels."""
    from pyroclust import metrics

    out = check_output_file(args.out, args.overwrite)  # before any work, so none is wasted
    device = check_device(args.device)
    est = load_estimator(args.checkpoint, device)
    if getattr(est.model_, "n_components", None) is None:
        raise UsageError(f"{args.checkpoint} holds a model without clusters; nothing to predict")
    ds = load_data(args.data, args.data_dir, args.header, args.index_col)
    log_proba = est.predict_log_proba(ds.x)
    labels = log_proba.argmax(1)
    path = write_labels(out, labels, np.exp(log_proba) if args.proba else None)
    rows: dict[str, Any] = {
        "data": ds.name,
        "n_samples": ds.n_samples,
        "n_clusters_used": metrics.n_clusters_used(labels),
    }
    if ds.y is not None:
        rows.update(
            acc=metrics.cluster_accuracy(ds.y, labels),
            nmi=metrics.nmi(ds.y, labels),
            ari=metrics.ari(ds.y, labels),
        )
    print_table(rows)
    print(f"labels written to {path}")
    return 0
