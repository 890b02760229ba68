"""Data-parallel SVI (gloo, two CPU processes): the same steps as one process over the same
global batches, the global sites counted once per step, and exact resuming."""

from __future__ import annotations

import os
import tempfile

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.multiprocessing as mp
from pyro.nn import PyroModule
from torch import nn

from pyroclust import estimator as estimator_module
from pyroclust import zoo
from pyroclust.estimator import Clusterer
from pyroclust.infer import SVITrainer, distributed
from pyroclust.infer import checkpoint as checkpoint_module
from pyroclust.infer import session as session_module
from pyroclust.infer import trainer as trainer_module
from pyroclust.infer.init import GMMInit
from pyroclust.models.base import data_plate

WORLD = 2
ROWS = 48
BATCH = 6  # rows per process: global batches of 12, four steps an epoch


class Mixture(PyroModule):
    """A Gaussian mixture with Dirichlet weights: a global site (the weights and their prior)
    and an enumerated local one, so the loss has no Monte-Carlo noise."""

    def __init__(self) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.linspace(-1.0, 1.0, 6).reshape(3, 2))
        self.net = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> None:
        pi = pyro.sample("weights", dist.Dirichlet(torch.full((3,), 2.0)))
        with data_plate(len(x), data_size, x.device):
            c = pyro.sample("assignment", dist.Categorical(pi), infer={"enumerate": "parallel"})
            pyro.sample("obs", dist.Normal(self.net(self.loc[c]), 1.0).to_event(1), obs=x)


class MixtureGuide(PyroModule):
    """A point estimate of the weights (a Delta on the simplex)."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> None:
        pyro.sample("weights", dist.Delta(torch.softmax(self.logits, -1), event_dim=1))


def _data() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(ROWS, 2, generator=gen) + torch.arange(ROWS).remainder(3)[:, None]


def _vade():
    pyro.set_rng_seed(1)
    return zoo.make("vade", n_features=2, n_components=3, latent_dim=2, hidden=(4,))


def _flat(*modules: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for m in modules for p in m.state_dict().values()])


class Interrupted(Exception):
    """Stands for a crash in the middle of a run."""


def _worker(rank: int, folder: str) -> None:
    torch.set_num_threads(1)
    pyro.enable_validation(True)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=WORLD
    )
    try:
        x = _data()
        options = {"lr": 0.05, "random_state": 0, "progress": False}
        # 1. a deterministic loss: the steps must equal one process's over the same batches
        torch.manual_seed(0)
        model, guide = Mixture(), MixtureGuide()
        trainer = SVITrainer(model, guide, epochs=2, batch_size=BATCH, **options).fit(x)
        assert (trainer.world_size, trainer.rank) == (WORLD, rank)
        if rank == 0:
            torch.save(
                {"params": _flat(model, guide), "history": trainer.history},
                f"{folder}/mixture.pt",
            )
        # 2. VaDE, two epochs uninterrupted; then interrupted after one and resumed
        ckpt = f"{folder}/vade.ckpt"
        model, guide = _vade()
        full = SVITrainer(model, guide, epochs=2, batch_size=BATCH, **options).fit(x)
        gathered = [None] * WORLD
        torch.distributed.all_gather_object(gathered, _flat(model, guide))

        def crash(trainer: SVITrainer, epoch: int) -> None:
            if epoch == 2:
                raise Interrupted

        first = SVITrainer(
            *_vade(), epochs=2, batch_size=BATCH, checkpoint=ckpt, callbacks=[crash], **options
        )
        try:
            first.fit(x)
        except Interrupted:
            pass
        model, guide = _vade()
        with torch.no_grad():  # another start, which the checkpoint replaces
            for p in model.parameters():
                p.add_(1.0)
        resumed = SVITrainer(model, guide, epochs=2, batch_size=BATCH, checkpoint=ckpt, **options)
        resumed.fit(x, resume=True)
        if rank == 0:
            torch.save(
                {
                    "ranks": gathered,
                    "full": full.history,
                    "resumed": resumed.history,
                    "resumed_params": _flat(model, guide),
                },
                f"{folder}/vade.pt",
            )
        _fit_sessions(rank, folder, x)
        # no rank closes its connections while the other may still be reading from them
        # (a peer's close in mid-collective aborts gloo's transport thread: SIGABRT)
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def _clusterer(path: str, **kwargs) -> Clusterer:
    init = GMMInit(pretrain_epochs=2, align_epochs=2, batch_size=BATCH, lr=0.02)
    options = {"model_options": {"hidden": (4,), "latent_dim": 2}, "epochs": 3, "lr": 0.02}
    return Clusterer(
        "vade",
        n_components=3,
        batch_size=BATCH,
        init=init,
        device="cpu",
        random_state=0,
        progress=False,
        checkpoint=path,
        **options,
        **kwargs,
    )


def _fit_sessions(rank: int, folder: str, x: torch.Tensor) -> None:
    """3. Whole fits (pretraining, start, alignment, SVI) checkpointed by their session:
    uninterrupted, and interrupted in SVI then resumed; every checkpoint write recorded."""
    writes: list[str] = []
    save = checkpoint_module.save_checkpoint

    def recording(path, kind, payload):
        writes.append(kind)
        return save(path, kind, payload)

    for module in (session_module, trainer_module):
        module.save_checkpoint = recording
    try:
        full = _clusterer(f"{folder}/full.ckpt").fit(x.numpy())

        def crash(trainer: SVITrainer, epoch: int) -> None:
            if epoch == 2:
                raise Interrupted

        try:
            _clusterer(f"{folder}/cut.ckpt", callbacks=[crash]).fit(x.numpy())
        except Interrupted:
            pass
        resumed = _clusterer(f"{folder}/cut.ckpt").fit(x.numpy(), resume=True)
    finally:
        for module in (session_module, trainer_module):
            module.save_checkpoint = save
    saves = _save_on_every_rank(full, f"{folder}/model.ckpt")
    ranks = [None] * WORLD
    torch.distributed.all_gather_object(
        ranks, (writes, _flat(resumed.model_, resumed.guide_), saves)
    )
    if rank == 0:
        torch.save(
            {
                "writes": [w for w, _, _ in ranks],
                "resumed": [p for _, p, _ in ranks],
                "saves": [s for _, _, s in ranks],
                "full": _flat(full.model_, full.guide_),
                "full_rows": [r["elbo"] for r in full.stage_history_],
                "resumed_rows": [r["elbo"] for r in resumed.stage_history_],
                "stages": [r["stage"] for r in full.stage_history_],
            },
            f"{folder}/session.pt",
        )


def _save_on_every_rank(est: Clusterer, path: str) -> dict:
    """4. ``Clusterer.save`` called on every rank: which wrote, and whether the file was
    complete (loadable, the fitted parameters) on every rank right after the call."""
    writes: list[str] = []
    save = estimator_module.save_checkpoint

    def recording(path, kind, payload):
        writes.append(kind)
        return save(path, kind, payload)

    estimator_module.save_checkpoint = recording
    try:
        est.save(path)
    finally:
        estimator_module.save_checkpoint = save
    loaded = Clusterer.load(path, device="cpu")  # right after the call: rank 0 has written
    return {"writes": writes, "loaded": _flat(loaded.model_, loaded.guide_)}


@pytest.fixture(scope="module")
def two_processes():
    """Run the two-process scenarios once (one spawn: starting processes is the slow part)."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_worker, args=(folder,), nprocs=WORLD, join=True)
        yield (
            torch.load(os.path.join(folder, "mixture.pt")),
            torch.load(os.path.join(folder, "vade.pt")),
            torch.load(os.path.join(folder, "session.pt")),
        )


def test_two_processes_equal_one_over_the_same_global_batches(two_processes) -> None:
    parallel, *_ = two_processes
    torch.manual_seed(0)
    model, guide = Mixture(), MixtureGuide()
    alone = SVITrainer(
        model, guide, epochs=2, batch_size=BATCH * WORLD, lr=0.05, random_state=0, progress=False
    ).fit(_data())
    assert alone.world_size == 1 and alone.step == 8
    torch.testing.assert_close(parallel["params"], _flat(model, guide), rtol=1e-5, atol=1e-6)
    for row, reference in zip(parallel["history"], alone.history, strict=True):
        assert row["elbo"] == pytest.approx(reference["elbo"], rel=1e-5)


def test_a_global_site_counted_per_process_would_be_detected(two_processes) -> None:
    # the equality above is what says the weights' prior counts once per step: counted once
    # per process (twice here), the steps differ beyond the tolerance used
    parallel, *_ = two_processes

    class Doubled(Mixture):
        def forward(self, x: torch.Tensor, *, data_size: int | None = None) -> None:
            pyro.factor("again", dist.Dirichlet(torch.full((3,), 2.0)).log_prob(guide_pi()))
            super().forward(x, data_size=data_size)

    torch.manual_seed(0)
    model, guide = Doubled(), MixtureGuide()

    def guide_pi() -> torch.Tensor:
        return torch.softmax(guide.logits, -1)

    SVITrainer(
        model, guide, epochs=2, batch_size=BATCH * WORLD, lr=0.05, random_state=0, progress=False
    ).fit(_data())
    assert not torch.allclose(parallel["params"], _flat(model, guide), rtol=1e-5, atol=1e-6)


def test_processes_hold_the_same_parameters(two_processes) -> None:
    _, vade, _ = two_processes
    rank0, rank1 = vade["ranks"]
    assert torch.isfinite(rank0).all()
    torch.testing.assert_close(rank0, rank1, rtol=0, atol=0)


def test_interrupted_two_process_run_resumes_exactly(two_processes) -> None:
    _, vade, _ = two_processes
    assert torch.equal(vade["resumed_params"], vade["ranks"][0])
    assert [r["elbo"] for r in vade["resumed"]] == [r["elbo"] for r in vade["full"]]


def test_only_rank_0_writes_a_fits_checkpoints_and_every_rank_resumes(two_processes) -> None:
    *_, fits = two_processes
    rank0, rank1 = fits["writes"]
    assert rank1 == []  # rank 1 wrote no checkpoint
    # rank 0: every epoch of every stage and every step of both fits, then the resumed one
    assert set(rank0) == {session_module.SESSION_KIND} and len(rank0) > 20
    assert {"pretrain", "align", "svi"} <= set(fits["stages"])
    # the interrupted fit, resumed on both ranks, ends where the uninterrupted one did
    for params in fits["resumed"]:
        assert torch.equal(params, fits["full"])
    assert fits["resumed_rows"] == fits["full_rows"]


def test_only_rank_0_writes_a_saved_estimator_and_every_rank_reads_it_whole(two_processes) -> None:
    *_, fits = two_processes
    rank0, rank1 = (saved["writes"] for saved in fits["saves"])
    assert rank0 == [estimator_module.ESTIMATOR_KIND] and rank1 == []
    for saved in fits["saves"]:  # read on each rank just after save returned there
        assert torch.equal(saved["loaded"], fits["full"])


def test_shards_follow_the_distributed_sampler_split() -> None:
    part = distributed.DataParallel(rank=1, world_size=2)
    rows, weight = part.shard(torch.arange(10, 20))
    assert rows.tolist() == [11, 13, 15, 17, 19] and weight == 1.0
    rows, weight = part.shard(torch.arange(5))  # an odd last batch: 2 of 5 rows here
    assert rows.tolist() == [1, 3] and weight == pytest.approx(2 * 2 / 5)
    assert part.steps_per_epoch(48, 6) == 4
    assert part.steps_per_epoch(51, 6) == 4  # 3 rows left: fewer than two a process, joined
    assert part.steps_per_epoch(53, 6) == 5
    with pytest.raises(ValueError, match="at least one"):
        part.steps_per_epoch(1, 6)


def test_alone_without_a_process_group() -> None:
    assert distributed.context() is None and distributed.world_size() == 1
    assert distributed.is_main_process()
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.context(True)


def test_each_rank_restores_its_own_random_stream() -> None:
    torch.manual_seed(0)
    states = [torch.get_rng_state()]
    torch.manual_seed(1)
    states.append(torch.get_rng_state())
    torch.manual_seed(7)
    distributed.DataParallel(rank=1, world_size=2).restore_rng(states)
    assert torch.equal(torch.get_rng_state(), states[1])
    # written by another number of processes: rank 0 keeps the checkpoint's stream, the
    # others derive their own from it
    torch.set_rng_state(states[0])
    distributed.DataParallel(rank=0, world_size=3).restore_rng(states)
    first = torch.rand(4)
    torch.set_rng_state(states[0])
    distributed.DataParallel(rank=1, world_size=3).restore_rng(states)
    other = torch.rand(4)
    torch.set_rng_state(states[0])
    assert torch.equal(first, torch.rand(4)) and not torch.equal(first, other)
