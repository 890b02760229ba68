"""``pyroclust inspect CHECKPOINT``: the posterior of a fitted model's mixture weights."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import numpy as np

from pyroclust.cli.common import UsageError, load_estimator, positive_int, seed_type

EPILOG = """\
examples:
  pyroclust inspect runs/vade-digits-20260101-120000/model.ckpt
  pyroclust inspect model.ckpt --out figures/ --num-samples 2000

Prints the summary (mean, sd, 94% HDI, as arviz.summary(kind="stats")) of the posterior of
the mixture weights and of the prior's hyper-parameters, and writes weights_forest.png (a
forest plot, weights sorted) and rank_size.png (weight against rank on log-log axes, with the
Zipf law: the model's fitted exponent for a Zipf prior, else a least-squares fit) to --out
(default: the checkpoint's folder).
"""


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
    if getattr(est.model_, "n_components", None) is None:
        raise UsageError(f"{args.checkpoint} holds a model without mixture weights")
    out.mkdir(parents=True, exist_ok=True)
    idata = pinspect.weights_posterior(
        est.model_, est.guide_, num_samples=args.num_samples, random_state=args.seed
    )
    table = pinspect.summary(idata)
    print(table.to_string() if hasattr(table, "to_string") else table)
    forest, rank_size = out / "weights_forest.png", out / "rank_size.png"
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
    print(f"plots written to {forest} and {rank_size}")
    return 0
