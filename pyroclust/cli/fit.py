"""``pyroclust fit MODEL``: fit an architecture of the zoo, print its scores, write the run.

One sub-parser per registry entry (:data:`pyroclust.zoo.ZOO`): ``pyroclust fit --help`` lists
the architectures with their descriptions, ``pyroclust fit NAME --help`` shows the options of
that architecture, generated from its entry's :class:`~pyroclust.options.Option` records. The
tuned recipe and the default initialisation are the entry's too; nothing here names an
architecture.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pyroclust import zoo
from pyroclust.cli.common import (
    CONFIG_FILE,
    DEVICES,
    IN_USE,
    MODEL_CHECKPOINT,
    PROG,
    RUN_FILES,
    TRAIN_CHECKPOINT,
    LabelWriter,
    RunInterrupted,
    StreamedData,
    UsageError,
    add_csv_arguments,
    arg_type,
    check_device,
    check_run_folder,
    jsonable,
    load_data,
    non_negative_int,
    open_streamed_data,
    positive_float,
    positive_int,
    print_table,
    seed_type,
    streams,
)
from pyroclust.datasets.streaming import DEFAULT_CHUNK_SIZE
from pyroclust.infer.elbo import FAST_PATHS

#: Options of every ``fit`` that are saved in ``config.json`` and reused by ``--resume``; the
#: architecture's own options (its entry's ``options``) are saved beside them.
FIT_OPTIONS = (
    "data",
    "data_dir",
    "header",
    "index_col",
    "epochs",
    "batch_size",
    "lr",
    "pretrain_epochs",
    "seed",
    "device",
    "threads",
    "jit",
    "chunk_size",
    "init_max_samples",
    "metrics_max_samples",
)
#: Options that say where a run finds its data or computes, not what it computes: ``--resume``
#: may change them; a change of any other option is refused (``--jit`` computes the same
#: loss and gradients, faster).
RESUME_MAY_CHANGE = ("data_dir", "device", "threads", "jit", "metrics_max_samples")
#: Rows of data on disk (a .npy file, a folder of shards) that the scores and plots of a fit
#: see by default: a seeded subsample, so that they hold a bounded number of rows in memory.
METRICS_MAX_SAMPLES = 10_000
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
    "metrics_rows",
    "n_clusters_used",
    "start_acc",
    "start_ari",
    "elbo",
    "seconds",
)

DESCRIPTION = (
    "Fit a deep generative clustering model, print its scores, and write the\n"
    "checkpoint, labels, metrics and plots to --out."
)
EXAMPLES = """\
examples:
  pyroclust fit vade                                   # VaDE on the embedded digits
  pyroclust fit vade --data mnist --data-dir ~/data --n-components 10 --epochs 50
  pyroclust fit vade --data my_data.npz --weights dirichlet:1.0 --out runs/mine
  pyroclust fit vade --out runs/mine --resume          # continue an interrupted run
  pyroclust fit vade --out runs/mine --overwrite       # fit again, replacing that run
  pyroclust fit vade --data table.csv --header no --index-col none
  pyroclust fit vade --data big.npy --chunk-size 100000   # read in chunks, never whole
  pyroclust fit vade --data shards/    # a folder of .npy/.npz shards, in name order
  pyroclust fit vae --beta 0 --latent-dim 2            # a representation, no clusters
  torchrun --nproc-per-node 2 -m pyroclust fit vade --out runs/ddp   # data-parallel
  pyroclust fit NAME --help                            # the options of one architecture
"""
MODEL_EXAMPLES = """\
examples:
  pyroclust fit {name}                                  # on the embedded digits
  pyroclust fit {name} --data mnist --data-dir ~/data --epochs 50 --out runs/{name}
  pyroclust fit {name} --out runs/{name} --resume       # continue an interrupted run
"""
NOTES = """
MODEL is a key of the zoo (pyroclust.zoo.ZOO). --data is a named data set or the path of a
.npz (arrays x and optionally y), .npy or .csv file (a column 'label' or 'y' holds labels;
--header and --index-col say how a .csv is laid out where guessing would be ambiguous). The
likelihood follows the data: Bernoulli when every value lies in [0, 1], Gaussian otherwise.
Options left out use the architecture's tuned recipe, else the estimator's defaults.

--out (default runs/MODEL-DATA-TIMESTAMP) receives: config.json (the options, reused by
--resume), train.ckpt (the whole fit, start included, written every epoch), model.ckpt (the
fitted estimator, for 'pyroclust predict' and 'pyroclust inspect'), metrics.json, labels.csv
(index,label; the index is the row's name from a .csv's --index-col; of the first cluster
site, and labels_SITE.csv for each other site of a ladder) and the plots
elbo.png and embedding.png (latent codes in 2-D: PCA when latent_dim > 2, coloured by
cluster). For image data (grey or colour) also samples.png
(samples of each cluster; one decoder each for k-DVAE), reconstructions.png (items over their
reconstructions, each decoded as a member of its own cluster), style_transfer.png (a few
items' codes decoded with each cluster, GMVAE's Fig. 4a) and, for ladder models (VLAC),
components_SITE.png per cluster site (Fig. 3) and layer_traversals.png (Fig. 2).

A .npy file or a folder of .npy/.npz shards is never loaded whole: the fit reads it
--chunk-size rows at a time (its initialisation sees a seeded subsample of at most
--init-max-samples rows), labels.csv gets a label for every row, written in blocks, and the
scores and plots are computed on a seeded subsample of at most --metrics-max-samples rows
(default 10,000; every row of a smaller file, so a .npy gives the run of the same rows in
memory). metrics.json says how many as metrics_rows (every row of data loaded whole);
n_clusters_used counts every row.

metrics.json holds the scores; start_ari, the agreement (adjusted Rand index) of the final
clusters with the initialisation's (start_acc beside acc when the data have labels); and
site_scores, every cluster site against every label set of the data (ACC, majority ACC, NMI,
ARI), printed as a table when there are several.

Under torchrun (several processes) each trains its shard of every batch; rank 0 checks the
folder, writes the run and prints, and metrics.json records world_size; --out is required.

A folder that holds a run is never overwritten without --overwrite; --resume refuses options
that differ from the saved ones (except --data-dir and --device) and writes nothing before its
checks pass.
"""


# ----------------------------------------------------------------------------- parser
def _init_takes(entry: zoo.Architecture, name: str) -> bool:
    return name in inspect.signature(entry.init).parameters


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def add_model_arguments(parser: argparse.ArgumentParser, entry: zoo.Architecture) -> None:
    """The options of ``pyroclust fit NAME`` for the registry entry ``entry``."""
    data = parser.add_argument_group("data")
    data.add_argument("--data", metavar="NAME|PATH", help="data set name or file (default: digits)")
    data.add_argument("--data-dir", metavar="DIR", help="where named data sets live")
    add_csv_arguments(data)
    if entry.options:
        model = parser.add_argument_group(f"{entry.name} options")
        for option in entry.options:
            text = option.help
            default = entry.option_default(option)
            if "default" not in text and default not in (None, inspect.Parameter.empty):
                text += f" (default: {_shown(default)})"
            group = model.add_mutually_exclusive_group() if option.switches else model
            group.add_argument(
                option.flag,
                dest=option.name,
                metavar=option.metavar,
                type=arg_type(option.parse),
                help=text,
            )
            for word, value in option.switches:
                group.add_argument(
                    f"--{word}",
                    dest=option.name,
                    action="store_const",
                    const=option.parse(str(value)),
                    help=f"{option.flag} {value}",
                )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", metavar="N", type=non_negative_int, help="SVI epochs")
    train.add_argument("--batch-size", metavar="B", type=positive_int, help="mini-batch size")
    train.add_argument("--lr", metavar="LR", type=positive_float, help="Adam learning rate")
    if _init_takes(entry, "pretrain_epochs"):
        train.add_argument(
            "--pretrain-epochs",
            metavar="N",
            type=non_negative_int,
            help="autoencoder pretraining epochs of the initialisation",
        )
    train.add_argument(
        "--seed", metavar="S", type=seed_type, help="random seed, 0 to 2**32-1 (default: 0)"
    )
    train.add_argument(
        "--chunk-size",
        metavar="ROWS",
        type=positive_int,
        help="rows read at a time from a .npy file or a folder of shards (default: "
        f"{DEFAULT_CHUNK_SIZE})",
    )
    train.add_argument(
        "--init-max-samples",
        metavar="ROWS",
        type=positive_int,
        help="rows the initialisation sees at most, a seeded subsample (default: 100000)",
    )
    train.add_argument("--device", choices=DEVICES, help="where to train (default: auto)")
    train.add_argument(
        "--threads",
        metavar="N",
        type=positive_int,
        help="torch's CPU threads (default: torch's own, one per core); 1 on a shared "
        "machine, where threads that wait for a busy core slow small fits tenfold",
    )
    train.add_argument(
        "--jit",
        choices=FAST_PATHS,
        help="a fast path for the ELBO's steps: 'fx' traces it once into a graph, 'inductor' "
        "also compiles that graph (about a minute), 'torchscript' is Pyro's JIT (deprecated)",
    )
    run_ = parser.add_argument_group("run")
    run_.add_argument("--out", metavar="DIR", help="output folder (default: runs/MODEL-DATA-TIME)")
    run_.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out (its saved options are reused)",
    )
    run_.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (without it, such a folder is refused)",
    )
    run_.add_argument(
        "--metrics-max-samples",
        metavar="ROWS",
        type=positive_int,
        help="for a .npy file or a folder of shards: rows of the seeded subsample that the "
        f"scores and plots see (default: {METRICS_MAX_SAMPLES})",
    )
    run_.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pyroclust fit``: one sub-parser per architecture of the zoo."""
    parser.description = DESCRIPTION
    parser.epilog = EXAMPLES + NOTES
    models = parser.add_subparsers(
        dest="model", metavar="MODEL", required=True, title="architectures (pyroclust.zoo.ZOO)"
    )
    for name, entry in zoo.ZOO.items():
        child = models.add_parser(
            name,
            help=entry.description,
            description=f"{entry.description}.\n{entry.paper}" if entry.paper else None,
            epilog=MODEL_EXAMPLES.format(name=name) + NOTES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_model_arguments(child, entry)


# ----------------------------------------------------------------------------- fitting
def _option_names(entry: zoo.Architecture) -> list[str]:
    return [*FIT_OPTIONS, *(option.name for option in entry.options)]


def fit_config(args: argparse.Namespace) -> dict[str, Any]:
    """The options of this fit: the command line, completed by a resumed run's config.json."""
    entry = zoo.ZOO[args.model]
    config = {key: getattr(args, key, None) for key in _option_names(entry)}
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
    if not isinstance(saved, dict):
        raise UsageError(f"cannot resume: {saved_path} does not hold the options of a run")
    if saved.get("model") != args.model:
        raise UsageError(
            f"cannot resume: {args.out} holds a {saved.get('model')!r} run, not {args.model!r}"
        )
    changed = [
        key
        for key, value in config.items()
        if value is not None and key not in RESUME_MAY_CHANGE and jsonable(value) != saved.get(key)
    ]
    if changed:
        flags = ", ".join(
            f"--{key.replace('_', '-')} {_shown(config[key])} (saved: {_shown(saved.get(key))})"
            for key in changed
        )
        raise UsageError(
            f"cannot resume: {flags} differs from the run in {args.out}; drop the option to "
            "resume with the saved value, or start a new run (another --out, or --overwrite)"
        )
    for key in config:
        if config[key] is None:
            config[key] = saved.get(key)
    return config


def builder_options(entry: zoo.Architecture, config: Mapping[str, Any], ds: Any) -> dict[str, Any]:
    """Keyword options of the entry's builder: the data's likelihood, number of classes and
    image shape where the builder takes them, then the options given."""
    kwargs: dict[str, Any] = {}
    if entry.accepts("likelihood"):
        kwargs["likelihood"] = "bernoulli" if ds.support == "unit" else "gaussian"
    if entry.accepts("n_components") and ds.n_classes:
        kwargs["n_components"] = ds.n_classes
    if entry.accepts("image_shape") and ds.image_shape is not None and ds.support == "unit":
        kwargs["image_shape"] = list(ds.image_shape)  # augmented training of the encoder
    for option in entry.options:
        value = config.get(option.name)
        if value is None:
            continue
        if option.target == "model":
            kwargs[option.name] = value
        elif option.implies is not None:  # e.g. a temperature schedule's start temperature
            kwargs.update(option.implies(value))
    return kwargs


def training_options(entry: zoo.Architecture, config: Mapping[str, Any], ds: Any) -> dict[str, Any]:
    """Keyword options of :class:`~pyroclust.estimator.Clusterer`: the entry's recipe for this
    data and its initialisation (the recipe's, else the entry's default), then the options
    given (``--pretrain-epochs`` sets the initialisation's ``pretrain_epochs``; the entry's
    ``target="training"`` options, such as GMVAE's ``--temperature``, go to its recipe)."""
    recipe = {
        option.name: config[option.name]
        for option in entry.options
        if option.target == "training" and config.get(option.name) is not None
    }
    options = zoo.default_training(entry.name, ds.n_samples, ds.image_shape, **recipe)
    for key in ("epochs", "batch_size", "lr", "jit", "chunk_size", "init_max_samples"):
        if config.get(key) is not None:
            options[key] = config[key]
    init = options.get("init")
    pretrain = config.get("pretrain_epochs")
    if pretrain is not None:
        fields = (
            {f.name for f in dataclasses.fields(init)} if dataclasses.is_dataclass(init) else ()
        )
        if "pretrain_epochs" in fields:
            init = dataclasses.replace(init, pretrain_epochs=pretrain)
        else:
            init = entry.default_init(pretrain_epochs=pretrain)
    options["init"] = init if init is not None else entry.default_init()
    return options


def make_estimator(
    architecture: str, config: Mapping[str, Any], ds: Any, out: Path, *, progress: bool = True
) -> Any:
    """The (unfitted) estimator of a ``fit`` run, its networks seeded by ``config["seed"]``."""
    from pyroclust.estimator import Clusterer
    from pyroclust.infer.elbo import seed_everything

    entry = zoo.ZOO[architecture]
    kwargs = builder_options(entry, config, ds)
    seed = 0 if config.get("seed") is None else int(config["seed"])
    seed_everything(seed)  # the networks' initial weights too, so a run is repeatable
    model, guide = zoo.make(architecture, ds.n_features, **kwargs)
    options = training_options(entry, config, ds)
    return Clusterer(
        model,
        guide,
        device=check_device(config.get("device")),
        random_state=seed,
        progress=progress,
        checkpoint=out / TRAIN_CHECKPOINT,
        **options,
    )


def _default_out(architecture: str, data_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in data_name) or "data"
    return Path("runs") / f"{architecture}-{safe}-{stamp}"


def write_fit_plots(est: Any, ds: Any, codes: np.ndarray, labels: Any, out: Path) -> list[Path]:
    """elbo.png, embedding.png and, for images, samples.png (per cluster when there are)."""
    from pyroclust import plots

    written = [out / "elbo.png", out / "embedding.png"]
    plots.plot_elbo(est.history_, written[0])
    colour = labels if labels is not None else (ds.y if ds.y is not None else np.zeros(len(codes)))
    plots.plot_embedding(codes, colour, written[1], method="pca")
    if ds.image_shape is not None:  # grey or colour images
        path = out / "samples.png"
        k = getattr(est.model_, "n_components", None)
        if k is not None:
            per_cluster = [est.sample(8, component=c) for c in range(int(k))]
            plots.plot_samples_grid(per_cluster, ds.image_shape, path, weights=est.weights_)
        else:
            plots.plot_image_grid(est.sample(64), ds.image_shape, path, title="Samples")
        written.append(path)
        path = out / "reconstructions.png"
        plots.plot_image_grid(
            reconstruction_rows(est, np.asarray(ds.x[:RECONSTRUCTED_ITEMS]), labels),
            ds.image_shape,
            path,
            n_cols=RECONSTRUCTED_ITEMS // 2,
            title="Items over their reconstructions",
        )
        written.append(path)
        sites = getattr(est, "cluster_sites_", ())
        if sites:  # a few items' codes decoded with each cluster of the first site
            path = out / "style_transfer.png"
            originals = np.asarray(ds.x[:8])
            shown = range(min(sites[0].n_components, STYLE_TRANSFER_CLUSTERS))
            decoded = [est.reconstruct(originals, component=c) for c in shown]
            plots.plot_style_transfer(originals, decoded, ds.image_shape, path)
            written.append(path)
    from pyroclust.cli import report

    written += report.write_layer_plots(est, ds, out)  # ladders: per-layer pictures
    return written


#: Clusters shown in style_transfer.png (the first ones), however many the model has.
STYLE_TRANSFER_CLUSTERS = 20
#: Items shown in reconstructions.png, in two rows of originals each above its reconstructions.
RECONSTRUCTED_ITEMS = 16


def reconstruction_rows(est: Any, originals: np.ndarray, labels: Any = None) -> np.ndarray:
    """The images of reconstructions.png: ``originals`` in rows of half their number, each
    row followed by the items' reconstructions. With cluster ``labels`` each item is decoded
    as a member of its own cluster (``reconstruct(component=label)``: k-DVAE's decoder of the
    item's cluster, VaDE's or GMVAE's code with that cluster), else by the model's point
    reconstruction."""
    originals = originals.reshape(len(originals), -1)
    decoded = np.empty_like(originals, dtype=float)
    if labels is None:
        decoded[:] = est.reconstruct(originals)
    else:
        assigned = np.asarray(labels)[: len(originals)]
        for c in np.unique(assigned):
            rows = assigned == c
            decoded[rows] = est.reconstruct(originals[rows], component=int(c))
    half = max(1, (len(originals) + 1) // 2)
    blocks = []
    for start in range(0, len(originals), half):
        blocks += [originals[start : start + half], decoded[start : start + half]]
    return np.concatenate(blocks)


def start_scores(est: Any, y: Any = None) -> dict[str, Any]:
    """How far the fit moved from its start, for metrics.json: ``start_ari``, the agreement
    (adjusted Rand index) between the initialisation's clustering and the final one, which
    needs no labels, and with labels ``y`` the start's own ``start_acc``, ``start_nmi`` and
    ``start_ari_true``; ``{}`` when the estimator recorded no start."""
    start = getattr(est, "start_labels_", None)
    if start is None:
        return {}
    from pyroclust.metrics import ari, cluster_accuracy, nmi

    scores: dict[str, Any] = {"start_ari": float(est.start_agreement_)}
    if y is not None:
        scores.update(
            start_acc=cluster_accuracy(y, start),
            start_nmi=nmi(y, start),
            start_ari_true=ari(y, start),
        )
    return scores


def weights_summary(est: Any, seed: int, num_samples: int = 500) -> dict[str, Any]:
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
        f"expected_n_clusters_above_{IN_USE:.0%}": float(
            est.expected_n_clusters(threshold=IN_USE, num_samples=num_samples, random_state=seed)
        ),
        "posterior": rows,
    }


def fit_data(config: Mapping[str, Any]) -> Any:
    """The data of a fit: a ``.npy`` file or a folder of shards as
    :class:`~pyroclust.cli.common.StreamedData` (read ``chunk_size`` rows at a time, never
    loaded whole: the fit equals the in-memory one while the file has at most ``chunk_size``
    rows, so there is no size above which to switch), anything else loaded
    (:func:`~pyroclust.cli.common.load_data`)."""
    if streams(config.get("data")):
        return open_streamed_data(config["data"], config.get("chunk_size"))
    return load_data(
        config.get("data") or "digits",
        config.get("data_dir"),
        config.get("header"),
        config.get("index_col"),
    )


def reported_rows(
    ds: Any, labels: np.ndarray | None, max_samples: int | None, seed: int
) -> tuple[Any, np.ndarray | None]:
    """The rows the scores and plots of a fit see, with their labels: an in-memory data set
    whole; data on disk as a seeded subsample of at most ``max_samples`` rows (default
    :data:`METRICS_MAX_SAMPLES`), every row when the file has no more."""
    if not isinstance(ds, StreamedData):  # in memory: every row
        return ds, labels
    cap = METRICS_MAX_SAMPLES if max_samples is None else int(max_samples)
    shown, index = ds.rows(cap, seed)
    if labels is None or index is None:
        return shown, labels
    return shown, labels[index]


def write_all_labels(
    path: Path, labels: np.ndarray, block: int, row_names: np.ndarray | None = None
) -> None:
    """labels.csv (``index,label``) for every row, written ``block`` rows at a time; the
    index is the row's name where the data have them (a CSV's ``--index-col``)."""
    with LabelWriter(path, row_names=row_names) as writer:
        for start in range(0, len(labels), block):
            writer.write(labels[start : start + block])


def run(args: argparse.Namespace) -> int:
    """Fit a model to a data set and write checkpoint, labels, metrics and plots."""
    from pyroclust.cli import report
    from pyroclust.infer.distributed import launch_rank, launch_world_size, world_size
    from pyroclust.metrics import clustering_scores, n_clusters_used

    started = time.perf_counter()
    main = launch_rank() == 0  # under torchrun only rank 0 checks, writes and prints
    if launch_world_size() > 1 and not args.out:
        raise UsageError("a data-parallel fit (torchrun) needs --out DIR, the same for every rank")
    # every check first: nothing is created or replaced before they all pass
    if args.out and main:
        check_run_folder(Path(args.out), overwrite=args.overwrite, resume=args.resume)
    config = fit_config(args)
    if args.resume and (Path(args.out) / "metrics.json").exists():
        raise UsageError(
            f"cannot resume: the run in {args.out} is finished (metrics.json is there); "
            "pass --overwrite instead of --resume to fit it again"
        )
    if config.get("threads") is not None:
        import torch

        torch.set_num_threads(int(config["threads"]))
    ds = fit_data(config)
    out = Path(args.out) if args.out else _default_out(args.model, ds.name)
    if not args.out:
        check_run_folder(out, overwrite=False, resume=False)
    est = make_estimator(args.model, config, ds, out, progress=not args.no_progress)
    resuming = bool(args.resume and (out / TRAIN_CHECKPOINT).is_file())

    if args.overwrite and main:  # the former run's files go, so none is taken for this run's
        for path in [*(out / name for name in RUN_FILES), *out.glob("components_*.png")]:
            if path.is_file():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    if not args.resume and main:  # a resumed run keeps its config.json (its options were compared)
        (out / CONFIG_FILE).write_text(
            json.dumps(jsonable({"model": args.model, **config}), indent=2)
        )
    if main:
        print(
            f"{PROG}: {'resuming' if resuming else 'fitting'} {args.model} on {ds.name} "
            f"({ds.n_samples} x {ds.n_features}, {ds.support} support) -> {out}",
            file=sys.stderr,
        )
    ckpt = out / TRAIN_CHECKPOINT
    try:
        est.fit(ds.x, resume=resuming)
    except KeyboardInterrupt:
        if ckpt.is_file():
            raise RunInterrupted(
                f"interrupted; the run is checkpointed in {ckpt}; continue it with: "
                f"{PROG} fit {args.model} --out {out} --resume"
            ) from None
        raise RunInterrupted(
            "interrupted before the first checkpoint was written; start again with: "
            f"{PROG} fit {args.model} --out {out} --resume"
        ) from None
    if main or world_size() > 1:  # in a process group every rank calls it: rank 0 writes
        est.save(out / MODEL_CHECKPOINT)
    if not main:  # the other ranks trained their shards; rank 0 reports
        return 0

    seed = int(config.get("seed") or 0)
    labels = getattr(est, "labels_", None)  # of every row
    shown, shown_labels = reported_rows(ds, labels, config.get("metrics_max_samples"), seed)
    codes = est.transform(shown.x)
    n_components = getattr(est.model_, "n_components", None)
    metrics: dict[str, Any] = {
        "model": args.model,
        "data": ds.name,
        "n_samples": ds.n_samples,
        "n_features": ds.n_features,
        "n_components": None if n_components is None else int(n_components),
        "latent_dim": int(codes.shape[1]),
        "world_size": launch_world_size(),
    }
    metrics["metrics_rows"] = shown.n_samples  # the rows the scores and plots saw
    if labels is not None:
        metrics.update(clustering_scores(codes, shown_labels, shown.y))
        metrics["n_clusters_used"] = n_clusters_used(labels)  # over every row
        metrics.update(start_scores(est, ds.y))
        by_site = report.site_scores(est, shown)
        if by_site:  # every cluster site against every label set of the data
            metrics["site_scores"] = by_site
        block = config.get("chunk_size") or DEFAULT_CHUNK_SIZE
        row_names = getattr(ds, "row_names", None)
        write_all_labels(out / "labels.csv", labels, block, row_names)
        for site in est.cluster_sites_[1:]:  # a ladder's other layers: a file each
            site_labels = est.predict(ds.x, site=site.name)
            write_all_labels(out / f"labels_{site.name}.csv", site_labels, block, row_names)
        metrics["weights"] = [float(w) for w in est.weights_]
        metrics["weights_summary"] = weights_summary(est, seed=seed)
    metrics["elbo"] = float(est.elbo_)
    metrics["epochs"] = int(est.n_iter_)
    write_fit_plots(est, shown, codes, shown_labels, out)
    metrics["seconds"] = time.perf_counter() - started
    (out / "metrics.json").write_text(json.dumps(jsonable(metrics), indent=2) + "\n")

    print_table({key: metrics.get(key) for key in SCORE_KEYS if key in metrics})
    by_site = metrics.get("site_scores", {})
    if len(by_site) > 1 or len(ds.label_sets) > 1:  # several partitions: the whole table
        print(report.format_site_table(by_site))
    print(f"results in {out}/ (metrics.json, {MODEL_CHECKPOINT}, labels.csv, *.png)")
    return 0
