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
"""

from __future__ import annotations

import argparse
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
from pyroclust.infer.init import RandomInit

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
        raise RuntimeError(f"pyroclust predict exited with {child.returncode}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, usage.ru_utime + usage.ru_stime, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of predict")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 500, 2000])
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pyroclust-streaming-"))
    load = os.getloadavg()[0]
    try:
        data = folder / "x.npy"
        t0 = time.perf_counter()
        write_file(data, args.rows)
        print(
            f"wrote {data} ({data.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s"
        )
        ckpt = save_model(folder, data, tuple(args.hidden))
        out = folder / "labels.csv"
        threads = str(args.threads)
        env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
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
    print(row, flush=True)
    table = markdown_table([row], list(row))
    if args.no_record:
        print(table)
    else:
        append_results(
            "Streaming predict: pyroclust predict on a memory-larger .npy",
            table,
            notes=f"VaDE 784-{'-'.join(map(str, args.hidden))}-10 (K=10), float32 rows in "
            "[0, 1]; wall and CPU seconds and peak RSS (VmHWM) of the `pyroclust predict` "
            "child process (start-up, loading, prediction, labels.csv); shared machine: load "
            f"average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        )


if __name__ == "__main__":
    main()
