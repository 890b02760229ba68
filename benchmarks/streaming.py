"""Streaming prediction: ``pyroclust predict`` on a .npy file larger than a process should hold.

Writes a (rows x 784) float32 ``.npy`` file (values in [0, 1]) in a temporary folder, block by
block, saves a VaDE (the paper's networks, untrained: the arithmetic of a prediction does
not depend on the weights), then runs ``pyroclust predict`` on the file in a child process
and reports its wall and CPU seconds, rows per second and peak resident memory (the child's
``VmHWM``, read from /proc while it runs: ``ru_maxrss`` would include this process's own peak,
which writing the file raises, because a child created by vfork records its parent's peak
when it execs). The folder is deleted at the end.

    python benchmarks/streaming.py [--rows 1000000] [--chunk-size 65536] [--threads 1]
        [--hidden 500 500 2000]

With ``--fit``, the child fits a VaDE instead (``Clusterer.fit`` on ``np.load(path,
mmap_mode="r")``: a validation pass, the initialisation on ``--init-max-samples`` rows with
``--pretrain-epochs`` of pretraining, the start's labels of every row, ``--epochs`` of SVI
streamed ``--chunk-size`` rows at a time, the final labels) and reports the same figures, so
that its peak RSS stands beside the file's size:

    python benchmarks/streaming.py --fit --rows 300000 --epochs 1 --init-max-samples 50000

With ``--fit --cli``, the child is ``pyroclust fit vade --data x.npy`` (the command line's
streamed fit: VaDE's recipe with ``--epochs``, ``--pretrain-epochs``, ``--init-max-samples``
and ``--chunk-size``, then labels.csv for every row and the scores and plots on a subsample
of ``--metrics-max-samples`` rows), checked to write a label per row:

    python benchmarks/streaming.py --fit --cli --rows 300000 --init-max-samples 50000 --hidden 256
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import append_results, markdown_table

from pyroclust.datasets.streaming import DEFAULT_CHUNK_SIZE, open_stream
from pyroclust.estimator import Clusterer
from pyroclust.infer.init import GMMInit, RandomInit

WIDTH = 784


def write_file(path: Path, rows: int, block: int = 50_000) -> None:
    """A (rows, 784) float32 .npy written block by block (never whole in memory)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, WIDTH))
    rng = np.random.default_rng(0)
    for start in range(0, rows, block):
        n = min(block, rows - start)
        out[start : start + n] = rng.random((n, WIDTH), dtype=np.float32)
        out.flush()
    del out


def save_model(folder: Path, data: Path, hidden: tuple[int, ...]) -> Path:
    """A VaDE for 784 features saved as model.ckpt (no training: epochs=0)."""
    x = open_stream(data).take(np.arange(512))
    est = Clusterer(
        "vade",
        n_components=10,
        model_options={"hidden": hidden},
        epochs=0,
        init=RandomInit(),
        device="cpu",
        progress=False,
        random_state=0,
    ).fit(x)
    path = folder / "model.ckpt"
    est.save(path)
    return path


def run_child(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``command``; return its wall seconds, CPU seconds and peak RSS in MB."""
    t0 = time.perf_counter()
    child = subprocess.Popen(command, env=env)
    status = Path(f"/proc/{child.pid}/status")
    peak_kb = 0
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    seconds = time.perf_counter() - t0
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:5])} exited with {child.returncode}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, usage.ru_utime + usage.ru_stime, peak_kb / 1024


def fit_in_child(args: argparse.Namespace) -> None:
    """The child of ``--fit``: fit a VaDE on the memory-mapped file ``args.child_fit``."""
    import torch

    torch.set_num_threads(args.threads)
    mapped = np.load(args.child_fit, mmap_mode="r")
    est = Clusterer(
        "vade",
        n_components=10,
        model_options={"hidden": tuple(args.hidden)},
        epochs=args.epochs,
        init=GMMInit(pretrain_epochs=args.pretrain_epochs),
        init_max_samples=args.init_max_samples,
        chunk_size=args.chunk_size,
        device="cpu",
        progress=False,
        random_state=0,
    ).fit(mapped)
    if est.labels_.shape != (len(mapped),):
        raise RuntimeError("labels of the wrong shape")
    print({r["stage"]: round(r["seconds"], 1) for r in est.stage_history_}, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of predict")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 500, 2000])
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    parser.add_argument("--fit", action="store_true", help="time a streamed fit, not predict")
    parser.add_argument("--epochs", type=int, default=1, help="SVI epochs of --fit")
    parser.add_argument("--pretrain-epochs", type=int, default=1, help="pretraining of --fit")
    parser.add_argument("--init-max-samples", type=int, default=100_000, help="of --fit")
    parser.add_argument("--cli", action="store_true", help="--fit as `pyroclust fit vade`")
    parser.add_argument("--metrics-max-samples", type=int, default=10_000, help="of --cli")
    parser.add_argument("--child-fit", help=argparse.SUPPRESS)  # the child process of --fit
    args = parser.parse_args()
    if args.child_fit:
        fit_in_child(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="pyroclust-streaming-"))
    load = os.getloadavg()[0]
    try:
        data = folder / "x.npy"
        t0 = time.perf_counter()
        write_file(data, args.rows)
        print(
            f"wrote {data} ({data.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s"
        )
        threads = str(args.threads)
        env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        if args.fit and args.cli:
            row = run_cli_fit(args, data, folder / "run", env)
            return record(args, row, load)
        if args.fit:
            row = run_fit(args, data, env)
            return record(args, row, load)
        ckpt = save_model(folder, data, tuple(args.hidden))
        out = folder / "labels.csv"
        command = [
            sys.executable,
            "-m",
            "pyroclust",
            "predict",
            str(ckpt),
            "--data",
            str(data),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--chunk-size",
            str(args.chunk_size),
        ]
        seconds, cpu, peak_mb = run_child(command, env)
        with open(out) as handle:
            written = sum(1 for _ in handle) - 1
        if written != args.rows:
            raise RuntimeError(f"{written} labels written for {args.rows} rows")
        row = {
            "rows": args.rows,
            "features": WIDTH,
            "file GB": data.stat().st_size / 1e9,
            "chunk": args.chunk_size,
            "threads": args.threads,
            "seconds": seconds,
            "rows/s": args.rows / seconds,
            "CPU s": cpu,
            "rows/CPU s": args.rows / cpu,
            "peak RSS MB": peak_mb,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record(args, row, load)


def run_fit(args: argparse.Namespace, data: Path, env: dict[str, str]) -> dict[str, object]:
    """Fit in a child process on the file ``data``; its figures as a table row."""
    command = [sys.executable, __file__, "--child-fit", str(data), "--threads", str(args.threads)]
    command += ["--chunk-size", str(args.chunk_size), "--epochs", str(args.epochs)]
    command += ["--pretrain-epochs", str(args.pretrain_epochs)]
    command += ["--init-max-samples", str(args.init_max_samples), "--hidden"]
    command += [str(h) for h in args.hidden]
    return fit_row(args, data, run_child(command, env), epochs=args.epochs)


def fit_row(
    args: argparse.Namespace,
    data: Path,
    measured: tuple[float, float, float],
    *,
    epochs: object,
    metrics_rows: object = None,
) -> dict[str, object]:
    """The table row of a fit on ``data``: its settings and ``measured`` (seconds, CPU
    seconds, peak RSS in MB)."""
    seconds, cpu, peak_mb = measured
    row: dict[str, object] = {
        "rows": args.rows,
        "features": WIDTH,
        "file GB": data.stat().st_size / 1e9,
        "chunk": args.chunk_size,
        "init rows": min(args.init_max_samples, args.rows),
    }
    if metrics_rows is not None:
        row["metrics rows"] = metrics_rows
    row.update(
        {
            "pretrain epochs": args.pretrain_epochs,
            "SVI epochs": epochs,
            "threads": args.threads,
            "seconds": seconds,
            "CPU s": cpu,
            "peak RSS MB": peak_mb,
        }
    )
    return row


def run_cli_fit(
    args: argparse.Namespace, data: Path, out: Path, env: dict[str, str]
) -> dict[str, object]:
    """``pyroclust fit vade --data data`` in a child process; its figures as a table row."""
    command = [sys.executable, "-m", "pyroclust", "fit", "vade", "--data", str(data)]
    command += ["--out", str(out), "--device", "cpu", "--no-progress", "--n-components", "10"]
    command += ["--hidden", ",".join(map(str, args.hidden)), "--epochs", str(args.epochs)]
    command += ["--pretrain-epochs", str(args.pretrain_epochs), "--chunk-size"]
    command += [str(args.chunk_size), "--init-max-samples", str(args.init_max_samples)]
    command += ["--metrics-max-samples", str(args.metrics_max_samples)]
    env = dict(env, PYTHONPATH=str(Path(__file__).resolve().parents[1]), MPLBACKEND="Agg")
    measured = run_child(command, env)
    with open(out / "labels.csv") as handle:
        written = sum(1 for _ in handle) - 1
    if written != args.rows:
        raise RuntimeError(f"{written} labels written for {args.rows} rows")
    metrics = json.loads((out / "metrics.json").read_text())
    return fit_row(
        args, data, measured, epochs=metrics["epochs"], metrics_rows=metrics["metrics_rows"]
    )


def record(args: argparse.Namespace, row: dict[str, object], load: float) -> None:
    """Print the row, and append it to RESULTS.md unless ``--no-record``."""
    print(row, flush=True)
    table = markdown_table([row], list(row))
    if args.no_record:
        print(table)
        return
    network = f"VaDE 784-{'-'.join(map(str, args.hidden))}-10 (K=10), float32 rows in [0, 1]"
    shared = (
        f"shared machine: load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    if args.fit and args.cli:
        append_results(
            "Streaming fit: pyroclust fit vade --data big.npy (the command line)",
            table,
            notes=f"{network}; VaDE's CLI recipe (ManifoldInit: UMAP on the `init rows`, "
            "alignment, SVI with StartAgreement) with the epochs given; wall and CPU seconds "
            "and peak RSS (VmHWM) of the child process (start-up, a range scan, validation, "
            "the initialisation, start labels, SVI streamed chunk by chunk, final labels, "
            "labels.csv of every row, scores and plots on `metrics rows` rows, model.ckpt); "
            f"{shared}",
        )
        return
    if args.fit:
        append_results(
            "Streaming fit: Clusterer.fit on a memory-mapped .npy",
            table,
            notes=f"{network}; GMMInit on a subsample of `init rows`; wall and CPU seconds and "
            "peak RSS (VmHWM) of the child process (start-up, a validation pass, the "
            "initialisation, start labels of every row, SVI streamed chunk by chunk, final "
            f"labels); {shared}",
        )
        return
    append_results(
        "Streaming predict: pyroclust predict on a memory-larger .npy",
        table,
        notes=f"{network}; wall and CPU seconds and peak RSS (VmHWM) of the `pyroclust "
        f"predict` child process (start-up, loading, prediction, labels.csv); {shared}",
    )


if __name__ == "__main__":
    main()
