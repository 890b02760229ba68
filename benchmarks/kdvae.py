"""k-DVAE and k-DAE (issue 12): (A) the speed of the batched networks, (B) clustering quality.

**Part A, speed** (``python benchmarks/kdvae.py speed``). At k = 50 clusters, CPU, batch 256,
one SVI step of the registry's k-DVAE (the paper's networks: per cluster an encoder
D-500-100-2d and a decoder d-100-500-D, q(y|x) an MLP D-500-100-K; the soft ELBO,
``TraceEnum_ELBO``, Adam) with its K encoders and K decoders as one
:class:`~pyroclust.nn.BatchedMLP` each, against the same pair whose encoders and decoders are a
Python loop over 50 separate :class:`~pyroclust.nn.MLP` (``LoopedMLP`` below) holding the same
weights. Before timing, the two losses are checked equal for the same noise (same ELBO, same
weights). Timings alternate between the two (blocks of steps, repeated) and the medians are
compared as a ratio in the same run, at each torch thread count asked for. Target: >= 3x.
Beside the times: the FLOPs of the step's matrix products (counted, equal for both), the rate
each step reaches, the machine's sgemm rate and the speed-up bound it implies (a step of
nothing but its matrix products at that rate), and the page faults per step. ``--optimizer
fused`` takes Adam's fused kernel instead of the trainer's; ``--allocator keep`` makes glibc
keep freed memory (both sides alike), removing the fresh pages every large tensor costs.

**Part B, quality** (``python benchmarks/kdvae.py quality``). For each data set, fits the
registry's k-DVAE and k-DAE with the command line's defaults
(``pyroclust.zoo.default_training``, the model built as ``pyroclust fit kdvae`` builds it) once
per seed and objective, and reports beside them, in the same run on the same data:

- the baselines: k-means on the raw data, UMAP + GMM on the raw data (UMAP in
  ``umap_dims(K)`` dimensions, full-covariance GMM; ``benchmarks/gmvae.py``'s);
- what each stage of the start leaves (``MixtureOfAutoencodersInit.stages_``): VaDE's start
  (its clusters before SVI), VaDE's own clustering, the starting clusters (k-means on VaDE's
  codes, or VaDE's own), q(y | x) after each autoencoder is pretrained on its cluster, q(y | x)
  after it is fitted further to the clusters (when the recipe has that stage; the last stage is
  marked ``start``: the model's start, before joint training), and the final model
  (``predict``: q(y | x)), with eq. 8's clustering beside it;
- ACC (Hungarian), NMI, ARI, clusters used, seconds per fit (wall clock and CPU), and the
  seconds of each stage (wall clock and CPU).

Objectives (``--variants``): ``kdvae`` (the soft ELBO, the default), ``kdvae-hard`` (eq. 6,
``HardAssignmentLoss``), ``kdae`` (k-DAE, ``MinReconstructionLoss``, its registry recipe).
Targets (issue 12): digits ACC >= 0.93 over 5 seeds in <= 90 s per fit, the final model no
worse than its start; MNIST ACC >= 0.979 over >= 3 seeds (``--max-rows`` subsamples, and the
table says so).

**Part C, pretraining speed** (``python benchmarks/kdvae.py pretrain-speed``): the start's
per-cluster pretraining step (``ClusterReconstructionLoss``), each row through its own
autoencoder only (``BatchedMLP.grouped``), against scoring every row by every autoencoder and
reading its own column, at K = 10 and 50, D = 784, batch 256.

Usage::

    python benchmarks/kdvae.py pretrain-speed [--k 10,50] [--threads 1]
    python benchmarks/kdvae.py speed [--threads 1,2] [--widths 64,784] [--steps 10]
        [--optimizer trainer|fused] [--allocator system|keep]
    python benchmarks/kdvae.py quality [--seeds 0,1,2,3,4] [--variants kdvae,kdvae-hard,kdae]
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import ctypes.util
import itertools
import multiprocessing
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pyro
import torch
from _common import DEFAULT_DATA_DIR, append_results, baselines, comma_list, markdown_table, scores
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pyroclust import zoo
from pyroclust.datasets import load_dataset
from pyroclust.estimator import Clusterer
from pyroclust.infer.elbo import local_params, make_elbo
from pyroclust.infer.trainer import default_optimizer
from pyroclust.metrics import cluster_accuracy
from pyroclust.models.kdvae import HardAssignmentLoss, hard_assignments
from pyroclust.nn import BatchedMLP


# ---------------------------------------------------------------------------------------------
# part A: batched networks vs a Python loop over networks
# ---------------------------------------------------------------------------------------------
class LoopedMLP(nn.Module):
    """The baseline: the k networks of a :class:`BatchedMLP` as k separate MLPs (copies of its
    weights), run one after another in a Python loop; same inputs and outputs."""

    def __init__(self, batched: BatchedMLP) -> None:
        super().__init__()
        self.nets = nn.ModuleList(batched.network(i) for i in range(batched.n_networks))
        self.n_networks = batched.n_networks
        self.out_features = batched.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # shared input
            return torch.stack([net(x) for net in self.nets])
        return torch.stack([net(xi) for net, xi in zip(self.nets, x)])


def pairs(n_features: int, k: int, hidden: tuple[int, ...] = (500, 100)) -> tuple[tuple, tuple]:
    """The registry's k-DVAE pair (batched) and a copy with looped networks, same weights."""
    torch.manual_seed(0)
    model, guide = zoo.make("kdvae", n_features, n_components=k, hidden=hidden)
    looped_model, looped_guide = copy.deepcopy(model), copy.deepcopy(guide)
    looped_model.decoder = LoopedMLP(model.decoder)
    looped_guide.encoder = LoopedMLP(guide.encoder)
    return (model, guide), (looped_model, looped_guide)


def loss_of(pair: tuple, elbo, x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    pyro.set_rng_seed(seed)
    return elbo.differentiable_loss(*pair, x, data_size=n)


class Stepper:
    """One SVI step as :class:`~pyroclust.infer.SVITrainer` takes it: zero the gradients,
    the ELBO's differentiable loss of the batch, backward, the trainer's optimizer
    (:func:`~pyroclust.infer.trainer.default_optimizer`, Adam with multi-tensor kernels)."""

    def __init__(self, pair: tuple, elbo, optimizer: str = "trainer") -> None:
        self.pair, self.elbo = pair, elbo
        params = [*pair[0].parameters(), *pair[1].parameters()]
        self.optim = OPTIMIZERS[optimizer](params, lr=1e-4)

    def backward(self, x: torch.Tensor, n: int) -> None:
        self.optim.zero_grad(set_to_none=True)
        self.elbo.differentiable_loss(*self.pair, x, data_size=n).backward()

    def step(self, x: torch.Tensor, n: int) -> None:
        self.backward(x, n)
        self.optim.step()

    def matmul_flops(self, x: torch.Tensor, n: int) -> int:
        """Floating-point operations of the matrix products of one step's loss and backward
        (``torch.utils.flop_counter``); the optimizer's elementwise update is not counted."""
        with FlopCounterMode(display=False) as counter:
            self.backward(x, n)
        self.optim.zero_grad(set_to_none=True)
        return counter.get_total_flops()

    def time(self, batches: list[torch.Tensor], n: int) -> tuple[float, float, float]:
        """Wall-clock and CPU seconds (this process, all threads) and minor page faults (fresh
        memory pages the kernel had to map and zero) per step over ``batches`` (on CUDA the
        device is synchronised before and after, so the wall clock holds the kernels)."""
        cuda = batches[0].is_cuda
        if cuda:
            torch.cuda.synchronize()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0, c0 = time.perf_counter(), time.process_time()
        for x in batches:
            self.step(x, n)
        if cuda:
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        return wall / len(batches), cpu / len(batches), faults / len(batches)


#: The optimizers a step can take: the trainer's (Adam, multi-tensor kernels) or Adam's fused
#: kernel (one pass over each parameter, no temporaries; same update up to rounding).
OPTIMIZERS = {
    "trainer": default_optimizer,
    "fused": lambda params, lr: torch.optim.Adam(params, lr=lr, fused=True),
}


def keep_freed_memory() -> None:
    """Make glibc's ``malloc`` serve every block from its heap and never hand freed memory back
    to the system (``mallopt``: no ``mmap`` for large blocks, no trimming), for this process.

    By default a block over the mmap threshold (at most 32 MB) is mapped afresh on every
    allocation and unmapped when freed, so every large tensor of every step costs one page
    fault per 4 KiB page, the kernel zeroing each page (torch's CPU allocator does not cache).
    This shows what a step costs once memory is reused, for both networks alike."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    m_trim_threshold, m_mmap_max = -1, -4
    if not (libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 2**31 - 1)):
        raise RuntimeError("mallopt refused the setting (not glibc?)")


def sgemm_rate(size: int = 1024, repeats: int = 5, device: str = "cpu") -> float:
    """The best single-precision matrix product rate of this process, FLOP per CPU second
    (a square product of ``size``), at the current thread count: the reference for what the
    matrix products of a step could reach. On CUDA: FLOP per wall second of the device."""
    a = torch.rand(size, size, device=device)
    b = torch.rand(size, size, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            a @ b
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
            continue
        c0 = time.process_time()
        a @ b
        best = min(best, time.process_time() - c0)
    return 2 * size**3 / best


def speed_at(
    x: torch.Tensor,
    k: int,
    batch: int,
    steps: int,
    repeats: int,
    hidden: tuple[int, ...],
    optimizer: str = "trainer",
    device: str = "cpu",
) -> dict:
    n = len(x)
    batched, looped = pairs(x.shape[1], k, hidden)
    x = x.to(device)
    for module in (*batched, *looped):
        module.to(device)
    pairs_ = {"batched": batched, "loop": looped}
    xb = x[:batch]
    with local_params():
        elbo = make_elbo(batched[0], xb, guide=batched[1], data_size=n)
        a, b = loss_of(batched, elbo, xb, n, 0), loss_of(looped, elbo, xb, n, 0)
        rel = abs(a.item() - b.item()) / abs(a.item())
        if rel > 1e-5:
            raise AssertionError(f"the two losses differ: {a.item()} vs {b.item()}")
        steppers = {name: Stepper(pair, elbo, optimizer) for name, pair in pairs_.items()}
        flops = {name: s.matmul_flops(xb, n) for name, s in steppers.items()}
        if flops["batched"] != flops["loop"]:
            raise AssertionError(f"the two steps' matrix products differ: {flops}")
        g = torch.Generator().manual_seed(0)
        batches = [x[torch.randperm(n, generator=g)[:batch].to(device)] for _ in range(steps)]
        for s in steppers.values():  # warm-up, not timed
            s.time(batches[:2], n)
        times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in steppers}
        for _ in range(repeats):  # alternate, so that a busy moment hits both
            for name, s in steppers.items():
                times[name].append(s.time(batches, n))
    med = {name: statistics.median(w for w, _, _ in t) for name, t in times.items()}
    cpu = {name: statistics.median(c for _, c, _ in t) for name, t in times.items()}
    faults = {name: statistics.median(f for _, _, f in t) for name, t in times.items()}
    gflop, peak = flops["batched"] / 1e9, sgemm_rate(device=device) / 1e9
    return {
        "device": device,
        "D": x.shape[1],
        "hidden": "-".join(map(str, hidden)),
        "k": k,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "loss rel. diff": rel,
        "batched ms/step": 1e3 * med["batched"],
        "loop ms/step": 1e3 * med["loop"],
        "speed-up": med["loop"] / med["batched"],
        "batched CPU ms": 1e3 * cpu["batched"],
        "loop CPU ms": 1e3 * cpu["loop"],
        "CPU speed-up": cpu["loop"] / cpu["batched"],
        "optimizer": optimizer,
        "matmul GFLOP/step": gflop,
        "batched GFLOP/CPU s": gflop / cpu["batched"],
        "loop GFLOP/CPU s": gflop / cpu["loop"],
        "sgemm GFLOP/CPU s": peak,
        # the CPU speed-up a step made of nothing but its matrix products at the sgemm rate
        # would reach: an upper bound for any batching of the same products
        "bound": cpu["loop"] / (gflop / peak),
        "batched faults/step": faults["batched"],
        "loop faults/step": faults["loop"],
    }


def width_data(width: int, n: int, seed: int = 0) -> tuple[str, torch.Tensor]:
    """Rows in [0, 1] of the given width: the embedded digits for 64, MNIST rows for 784."""
    name = {64: "digits", 784: "mnist"}.get(width)
    if name is None:
        raise ValueError(f"no data set of width {width} here (64: digits, 784: MNIST)")
    x = torch.as_tensor(load_dataset(name, data_dir=DEFAULT_DATA_DIR).x, dtype=torch.float32)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return name, x[idx]


def speed(args: argparse.Namespace) -> None:
    if args.allocator == "keep":
        keep_freed_memory()
    rows = []
    nets = [tuple(int(w) for w in h.split(",")) for h in args.hidden.split("/")]
    for width in comma_list(args.widths, int):
        name, x = width_data(width, 4 * args.batch)
        for hidden, threads in itertools.product(nets, comma_list(args.threads, int)):
            torch.set_num_threads(threads)
            row = {
                "data": name,
                "allocator": args.allocator,
                **speed_at(
                    x,
                    args.k,
                    args.batch,
                    args.steps,
                    args.repeats,
                    hidden,
                    args.optimizer,
                    args.device,
                ),
            }
            rows.append(row)
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    cols = ["data", "device", "D", "hidden", "k", "batch", "threads", "allocator", "optimizer"]
    cols += ["loss rel. diff", "batched ms/step", "loop ms/step", "speed-up"]
    cols += ["batched CPU ms", "loop CPU ms", "CPU speed-up", "matmul GFLOP/step"]
    cols += ["batched GFLOP/CPU s", "loop GFLOP/CPU s", "sgemm GFLOP/CPU s", "bound"]
    cols += ["batched faults/step", "loop faults/step"]
    table = markdown_table(rows, cols)
    notes = (
        f"SVI step of the soft ELBO (TraceEnum_ELBO); {args.steps} steps x {args.repeats} "
        "alternating repeats, medians; same weights and same ELBO (loss checked equal for the "
        "same noise, matrix-product FLOPs checked equal); optimizer 'trainer' = the trainer's "
        "Adam (fused since 2026-12-01, foreach before), 'fused' = Adam(fused=True); "
        "allocator 'system' = glibc defaults, "
        "'keep' = freed memory kept and reused (mallopt, both networks alike); GFLOP/CPU s = "
        "matrix-product FLOPs per CPU second of the whole step; 'bound' = the CPU speed-up a "
        "step of nothing but its matrix products at the sgemm rate would reach; faults = minor "
        "page faults per step; shared machine (2 cores, other sessions' jobs ran)"
    )
    print(table)
    if not args.no_record:
        append_results(
            "k-DVAE: batched networks vs a Python loop over 50 networks (SVI step, "
            + ("CPU)" if args.device == "cpu" else f"{args.device})"),
            table,
            notes=notes,
        )


# ---------------------------------------------------------------------------------------------
# part B: clustering quality, stage by stage, beside the baselines
# ---------------------------------------------------------------------------------------------
VARIANTS = {
    "kdvae": ("kdvae", "k-DVAE soft", None),
    "kdvae-hard": ("kdvae", "k-DVAE hard (eq. 6)", HardAssignmentLoss),
    "kdae": ("kdae", "k-DAE", None),
}
STAGE_NAMES = {
    "vade": "VaDE's own clustering",
    "start": "starting clusters",
    "pretrain": "after per-cluster pretraining",
    "classify": "after the classifier fitted to them",
}


def fit_one(ds, variant: str, seed: int, x: np.ndarray, y: np.ndarray) -> list[dict]:
    arch, label, loss = VARIANTS[variant]
    recipe = zoo.default_training(arch, len(x), ds.image_shape)
    if loss is not None:
        recipe["loss"] = loss()
    init = recipe["init"]
    est = Clusterer(arch, n_components=ds.n_classes, random_state=seed, progress=False, **recipe)
    t0, c0 = time.perf_counter(), time.process_time()
    est.fit(x)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = []
    last = list(init.stages_)[-1]
    for name, stage in init.stages_.items():
        if "start_labels" in stage:  # VaDE's start, before its SVI
            row = {"method": f"{label}: VaDE's start", "seed": seed}
            rows.append({**row, **scores(y, stage["start_labels"]), "s/fit": 0.0, "CPU s/fit": 0.0})
        what = STAGE_NAMES[name]
        if name == "start":
            what += f" ({init.clustering})"
        if name == last and name != "start":
            what += " (start)"  # the clustering joint training starts from
        row = {"method": f"{label}: {what}", "seed": seed, **scores(y, stage["labels"])}
        rows.append({**row, "s/fit": stage["seconds"], "CPU s/fit": stage["cpu_seconds"]})
    eq8 = hard_assignments(est.model_, est.guide_, torch.as_tensor(x, dtype=torch.float32))
    joint = sum(r["seconds"] for r in est.history_)
    final = {"method": label, "seed": seed, **scores(y, est.labels_)}
    final["eq. 8 ACC"] = cluster_accuracy(y, eq8.cpu().numpy())
    final["vs start"] = final["acc"] - rows[-1]["acc"]
    rows.append({**final, "joint s": joint, "s/fit": wall, "CPU s/fit": cpu})
    return rows


def subsample(ds, max_rows: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(ds.x, dtype=np.float32), np.asarray(ds.y)
    if max_rows is not None and len(x) > max_rows:
        idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:max_rows])
        x, y = x[idx], y[idx]
    return x, y


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for data in dict.fromkeys(r["data"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["data"] == data):
            group = [r for r in rows if r["data"] == data and r["method"] == method]
            accs = [r["acc"] for r in group]
            sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
            row = {
                "data": data,
                "method": method,
                "runs": len(group),
                "ACC": f"{statistics.mean(accs):.3f} ± {sd:.3f}",
                "NMI": statistics.mean(r["nmi"] for r in group),
                "ARI": statistics.mean(r["ari"] for r in group),
                "used": statistics.mean(r["used"] for r in group),
            }
            for key in ("eq. 8 ACC", "vs start", "joint s", "s/fit", "CPU s/fit"):
                values = [r[key] for r in group if key in r]
                row[key] = statistics.mean(values) if len(values) == len(group) else "-"
            if row["vs start"] != "-":
                row["vs start"] = (
                    f"{row['vs start']:+.3f} (worst {min(r['vs start'] for r in group):+.3f})"
                )
            out.append(row)
    return out


def quality(args: argparse.Namespace) -> None:
    seeds = comma_list(args.seeds, int)
    rows = []
    for name in comma_list(args.datasets):
        ds = load_dataset(name, data_dir=DEFAULT_DATA_DIR)
        x, y = subsample(ds, args.max_rows)
        data = ds.name if len(x) == ds.n_samples else f"{ds.name} ({len(x)} of {ds.n_samples} rows)"
        sub = copy.copy(ds)
        sub.x, sub.y = x, y
        tasks = [(ds, v, seed, x, y) for v in comma_list(args.variants) for seed in seeds]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            args.jobs, mp_context=context, initializer=torch.set_num_threads, initargs=(1,)
        ) as pool:
            fits = [pool.submit(fit_one, *task) for task in tasks]  # while the baselines run
            for row in baselines(sub, seeds[0]):
                rows.append({"data": data, "seed": seeds[0], **row})
                print(rows[-1])
            for fit in fits:
                for row in fit.result():
                    rows.append({"data": data, **row})
                    print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    cols = ["data", "method", "runs", "ACC", "NMI", "ARI", "used", "eq. 8 ACC", "vs start"]
    cols += ["joint s", "s/fit", "CPU s/fit"]
    table = markdown_table(summarise(rows), cols)
    notes = (
        f"one torch thread per fit, {args.jobs} fits at once; seeds {args.seeds}; the "
        "command line's recipes (zoo.default_training); stage rows give that stage's "
        "seconds in s/fit and CPU s/fit; "
        "'vs start' is the final ACC minus the start's (its last stage), mean and worst "
        "seed; shared machine (2 cores, other sessions' jobs ran): wall-clock seconds are "
        "upper bounds, CPU seconds (one thread) what a fit costs on a free core"
    )
    print(table)
    if not args.no_record:
        append_results("k-DVAE / k-DAE clustering quality, stage by stage", table, notes=notes)


class _FullTable:
    """A guide without ``encode_grouped``: ``own_cluster_scores`` then scores every row by
    every autoencoder and reads each row's own column (the pass before ``grouped``)."""

    def __init__(self, guide) -> None:
        self.guide = guide

    def encode_all(self, x: torch.Tensor):
        return self.guide.encode_all(x)


def pretrain_speed(args: argparse.Namespace) -> None:
    """Part C: the per-cluster pretraining step, each row through its own autoencoder
    (``BatchedMLP.grouped``) vs every autoencoder on every row, forward + backward."""
    from pyroclust.guides import KDVAEGuide
    from pyroclust.models import KDVAE
    from pyroclust.models.kdvae import own_cluster_scores

    torch.set_num_threads(args.threads)
    rows = []
    for k in comma_list(args.k, int):
        torch.manual_seed(0)
        model = KDVAE(args.width, k)
        guide = KDVAEGuide.for_model(model)
        x = torch.rand(args.batch, args.width).round()
        labels = torch.randint(0, k, (args.batch,))
        torch.manual_seed(1)
        a = own_cluster_scores(model, guide, x, labels, objective="elbo")
        torch.manual_seed(1)
        b = own_cluster_scores(model, _FullTable(guide), x, labels, objective="elbo")
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-3), "the two passes disagree"
        times: dict[str, list[float]] = {"grouped": [], "full": []}
        for _ in range(args.repeats):  # alternating blocks
            for name, g in (("grouped", guide), ("full", _FullTable(guide))):
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    own_cluster_scores(model, g, x, labels, objective="elbo").sum().backward()
                times[name].append((time.perf_counter() - t0) / args.steps)
        grouped, full = (1000 * statistics.median(times[n]) for n in ("grouped", "full"))
        rows.append(
            {
                "K": k,
                "D": args.width,
                "batch": args.batch,
                "grouped ms": grouped,
                "full ms": full,
                "speed-up": full / grouped,
            }
        )
    table = markdown_table(rows, ["K", "D", "batch", "grouped ms", "full ms", "speed-up"])
    print(table)
    if not args.no_record:
        notes = (
            f"k-DVAE's per-cluster pretraining objective (ClusterReconstructionLoss's scores, "
            f"objective 'elbo'), forward + backward, median of {args.repeats} alternating "
            f"blocks of {args.steps} steps; torch threads {args.threads}; values checked equal "
            "first"
        )
        append_results("k-DVAE per-cluster pretraining step, grouped vs full", table, notes=notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("speed", help="part A: batched vs looped networks")
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--widths", default="64,784", help="data widths (64: digits, 784: MNIST)")
    p.add_argument("--threads", default="1,2")
    p.add_argument(
        "--hidden", default="500,100", help="encoders' hidden widths, several split by '/'"
    )
    p.add_argument("--steps", type=int, default=10, help="steps per timed block")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="trainer")
    p.add_argument(
        "--allocator",
        choices=("system", "keep"),
        default="system",
        help="'keep': glibc keeps freed memory for reuse (no fresh pages every step)",
    )
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu (the issue's target) or cuda; on cuda the CPU columns are the host's",
    )
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    q = sub.add_parser("quality", help="part B: clustering quality, stage by stage")
    q.add_argument("--datasets", default="digits")
    q.add_argument("--variants", default="kdvae,kdvae-hard,kdae")
    q.add_argument("--seeds", default="0,1,2,3,4")
    q.add_argument("--max-rows", type=int, default=None, help="subsample larger data sets")
    q.add_argument("--threads", type=int, default=1, help="torch threads of the baselines")
    q.add_argument("--jobs", type=int, default=1, help="fits run at once, one thread each")
    q.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    c = sub.add_parser("pretrain-speed", help="part C: per-cluster pretraining, grouped vs full")
    c.add_argument("--k", default="10,50", help="numbers of clusters")
    c.add_argument("--width", type=int, default=784)
    c.add_argument("--batch", type=int, default=256)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--steps", type=int, default=3, help="steps per timed block")
    c.add_argument("--repeats", type=int, default=5)
    c.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if args.part == "speed":
        speed(args)
    elif args.part == "pretrain-speed":
        pretrain_speed(args)
    else:
        torch.set_num_threads(args.threads)
        quality(args)


if __name__ == "__main__":
    main()
