"""The ``pyroclust`` command line: a thin layer over :func:`pyroclust.zoo.make`,
:class:`~pyroclust.estimator.Clusterer`, :mod:`pyroclust.datasets` and :mod:`pyroclust.metrics`.

Subcommands live in the explicit registry :data:`SUBCOMMANDS` (name -> ``(add_arguments,
run)``): ``add_arguments(parser)`` declares the options of an ``argparse`` sub-parser (and may
set its ``description`` / ``epilog``), ``run(args) -> int`` does the work and returns the exit
status; the first line of ``run``'s docstring is the one-line help. Adding a subcommand is two
lines: define the pair, add it to the dict.

Bad input (any :class:`~pyroclust.exceptions.PyroclustError`: unknown data set, missing or
corrupt file or checkpoint, bad data or options) prints one line ``pyroclust: error: ...`` to
standard error and exits with status 2, without a traceback. Ctrl-C during ``fit`` says where
the checkpoint is and how to resume, and exits with status 130.

Examples
--------
>>> main(["--version"])  # doctest: +SKIP
pyroclust 0.1.0.dev0
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pyroclust.exceptions import PyroclustError

PROG = "pyroclust"
CONFIG_FILE = "config.json"
TRAIN_CHECKPOINT = "train.ckpt"
MODEL_CHECKPOINT = "model.ckpt"
#: Options of ``fit`` that are saved in ``config.json`` and reused by ``--resume``.
FIT_OPTIONS = (
    "data",
    "data_dir",
    "n_components",
    "latent_dim",
    "hidden",
    "epochs",
    "batch_size",
    "lr",
    "pretrain_epochs",
    "weights",
    "seed",
    "device",
)
#: Keys of the score table and of metrics.json, in print order.
SCORE_KEYS = (
    "model",
    "data",
    "n_samples",
    "n_components",
    "acc",
    "nmi",
    "ari",
    "silhouette",
    "davies_bouldin",
    "calinski_harabasz",
    "n_clusters_used",
    "elbo",
    "seconds",
)


class UsageError(PyroclustError, ValueError):
    """A command-line option that cannot be used (reported as ``pyroclust: error: ...``)."""


# ----------------------------------------------------------------------------- helpers
def number_type(kind: type, minimum: float, *, strict: bool) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` (int or float) > ``minimum`` (``strict``) or >= it.

    A bad value is an ``ArgumentTypeError`` (a usage error naming the bound), not a traceback.
    """

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None
            or not math.isfinite(value)
            or value < minimum
            or (strict and value == minimum)
        ):
            bound = f"{'>' if strict else '>='} {minimum:g}"
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {text!r}")
        return value

    return parse


_positive_int = number_type(int, 0, strict=True)
_non_negative_int = number_type(int, 0, strict=False)
_positive_float = number_type(float, 0.0, strict=True)


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer widths such as 500,500,2000, got {text!r}"
        )
    return sizes


def _weight_spec(text: str) -> str:
    from pyroclust import zoo

    try:
        zoo.make_weight_prior(text)
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _jsonable(value: Any) -> Any:
    """Plain JSON values; non-finite floats become null."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def print_table(rows: Mapping[str, Any], file: Any = None) -> None:
    """Print ``key  value`` rows, keys left-aligned in one column."""
    file = file or sys.stdout
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"  {key:<{width}}  {_fmt(value)}", file=file)


def write_labels(
    path: str | os.PathLike, labels: np.ndarray, proba: np.ndarray | None = None
) -> Path:
    """Write ``index,label`` rows (and ``p0..p{K-1}`` columns with ``proba``) as CSV."""
    path = Path(path)
    if path.parent != Path():
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        header = ["index", "label"]
        if proba is not None:
            header += [f"p{k}" for k in range(proba.shape[1])]
        writer.writerow(header)
        for i, label in enumerate(labels):
            row = [i, int(label)]
            if proba is not None:
                row += [f"{p:.6g}" for p in proba[i]]
            writer.writerow(row)
    return path


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """The ``label`` column of a file written by :func:`write_labels`."""
    with open(path, newline="") as handle:
        return np.array([int(row["label"]) for row in csv.DictReader(handle)], dtype=np.int64)


def _load_data(name: str, data_dir: str | None) -> Any:
    from pyroclust.datasets import load_dataset

    return load_dataset(name, data_dir=data_dir)


def _builder_options(architecture: str) -> set[str]:
    from pyroclust import zoo

    return set(inspect.signature(zoo.ZOO[architecture]).parameters)


def _training_defaults(architecture: str, ds: Any) -> dict[str, Any]:
    """The zoo's tuned training recipe for this data set ({}: the Clusterer's defaults)."""
    from pyroclust import zoo

    return dict(zoo.default_training(architecture, ds.n_samples, ds.image_shape))


# ----------------------------------------------------------------------------- fit
FIT_EPILOG = """\
examples:
  pyroclust fit vade                                   # VaDE on the embedded digits
  pyroclust fit vade --data mnist --data-dir ~/data --n-components 10 --epochs 50
  pyroclust fit vade --data my_data.npz --weights dirichlet:1.0 --out runs/mine
  pyroclust fit vade --out runs/mine --resume          # continue an interrupted run

MODEL is a key of the zoo (pyroclust.zoo.ZOO). --data is a named data set or the path of a
.npz (arrays x and optionally y), .npy or .csv file (a column 'label' or 'y' holds labels). The
likelihood follows the data: Bernoulli when every value lies in [0, 1], Gaussian otherwise.
Training options left out use the zoo's/estimator's defaults.

--out (default runs/MODEL-DATA-TIMESTAMP) receives: config.json (the options, reused by
--resume), train.ckpt (the SVI run, written every epoch), model.ckpt (the fitted estimator, for
'pyroclust predict' and 'pyroclust inspect'), metrics.json, labels.csv (index,label) and the
plots elbo.png, embedding.png (latent codes in 2-D: PCA when latent_dim > 2, coloured by
cluster) and, for image data, samples.png (samples of each cluster).
"""


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pyroclust fit``."""
    from pyroclust import zoo

    parser.description = (
        "Fit a deep generative clustering model, print its scores, and write the\n"
        "checkpoint, labels, metrics and plots to --out."
    )
    parser.epilog = FIT_EPILOG
    parser.add_argument(
        "model", metavar="MODEL", choices=sorted(zoo.ZOO), help="one of: " + ", ".join(zoo.ZOO)
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", metavar="NAME|PATH", help="data set name or file (default: digits)")
    data.add_argument("--data-dir", metavar="DIR", help="where named data sets live")
    mdl = parser.add_argument_group("model")
    mdl.add_argument(
        "--n-components",
        metavar="K",
        type=_positive_int,
        help="number of clusters (default: the number of classes of labelled data, else 10)",
    )
    mdl.add_argument("--latent-dim", metavar="D", type=_positive_int, help="latent dimension")
    mdl.add_argument(
        "--hidden",
        metavar="W1,W2,..",
        type=_hidden_sizes,
        help="encoder layer widths, decoder mirrored (default: the paper's 500,500,2000)",
    )
    mdl.add_argument(
        "--weights",
        metavar="SPEC",
        type=_weight_spec,
        help="prior of the mixture weights, NAME or NAME:VALUE; names: "
        + ", ".join(zoo.WEIGHT_PRIORS)
        + " (default: learned)",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", metavar="N", type=_non_negative_int, help="SVI epochs")
    train.add_argument("--batch-size", metavar="B", type=_positive_int, help="mini-batch size")
    train.add_argument("--lr", metavar="LR", type=_positive_float, help="Adam learning rate")
    train.add_argument(
        "--pretrain-epochs",
        metavar="N",
        type=_non_negative_int,
        help="autoencoder pretraining epochs before the GMM initialisation",
    )
    train.add_argument("--seed", metavar="S", type=int, help="random seed (default: 0)")
    train.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), help="where to train (default: auto)"
    )
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="output folder (default: runs/MODEL-DATA-TIME)")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out (its saved options are reused)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")


def _fit_config(args: argparse.Namespace) -> dict[str, Any]:
    """The options of this fit: the command line, completed by a resumed run's config.json."""
    config = {key: getattr(args, key) for key in FIT_OPTIONS}
    if not args.resume:
        return config
    if not args.out:
        raise UsageError("--resume needs --out DIR, the folder of the run to continue")
    saved_path = Path(args.out) / CONFIG_FILE
    if not saved_path.is_file():
        raise UsageError(f"cannot resume: {saved_path} does not exist (no run was started there)")
    try:
        saved = json.loads(saved_path.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot resume: {saved_path} is not readable JSON ({err})") from err
    if saved.get("model") != args.model:
        raise UsageError(
            f"cannot resume: {args.out} holds a {saved.get('model')!r} run, not {args.model!r}"
        )
    for key in FIT_OPTIONS:
        if config[key] is None:
            config[key] = saved.get(key)
    return config


def _make_estimator(
    architecture: str, config: Mapping[str, Any], ds: Any, out: Path, *, progress: bool = True
) -> Any:
    from pyroclust import zoo
    from pyroclust.estimator import Clusterer
    from pyroclust.infer.elbo import seed_everything
    from pyroclust.infer.init import GMMInit

    accepted = _builder_options(architecture)
    kwargs: dict[str, Any] = {"likelihood": "bernoulli" if ds.support == "unit" else "gaussian"}
    for option, key in (
        ("--n-components", "n_components"),
        ("--latent-dim", "latent_dim"),
        ("--hidden", "hidden"),
        ("--weights", "weights"),
    ):
        if config.get(key) is not None:
            if key not in accepted:
                raise UsageError(f"model {architecture!r} does not take {option}")
            kwargs[key] = config[key]
    if "n_components" in accepted and "n_components" not in kwargs:
        kwargs["n_components"] = ds.n_classes or 10
    if "image_shape" in accepted and ds.image_shape is not None and ds.support == "unit":
        kwargs["image_shape"] = list(ds.image_shape)  # augmented training of the encoder
    seed = 0 if config.get("seed") is None else int(config["seed"])
    seed_everything(seed)  # the networks' initial weights too, so a run is repeatable
    model, guide = zoo.make(architecture, ds.n_features, **kwargs)

    options = _training_defaults(architecture, ds)
    for key in ("epochs", "batch_size", "lr"):
        if config.get(key) is not None:
            options[key] = config[key]
    if config.get("pretrain_epochs") is not None:
        init = options.get("init")
        if dataclasses.is_dataclass(init) and hasattr(init, "pretrain_epochs"):
            options["init"] = dataclasses.replace(init, pretrain_epochs=config["pretrain_epochs"])
        elif getattr(model, "n_components", None) is not None:
            options["init"] = GMMInit(pretrain_epochs=config["pretrain_epochs"])
    device = config.get("device") or "auto"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but CUDA is not available here")
    return Clusterer(
        model,
        guide,
        device=device,
        random_state=seed,
        progress=progress,
        checkpoint=out / TRAIN_CHECKPOINT,
        **options,
    )


def _default_out(architecture: str, data_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in data_name) or "data"
    return Path("runs") / f"{architecture}-{safe}-{stamp}"


def _write_fit_plots(est: Any, ds: Any, codes: np.ndarray, labels: Any, out: Path) -> list[Path]:
    from pyroclust import plots

    written = [out / "elbo.png", out / "embedding.png"]
    plots.plot_elbo(est.history_, written[0])
    colour = labels if labels is not None else (ds.y if ds.y is not None else np.zeros(len(codes)))
    plots.plot_embedding(codes, colour, written[1], method="pca")
    if ds.image_shape is not None:
        path = out / "samples.png"
        k = getattr(est.model_, "n_components", None)
        if k is not None:
            per_cluster = [est.sample(8, component=c) for c in range(int(k))]
            plots.plot_samples_grid(per_cluster, ds.image_shape, path, weights=est.weights_)
        else:
            plots.plot_image_grid(est.sample(64), ds.image_shape, path, title="Samples")
        written.append(path)
    return written


def _weights_summary(est: Any, seed: int, num_samples: int = 500) -> dict[str, Any]:
    """Posterior of the mixture weights for metrics.json: per component the mean, sd and
    94% HDI (a point mass for point-estimate priors), plus the expected clusters in use."""
    from pyroclust import inspect as pinspect

    idata = est.weights_posterior(num_samples=num_samples, random_state=seed)
    table = pinspect.summary(idata)
    rows = {
        name: {col: float(value) for col, value in row.items() if col != "n_draws"}
        for name, row in table.iterrows()
    }
    return {
        "num_samples": num_samples,
        "expected_n_clusters_above_1%": float(
            est.expected_n_clusters(threshold=0.01, num_samples=num_samples, random_state=seed)
        ),
        "posterior": rows,
    }


def run_fit(args: argparse.Namespace) -> int:
    """Fit a model to a data set and write checkpoint, labels, metrics and plots."""
    from pyroclust.metrics import clustering_scores

    started = time.perf_counter()
    config = _fit_config(args)
    ds = _load_data(config["data"] or "digits", config["data_dir"])
    out = Path(args.out) if args.out else _default_out(args.model, ds.name)
    out.mkdir(parents=True, exist_ok=True)
    est = _make_estimator(args.model, config, ds, out, progress=not args.no_progress)
    (out / CONFIG_FILE).write_text(json.dumps(_jsonable({"model": args.model, **config}), indent=2))
    resuming = bool(args.resume and (out / TRAIN_CHECKPOINT).is_file())
    print(
        f"{PROG}: {'resuming' if resuming else 'fitting'} {args.model} on {ds.name} "
        f"({ds.n_samples} x {ds.n_features}, {ds.support} support) -> {out}",
        file=sys.stderr,
    )
    try:
        est.fit(ds.x, resume=resuming)
    except KeyboardInterrupt:
        ckpt = out / TRAIN_CHECKPOINT
        if ckpt.is_file():
            print(
                f"\n{PROG}: interrupted; the run is checkpointed in {ckpt}. Continue it with:\n"
                f"  {PROG} fit {args.model} --out {out} --resume",
                file=sys.stderr,
            )
        else:
            print(
                f"\n{PROG}: interrupted before the first epoch finished; no checkpoint was "
                f"written yet. Start again with: {PROG} fit {args.model} --out {out}",
                file=sys.stderr,
            )
        return 130
    est.save(out / MODEL_CHECKPOINT)

    codes = est.transform(ds.x)
    labels = getattr(est, "labels_", None)
    n_components = getattr(est.model_, "n_components", None)
    metrics: dict[str, Any] = {
        "model": args.model,
        "data": ds.name,
        "n_samples": ds.n_samples,
        "n_features": ds.n_features,
        "n_components": None if n_components is None else int(n_components),
        "latent_dim": int(codes.shape[1]),
    }
    if labels is not None:
        metrics.update(clustering_scores(codes, labels, ds.y))
        write_labels(out / "labels.csv", labels)
        metrics["weights"] = [float(w) for w in est.weights_]
        metrics["weights_summary"] = _weights_summary(est, seed=int(config.get("seed") or 0))
    metrics["elbo"] = float(est.elbo_)
    metrics["epochs"] = int(est.n_iter_)
    _write_fit_plots(est, ds, codes, labels, out)
    metrics["seconds"] = time.perf_counter() - started
    (out / "metrics.json").write_text(json.dumps(_jsonable(metrics), indent=2) + "\n")

    print_table({key: metrics.get(key) for key in SCORE_KEYS if key in metrics})
    print(f"results in {out}/ (metrics.json, {MODEL_CHECKPOINT}, labels.csv, *.png)")
    return 0


# ----------------------------------------------------------------------------- predict
PREDICT_EPILOG = """\
examples:
  pyroclust predict runs/vade-digits-20260101-120000/model.ckpt --data digits --out labels.csv
  pyroclust predict model.ckpt --data new_points.npz --out labels.csv --proba

labels.csv has the columns index,label (and p0..p{K-1}, the posterior p(cluster | x), with
--proba). When the data have labels, the accuracy, NMI and ARI against them are printed.
"""


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pyroclust predict``."""
    parser.description = "Assign the rows of a data set to the clusters of a fitted model."
    parser.epilog = PREDICT_EPILOG
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="model.ckpt written by fit")
    parser.add_argument("--data", metavar="NAME|PATH", required=True, help="data set name or file")
    parser.add_argument("--data-dir", metavar="DIR", help="where named data sets live")
    parser.add_argument(
        "--out", metavar="FILE", default="labels.csv", help="output CSV (default: labels.csv)"
    )
    parser.add_argument("--proba", action="store_true", help="also write cluster probabilities")
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto"
    )


def _load_estimator(path: str, device: str = "auto") -> Any:
    from pyroclust.estimator import Clusterer

    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but CUDA is not available here")
    return Clusterer.load(path, device=device)


def run_predict(args: argparse.Namespace) -> int:
    """Apply a saved model to a data set and write the cluster labels."""
    from pyroclust import metrics

    est = _load_estimator(args.checkpoint, args.device)
    if getattr(est.model_, "n_components", None) is None:
        raise UsageError(f"{args.checkpoint} holds a model without clusters; nothing to predict")
    ds = _load_data(args.data, args.data_dir)
    log_proba = est.predict_log_proba(ds.x)
    labels = log_proba.argmax(1)
    path = write_labels(args.out, labels, np.exp(log_proba) if args.proba else None)
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


# ----------------------------------------------------------------------------- inspect
INSPECT_EPILOG = """\
examples:
  pyroclust inspect runs/vade-digits-20260101-120000/model.ckpt
  pyroclust inspect model.ckpt --out figures/ --num-samples 2000

Prints the summary (mean, sd, 94% HDI, as arviz.summary(kind="stats")) of the posterior of
the mixture weights and of the prior's hyper-parameters, and writes weights_forest.png (a
forest plot, weights sorted) and rank_size.png (weight against rank on log-log axes, with the
Zipf law: the model's fitted exponent for a Zipf prior, else a least-squares fit) to --out
(default: the checkpoint's folder).
"""


def add_inspect_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pyroclust inspect``."""
    parser.description = "Summarise the posterior of the mixture weights of a fitted model."
    parser.epilog = INSPECT_EPILOG
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="model.ckpt written by fit")
    parser.add_argument("--out", metavar="DIR", help="folder of the plots (default: beside it)")
    parser.add_argument(
        "--num-samples",
        metavar="N",
        type=_positive_int,
        default=1000,
        help="posterior draws (default: 1000)",
    )
    parser.add_argument("--seed", metavar="S", type=int, default=0, help="default: 0")


def run_inspect(args: argparse.Namespace) -> int:
    """Print the weights posterior of a saved model; save forest and rank/size plots."""
    try:
        pinspect = importlib.import_module("pyroclust.inspect")
    except ImportError as err:
        raise UsageError(
            f"'inspect' needs the module pyroclust.inspect, which could not be imported ({err})"
        ) from err
    est = _load_estimator(args.checkpoint)
    if getattr(est.model_, "n_components", None) is None:
        raise UsageError(f"{args.checkpoint} holds a model without mixture weights")
    out = Path(args.out) if args.out else Path(args.checkpoint).parent
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


# ----------------------------------------------------------------------------- representations
def add_representations_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``representations``: :func:`pyroclust.representations.add_arguments`."""
    importlib.import_module("pyroclust.representations").add_arguments(parser)


def run_representations(args: argparse.Namespace) -> int:
    """Cluster pixels, reconstructions and codes of a VAE or AE (Agarap & Azcarraga, 2020)."""
    return int(importlib.import_module("pyroclust.representations").run(args))


# ----------------------------------------------------------------------------- main
Subcommand = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

#: The subcommands: name -> (add_arguments, run). Register a new one with one line here.
SUBCOMMANDS: dict[str, Subcommand] = {
    "fit": (add_fit_arguments, run_fit),
    "predict": (add_predict_arguments, run_predict),
    "inspect": (add_inspect_arguments, run_inspect),
    "representations": (add_representations_arguments, run_representations),
}

MAIN_EPILOG = """\
examples:
  pyroclust fit vade                                  # VaDE on the embedded digits data
  pyroclust fit vade --data mnist --data-dir ~/data --epochs 50 --out runs/mnist
  pyroclust predict runs/mnist/model.ckpt --data new.npz --out labels.csv
  pyroclust inspect runs/mnist/model.ckpt
  pyroclust representations --data mnist --data-dir ~/data --out runs/representations
  pyroclust SUBCOMMAND --help                         # the options of one subcommand
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pyroclust`` with one sub-parser per :data:`SUBCOMMANDS` entry."""
    from pyroclust import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Deep generative clustering with Pyro: fit a model of the zoo, apply it,\n"
        "inspect its mixture weights.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    for name, (add_arguments, run) in SUBCOMMANDS.items():
        doc = (run.__doc__ or "").strip().splitlines()
        child = sub.add_parser(
            name,
            help=doc[0] if doc else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(child)
        child.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default); return the exit status.

    0 on success, 2 for bad input (one ``pyroclust: error: ...`` line on standard error, or
    argparse's usage message), 130 when a fit is interrupted with Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_:  # --help, --version and usage errors
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    try:
        return int(args._run(args))
    except PyroclustError as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
