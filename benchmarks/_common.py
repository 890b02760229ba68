"""Shared helpers of the benchmark scripts: machine description and RESULTS.md rows."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
DEFAULT_DATA_DIR = HERE.parent.parent / "shared" / "data"


def machine() -> str:
    """CPU model, cores, and GPU when one is used."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def commit() -> str:
    """Short hash of HEAD (with '+dirty' when the tree has changes)."""
    try:
        sha = subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True
        ).strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "pyroclust"], cwd=HERE
        ).returncode
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


T = TypeVar("T")

STARTED_AT_COMMIT = commit()
"""The commit the benchmark started from (a run can outlast later commits)."""


def comma_list(text: str, cast: Callable[[str], T] = str) -> list[T]:
    """The items of a comma-separated command-line value, stripped, blanks dropped, each cast."""
    return [cast(item.strip()) for item in text.split(",") if item.strip()]


def svi_step_seconds(
    model,
    guide,
    x: torch.Tensor,
    batch: int,
    steps: int,
    *,
    clock: str = "wall",
    device: str = "cpu",
    **trainer_options,
) -> float:
    """Seconds per SVI step of ``SVITrainer(model, guide)`` on the first ``2 * batch`` rows of
    ``x``, about ``steps`` steps after one untimed warm-up epoch (optimiser state, ELBO
    set-up, tracing); ``clock`` is ``"wall"`` (``time.perf_counter``) or ``"cpu"`` (this
    process's CPU time, ``time.process_time``: fair on a shared machine). Other options go
    to the trainer (``jit``, ``optimizer``...)."""
    import math
    import time

    from pyroclust.infer import SVITrainer

    now = time.process_time if clock == "cpu" else time.perf_counter
    marks: list[float] = []

    def mark(*_) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
        marks.append(now())

    data = x[: 2 * batch]
    per_epoch = math.ceil(len(data) / batch)
    trainer = SVITrainer(
        model,
        guide,
        epochs=1 + max(1, steps // per_epoch),
        batch_size=batch,
        progress=False,
        device=device,
        random_state=0,
        callbacks=[mark],
        **trainer_options,
    )
    trainer.fit(data)
    return (marks[-1] - marks[0]) / ((trainer.epochs - 1) * per_epoch)


def append_results(title: str, table: str, *, notes: str = "") -> None:
    """Append a section with the table, machine, date, commit and command to RESULTS.md."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python " + " ".join([os.path.relpath(sys.argv[0], HERE.parent), *sys.argv[1:]])
    block = (
        f"\n## {title}\n\n"
        f"- date: {stamp}\n- machine: {machine()}\n- commit: {STARTED_AT_COMMIT}\n"
        f"- command: `{command}`\n" + (f"- notes: {notes}\n" if notes else "") + f"\n{table}\n"
    )
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in benchmarks/.\n")
    with RESULTS.open("a") as fh:
        fh.write(block)
    print(block)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub markdown table of ``rows`` (dicts) with the given columns."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


# ---------------------------------------------------------------------------------------------
# the baselines every clustering figure stands beside, one implementation for every script
# ---------------------------------------------------------------------------------------------
def kmeans_labels(x, n_clusters: int, seed: int, n_init: int = 10):
    """k-means on the raw data (``n_init`` restarts)."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters, n_init=n_init, random_state=seed).fit_predict(x)


def umap_embedding(x, seed: int, n_clusters: int | None = None):
    """The UMAP embedding of the raw data (20 neighbours, min_dist 0) the UMAP + GMM
    baseline clusters: the zoo's own ``ManifoldInit(embedding="umap").embed``, so the start
    and the baseline embed alike, in ``umap_dims(n_clusters)`` dimensions (the clusters,
    between 2 and 10); 2-D without ``n_clusters``."""
    import numpy as np

    from pyroclust.infer.init.manifold import ManifoldInit

    manifold = ManifoldInit(
        embedding="umap", n_neighbors=20, n_dims=2 if n_clusters is None else None
    )
    return manifold.embed(np.asarray(x), seed, n_clusters)


def gmm_labels(embedding, n_clusters: int, seed: int, n_init: int = 5):
    """A full-covariance Gaussian mixture (``n_init`` restarts) on an embedding."""
    from sklearn.mixture import GaussianMixture

    gmm = GaussianMixture(n_clusters, covariance_type="full", n_init=n_init, random_state=seed)
    return gmm.fit_predict(embedding)


def raw_baselines(
    x, n_clusters: int, seed: int, restarts: tuple[int, int] = (10, 5)
) -> list[tuple[str, object, float]]:
    """``(method, labels, seconds)`` of k-means and of UMAP + GMM on the raw data ``x``;
    ``restarts`` are k-means' and the GMM's (fewer for hundreds of clusters)."""
    import time

    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    t0 = time.perf_counter()
    labels = kmeans_labels(x, n_clusters, seed, restarts[0])
    rows = [("k-means (raw)", labels, time.perf_counter() - t0)]
    t0 = time.perf_counter()
    labels = gmm_labels(umap_embedding(x, seed, n_clusters), n_clusters, seed, restarts[1])
    rows.append(("UMAP + GMM (raw)", labels, time.perf_counter() - t0))
    return rows


def scores(y, labels) -> dict:
    """ACC (Hungarian), NMI, ARI against the labels ``y``, and the clusters used."""
    from pyroclust.metrics import ari, cluster_accuracy, n_clusters_used, nmi

    return {
        "acc": cluster_accuracy(y, labels),
        "nmi": nmi(y, labels),
        "ari": ari(y, labels),
        "used": n_clusters_used(labels),
    }


def baselines(ds, seed: int) -> list[dict]:
    """Rows of k-means and UMAP + GMM on the raw data of ``ds`` at its number of classes:
    ``method``, the :func:`scores` and ``s/fit``."""
    return [
        {"method": method, **scores(ds.y, labels), "s/fit": seconds}
        for method, labels, seconds in raw_baselines(ds.x, ds.n_classes, seed)
    ]
