"""Scale: VaDE with many components under each prior over the mixture weights (issue 3).

For each data set and weight prior, fits ``pyroclust.zoo.make("vade", ...)`` once on all the
data and reports NMI, ACC (Hungarian), the clusters in use against the true ones, the
fitted Zipf exponent and the seconds of the fit (pretraining + initialisation + SVI).

Data:

- ``synthetic``: :func:`pyroclust.datasets.make_zipf_mixture` with its defaults: K_true = 200
  clusters whose sizes follow Zipf(s = 1.1), a 32-dim latent Gaussian mixture mapped through
  a fixed random nonlinear network to 256 observed dims with noise, N = ``--n-samples``
  (50,000). VaDE with ``n_components = 256``, Gaussian likelihood, latent_dim 32.
  ``--n-clusters 1000 --n-samples 200000`` is issue 14's "many clusters" setting: K_true =
  1,000, fitted with the next power of two, 1,024 components.
- ``digits`` (and ``mnist``, or any name of :func:`pyroclust.datasets.load_dataset`): VaDE
  with ``n_components`` = 10 and 50, Bernoulli likelihood, latent_dim 10.

Weight priors (``--priors``, specs of :func:`pyroclust.zoo.make_weight_prior`): ``zipf`` (s
learned as a point estimate, started at 1.1), ``stick-breaking`` (truncated DP, alpha 1,
Beta posteriors over the sticks), ``learned`` (point-estimate weights: the one expected to
collapse or to keep every component alive), ``dirichlet`` (alpha 1, Dirichlet posterior).

Recipe, chosen so that one prior on the 50,000-row synthetic set took about 5 minutes on 2
CPU cores with a start on a subset of the rows (the every-row start below adds its UMAP; on
200,000 rows and 1,000 clusters a fit takes 16-18 minutes of issue 14's 30): encoder
D-512-256-d and the mirrored decoder (the paper's 500-500-2000 networks have about 5 times
the weights, and 256 dims of smooth data do not need them), batch 512,
Adam at 1e-3 decayed by 0.9 every 10 epochs, 20 SVI epochs after 10 epochs of autoencoder
pretraining, started by ``ManifoldInit(method="hdbscan")`` (``--init manifold``, the default):
an embedding of every row's code (t-SNE up to 10,000 rows, UMAP above) clustered by HDBSCAN,
which chooses its own number of clusters, so the big Zipf clusters are not split, with
scikit-learn's default smallest cluster of 5 rows (measured: NMI 0.78 -> 0.89 with the Zipf
prior against k-means on the codes; on 1,000 clusters and 200,000 rows, embedding every row
rather than a tenth raised the start from NMI 0.80 to 0.91, for about 9 more minutes, and a
floor of 5 rather than 25 rows raised it to 0.92: a higher floor leaves the small clusters
unfound and their rows inflate their neighbours, so more of those count 50 points). The
alternative ``--init kmeans`` is ``KMeansInit`` (3 restarts; k-means rather than
``GMMInit``, whose EM on top of k-means doubles the time, while SVI refines the variances and
weights anyway). A fixed-K mixture on the t-SNE embedding (``method="gmm"``) splits the big
clusters as k-means does (NMI 0.76 on 10,000 rows). The components are multivariate t's
(``MultivariateStudentT``, df 4; ``--components``, ``gaussian`` for VaDE's own): the rows of
clusters too small for HDBSCAN or a component of their own sit in the tails of their
neighbours, which diagonal Gaussians, pulled by them, re-cut into extra clusters as SVI
maximises the likelihood (an EM probe on fixed codes started at the truth went from 419 to
525 clusters of >= 50 points with Gaussians, 407 to 462 with t's). On 1,000 clusters and
200,000 rows, seed 0: clusters of >= 50 points 447 -> 418 (Zipf) and 470 -> 422
(stick-breaking) against 402 true, NMI 0.954 -> 0.954 and 0.951 -> 0.952. The small
image sets (below 10,000 rows) get batch 128 and 50 + 50 epochs, the paper's (they have few
steps per epoch); MNIST gets 10 + 20 at batch 512. The synthetic data are always those of
``random_state=0``; ``--seed`` seeds the fits only.

Baselines, in the same run on the same data (``--no-baselines`` skips them): k-means and UMAP
+ GMM on the raw data, each told the true number of clusters (which the models are not), with
one restart each beyond 100 clusters (10 and 5 below); and each fit's own start (``<prior>:
start``, ``Clusterer.start_labels_``, the clusters the initialisation found before SVI).
The fits run first and the baselines after them (the table lists the baselines first), so
that a fit's seconds are not taken while a 48-minute baseline shares the cores.

Columns:

- ``used``: clusters with at least one predicted point (``argmax p(y | x)``);
- ``used>=50``: predicted clusters with at least 50 points, the like of ``true>=50``;
- ``used(w)``: components whose fitted weight (``Clusterer.weights_``, the posterior mean for
  latent weights) exceeds 1/(10 K), the threshold of
  :func:`pyroclust.inspect.expected_n_clusters`. Under the Zipf prior it follows from s
  alone (at K = 256 every weight exceeds it while s <= 1.1), so there read ``used``;
- ``true>=50``: the true clusters with at least 50 points;
- ``alpha``: the stick-breaking prior's concentration after the fit (learned or fixed);
- ``s_fit``: with the Zipf prior, its learned exponent s; with the others, the least-squares
  Zipf slope (:func:`pyroclust.inspect.fit_zipf_exponent`) of the fitted weights above
  1/(10 K), so that the long tail of dead components does not steepen it;
- ``finite``: whether the ELBO history, the weights and ``predict_proba`` are all finite (a
  fit stopped by a non-finite loss is reported with ``finite = no`` and its error).

Targets (issue 3), synthetic data with the Zipf and stick-breaking priors: NMI >= 0.90 and
clusters in use within +-10% of ``true>=50``; the learned prior is reported beside them to
show whether it collapses. ``--check-large`` also builds VaDE with n_components = 1,024 and
latent_dim = 64 under each prior, runs a few SVI steps on random data and checks that the
ELBO, the weights, their posterior and ``predict_proba`` are all finite.

Usage::

    python benchmarks/scale.py                                 # synthetic + digits, 4 priors
    python benchmarks/scale.py --datasets synthetic --priors zipf,stick-breaking --check-large
    python benchmarks/scale.py --datasets digits,mnist --epochs 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import DEFAULT_DATA_DIR, append_results, comma_list, markdown_table, raw_baselines

from pyroclust import zoo
from pyroclust.datasets import load_dataset
from pyroclust.datasets.synthetic import make_zipf_mixture
from pyroclust.estimator import Clusterer
from pyroclust.exceptions import NonFiniteLossError
from pyroclust.infer.elbo import seed_everything
from pyroclust.infer.init import KMeansInit, ManifoldInit, RandomInit
from pyroclust.infer.schedules import StepDecay
from pyroclust.inspect import fit_zipf_exponent
from pyroclust.metrics import cluster_accuracy, n_clusters_used, nmi

MIN_TRUE_SIZE = 50
HDBSCAN_MIN_CLUSTER_SIZE = 5  # scikit-learn's default: the start finds clusters of any size
COMPONENTS = "multivariate-t"  # heavy tails hold the unresolved small clusters (docstring)
COLUMNS = [
    "data",
    "prior",
    "K",
    "NMI",
    "ACC",
    "used",
    "used>=50",
    "used(w)",
    "true>=50",
    "s_fit",
    "alpha",
    "finite",
    "seconds",
]


def settings(ds, args) -> list[tuple[int, dict, dict]]:
    """[(n_components, builder options, Clusterer options)] for the data set ``ds``."""
    if ds.name == "zipf-mixture":
        build = {"latent_dim": 32, "likelihood": "gaussian", "hidden": (512, 256)}
        # the next power of two at or above the true number of clusters (256 for 200)
        k = 1 << max(1, int(args.n_clusters - 1).bit_length())
        epochs, pretrain, batch, ks = 20, 10, 512, [k]
    else:
        likelihood = "bernoulli" if ds.support == "unit" else "gaussian"
        build = {"latent_dim": 10, "likelihood": likelihood, "hidden": (512, 256)}
        small = ds.n_samples < 10_000
        epochs, pretrain = (50, 50) if small else (20, 10)
        batch, ks = (128 if small else 512), [10, 50]
    build["components"] = args.components
    epochs = args.epochs if args.epochs is not None else epochs
    pretrain = args.pretrain_epochs if args.pretrain_epochs is not None else pretrain
    fit = {
        "epochs": epochs,
        "batch_size": batch,
        "lr": 1e-3,
        "lr_schedule": StepDecay(10, 0.9),
        "init": KMeansInit(pretrain_epochs=pretrain, batch_size=batch, n_init=3),
    }
    if args.init == "manifold":  # an embedding of the codes + HDBSCAN: the data choose how many
        # every row is embedded (a subset thins the small clusters below HDBSCAN's floor: a
        # tenth of 200,000 rows kept 5 points of a 50-point cluster, and the start found 244
        # of the 402 such clusters), and HDBSCAN keeps its own default smallest cluster
        # (HDBSCAN_MIN_CLUSTER_SIZE; why: the module docstring). t-SNE up to 10,000 rows,
        # UMAP above (ManifoldInit's own advice)
        fit["init"] = ManifoldInit(
            pretrain_epochs=pretrain,
            batch_size=batch,
            space="codes",
            embedding="tsne" if ds.n_samples <= 10_000 else "umap",
            method="hdbscan",
            max_samples=None,
            min_cluster_size=HDBSCAN_MIN_CLUSTER_SIZE,
        )
        fit["init_max_samples"] = None  # the start sees every row (Clusterer's cap: 100,000)
    return [(k, build, fit) for k in ks]


def zipf_exponent_of(est: Clusterer, prior: str) -> float:
    """The Zipf prior's learned s, else the Zipf slope of the weights above 1/(10 K)."""
    weights = est.model_.weights
    if prior.split(":")[0] == "zipf" and hasattr(weights, "exponent"):
        return float(weights.exponent.detach())
    w = np.asarray(est.weights_, dtype=float)
    return fit_zipf_exponent(w[w > 1.0 / (10.0 * len(w))])


def concentration_of(est: Clusterer) -> float | None:
    """The stick-breaking prior's concentration alpha after the fit (fixed or learned)."""
    weights = est.model_.weights
    return float(weights.concentration()) if hasattr(weights, "concentration") else None


def run_one(ds, prior: str, k: int, build: dict, fit: dict, seed: int) -> list[dict]:
    """The start's row and the fitted model's row of one prior."""
    seed_everything(seed)
    model, guide = zoo.make("vade", ds.n_features, n_components=k, weights=prior, **build)
    est = Clusterer(model, guide, random_state=seed, progress=False, device="cpu", **fit)
    t0 = time.perf_counter()
    try:
        est.fit(ds.x)
    except NonFiniteLossError as err:
        failed = {"data": ds.name, "prior": prior, "K": k, "true>=50": n_true_large(ds)}
        return [failed | {"seconds": time.perf_counter() - t0, "finite": "no", "error": str(err)}]
    seconds = time.perf_counter() - t0
    start = label_row(ds, f"{prior}: start", est.start_labels_)
    log_proba = est.predict_log_proba(ds.x)
    weights = np.asarray(est.weights_, dtype=float)
    elbos = np.array([h["elbo"] for h in est.history_], dtype=float)
    finite = bool(
        np.isfinite(elbos).all() and np.isfinite(weights).all() and np.isfinite(log_proba).all()
    )
    row = label_row(ds, prior, log_proba.argmax(1)) | {
        "K": k,
        "seconds": seconds,
        "used(w)": int(np.sum(weights > 1.0 / (10.0 * k))),
        "s_fit": zipf_exponent_of(est, prior),
        "alpha": concentration_of(est),
        "finite": "yes" if finite else "no",
    }
    return [start | {"K": k}, row]


def show(row: dict) -> None:
    """Print a finished row at once (a long run's log keeps what it has measured)."""
    print({c: round(v, 4) if isinstance(v, float) else v for c, v in row.items()}, flush=True)


def n_true_large(ds) -> int:
    """The true clusters of ``ds`` holding at least ``MIN_TRUE_SIZE`` rows."""
    _, true_counts = np.unique(ds.y, return_counts=True)
    return int(np.sum(true_counts >= MIN_TRUE_SIZE))


def label_row(ds, method: str, labels) -> dict:
    """A row of the table for a clustering ``labels`` of ``ds`` (a baseline or a start)."""
    return {
        "data": ds.name,
        "prior": method,
        "K": n_clusters_used(labels),
        "NMI": nmi(ds.y, labels),
        "ACC": cluster_accuracy(ds.y, labels),
        "used": n_clusters_used(labels),
        "used>=50": n_clusters_used(labels, min_size=MIN_TRUE_SIZE),
        "true>=50": n_true_large(ds),
    }


def baseline_rows(ds, seed: int) -> list[dict]:
    """k-means and UMAP + GMM on the raw data, told the true number of clusters."""
    k = int(ds.n_classes)
    restarts = (1, 1) if k > 100 else (10, 5)
    rows = []
    for method, labels, seconds in raw_baselines(ds.x, k, seed, restarts):
        rows.append(label_row(ds, method, labels) | {"seconds": seconds})
        show(rows[-1])
    return rows


def check_large(
    priors: list[str],
    seed: int,
    n_components: int = 1024,
    latent_dim: int = 64,
    components: str = COMPONENTS,
):
    """A few SVI steps of VaDE(n_components, latent_dim) on random data, under each prior,
    with the given component family: is every number (ELBO, weights, their posterior,
    predict_proba) finite?"""
    rng = np.random.default_rng(seed)
    n, n_features = 2 * n_components, 128
    x = rng.standard_normal((n, n_features)).astype(np.float32)
    rows = []
    for prior in priors:
        seed_everything(seed)
        model, guide = zoo.make(
            "vade",
            n_features,
            n_components=n_components,
            latent_dim=latent_dim,
            likelihood="gaussian",
            weights=prior,
            hidden=(128,),
            components=components,
        )
        # random components (no pretraining): the codes start far from most of them
        est = Clusterer(
            model,
            guide,
            epochs=2,
            batch_size=256,
            init=RandomInit(),
            random_state=seed,
            progress=False,
            device="cpu",
        )
        t0 = time.perf_counter()
        row = {"prior": prior, "K": n_components, "latent_dim": latent_dim, "steps": 0}
        try:
            est.fit(x)
        except NonFiniteLossError as err:
            row.update(finite="no", error=str(err), seconds=time.perf_counter() - t0)
            rows.append(row)
            continue
        checks = {
            "elbo": np.isfinite([h["elbo"] for h in est.history_]).all(),
            "weights": np.isfinite(est.weights_).all() and est.weights_.sum() > 0,
            "proba": np.isfinite(est.predict_proba(x)).all(),
            "log_proba": not np.isnan(est.predict_log_proba(x)).any(),
            "posterior": np.isfinite(est.expected_n_clusters(num_samples=50, random_state=0)),
            "params": all(
                torch.isfinite(p).all() for m in (est.model_, est.guide_) for p in m.parameters()
            ),
        }
        bad = [name for name, ok in checks.items() if not ok]
        row.update(
            steps=sum(-(-n // est.batch_size) for _ in est.history_),
            finite="yes" if not bad else "no",
            error=", ".join(bad),
            seconds=time.perf_counter() - t0,
        )
        rows.append(row)
        print(row)
    return rows


def load(name: str, args):
    if name == "synthetic":
        return make_zipf_mixture(
            n_samples=args.n_samples, n_clusters=args.n_clusters, random_state=0
        )
    return load_dataset(name, data_dir=args.data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synthetic,digits")
    parser.add_argument("--priors", default="zipf,stick-breaking,learned,dirichlet")
    parser.add_argument(
        "--n-samples", type=int, default=50_000, help="size of the synthetic data set"
    )
    parser.add_argument(
        "--n-clusters",
        type=int,
        default=200,
        help="true clusters of the synthetic data (the model gets the next power of two)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the SVI epochs")
    parser.add_argument(
        "--pretrain-epochs", type=int, default=None, help="override the pretraining epochs"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init",
        default="manifold",
        choices=["kmeans", "manifold"],
        help="start: k-means on the codes (K clusters), or ManifoldInit(method='hdbscan') "
        "(t-SNE of the codes clustered by HDBSCAN, which chooses its number of clusters)",
    )
    parser.add_argument(
        "--components",
        default=COMPONENTS,
        type=zoo.components_spec,
        help="family of p(z | y), a spec of pyroclust.zoo.make_components "
        "(gaussian, multivariate-t[:DF], student-t[:DF])",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument(
        "--check-large",
        action="store_true",
        help="also check that VaDE with 1,024 components and latent_dim 64 stays finite",
    )
    parser.add_argument("--notes", default="", help="added to the notes (e.g. the machine's load)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--no-baselines", action="store_true", help="the models only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    priors = comma_list(args.priors)
    names = comma_list(args.datasets)
    rows, interrupted = [], False
    try:
        for name in names:
            ds = load(name, args)
            at = len(rows)  # the table lists the baselines first, though they run last
            for k, build, fit in settings(ds, args):
                for prior in priors:
                    for row in run_one(ds, prior, k, build, fit, args.seed):
                        show(row)
                        rows.append(row)
            if not args.no_baselines:
                rows[at:at] = baseline_rows(ds, args.seed)
    except KeyboardInterrupt:  # Ctrl-C (SIGINT) records the rows finished so far
        interrupted = True
    table = markdown_table(rows, COLUMNS) if rows else ""  # none with --datasets ""
    errors = [f"{r['data']}/{r['prior']}/K={r['K']}: {r['error']}" for r in rows if "error" in r]
    if errors:
        table += "\n\nErrors:\n\n" + "\n".join(f"- {e}" for e in errors)
    if args.check_large and not interrupted:
        large = check_large(priors, args.seed, components=args.components)
        cols = ["prior", "K", "latent_dim", "steps", "finite", "error", "seconds"]
        table += "\n\nLarge model, random data (non-finite check):\n\n" + markdown_table(
            large, cols
        )
        table = table.lstrip("\n")
    notes = (
        f"torch threads {torch.get_num_threads()}, seed {args.seed}, init {args.init}, "
        f"components {args.components}, "
        + (
            f"synthetic N = {args.n_samples}, K_true = {args.n_clusters}; "
            if "synthetic" in names
            else ""
        )
        + "used = clusters with >= 1 predicted point, "
        "used(w) = weights > 1/(10K)"
    ) + (f"; {args.notes}" if args.notes else "")
    notes += "; interrupted: the rows finished before the stop" if interrupted else ""
    if args.no_record:
        print(table)
    else:
        append_results("VaDE at scale: weight priors with many clusters", table, notes=notes)


if __name__ == "__main__":
    main()
