"""SVI step speed: pyroclust's VaDE through SVITrainer vs a plain-PyTorch VaDE.

Both use the paper's networks (784-500-500-2000-10 encoder, mirrored decoder, 10 clusters),
the same ELBO (single-sample z, exact sum over clusters), Adam, and the same mini-batches; the
plain-PyTorch step is hand-written (no Pyro). Timings alternate between the two, repeated,
and the median seconds per step are compared as a ratio in one run.

    python benchmarks/speed.py [--batch-sizes 256 1024] [--steps 40] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import torch
import torch.nn.functional as F
from _common import append_results, markdown_table

from pyroclust import zoo
from pyroclust.infer import SVITrainer
from pyroclust.infer.elbo import local_params


def plain_step_fn(model, guide, optim):
    """One hand-written VaDE SVI step (same ELBO as TraceEnum_ELBO with one particle)."""
    log2pi = math.log(2 * math.pi)

    def step(x: torch.Tensor, data_size: int) -> float:
        h = guide.encoder(x)
        loc = guide.loc_head(h)
        scale = F.softplus(guide.scale_head(h)) + guide.min_scale
        eps = torch.randn_like(loc)
        z = loc + scale * eps
        logits = model.decoder(z)
        log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        mu = model.components.loc
        sd = model.components.scale
        log_pz_k = (-0.5 * ((z.unsqueeze(1) - mu) / sd) ** 2 - sd.log() - 0.5 * log2pi).sum(-1)
        log_pz = torch.logsumexp(log_pz_k + torch.log_softmax(model.weights.logits, -1), -1)
        log_q = (-0.5 * eps**2 - scale.log() - 0.5 * log2pi).sum(-1)
        loss = -(log_px + log_pz - log_q).sum() * (data_size / len(x))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return loss.item()

    return step


def time_pyroclust(
    x: torch.Tensor, batch: int, steps: int, device: str, jit: bool = False
) -> float:
    torch.manual_seed(0)
    model, guide = zoo.make("vade", x.shape[1], n_components=10, latent_dim=10)
    trainer = SVITrainer(
        model,
        guide,
        epochs=1,
        batch_size=batch,
        progress=False,
        device=device,
        random_state=0,
        jit=jit,
    )
    data = x[: batch * 2]
    # one fit: the first epoch warms up (optimiser, ELBO, JIT compilation) and is not timed
    trainer.epochs = 1 + max(1, steps * batch // len(data))
    n_steps = (trainer.epochs - 1) * math.ceil(len(data) / batch)
    if device == "cuda":
        trainer.callbacks.append(lambda *_: torch.cuda.synchronize())
    trainer.fit(data)
    return sum(row["seconds"] for row in trainer.history[1:]) / n_steps


def time_plain(x: torch.Tensor, batch: int, steps: int, device: str) -> float:
    torch.manual_seed(0)
    model, guide = zoo.make("vade", x.shape[1], n_components=10, latent_dim=10)
    model.to(device)
    guide.to(device)
    with local_params():
        params = list(model.parameters()) + list(guide.parameters())
        optim = torch.optim.Adam(params, lr=1e-3)
        step = plain_step_fn(model, guide, optim)
        data = x[: batch * 2].to(device)
        n = len(data)
        gen = torch.Generator().manual_seed(0)
        for _ in range(3):
            step(data[:batch], n)
        n_epochs = max(1, steps * batch // n)
        n_steps = n_epochs * math.ceil(n / batch)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n_epochs):
            order = torch.randperm(n, generator=gen).to(device)
            for i in range(math.ceil(n / batch)):
                step(data[order[i * batch : (i + 1) * batch]], n)
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / n_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--jit", action="store_true", help="also time SVITrainer(jit=True) (JitTraceEnum_ELBO)"
    )
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.rand(8192, 784)
    rows = []
    for batch in args.batch_sizes:
        ours, plain, jitted = [], [], []
        for _ in range(args.repeats):
            ours.append(time_pyroclust(x, batch, args.steps, args.device))
            plain.append(time_plain(x, batch, args.steps, args.device))
            if args.jit:
                with warnings.catch_warnings():  # torch.jit.trace's deprecation, tracer notes
                    warnings.simplefilter("ignore")
                    jitted.append(time_pyroclust(x, batch, args.steps, args.device, jit=True))
        o, p = statistics.median(ours), statistics.median(plain)
        rows.append(
            {
                "device": args.device,
                "batch": batch,
                "pyroclust ms/step": 1e3 * o,
                "plain torch ms/step": 1e3 * p,
                "ratio": o / p,
                "pyroclust steps/s": 1 / o,
            }
        )
        if jitted:
            j = statistics.median(jitted)
            rows[-1].update({"jit ms/step": 1e3 * j, "jit ratio": j / p})
        print(rows[-1], flush=True)
    table = markdown_table(rows, list(rows[0]))
    if args.no_record:
        print(table)
    else:
        append_results(
            "Speed: VaDE SVI step, pyroclust vs plain PyTorch",
            table,
            notes=f"median of {args.repeats} alternating repeats of ~{args.steps} steps; "
            "paper networks (784-500-500-2000-10), K=10",
        )


if __name__ == "__main__":
    main()
