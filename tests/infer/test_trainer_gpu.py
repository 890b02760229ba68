"""CUDA end to end: the trainer, its checkpoints and resuming, the estimator's fit, predict,
save and load, and two-GPU data-parallel training (nccl). Skipped without CUDA."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pyro
import pytest
import torch
import torch.multiprocessing as mp

from pyroclust import zoo
from pyroclust.estimator import Clusterer
from pyroclust.exceptions import NonFiniteLossError
from pyroclust.infer import SVITrainer
from pyroclust.infer.init import RandomInit

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def _pair(seed: int = 0):
    pyro.set_rng_seed(seed)
    return zoo.make("vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,))


def _options(**kwargs):
    options = {"epochs": 3, "batch_size": 16, "lr": 1e-2, "random_state": 0, "progress": False}
    return {**options, **kwargs}


class Interrupted(Exception):
    """Stands for a crash in the middle of a run."""


def test_trainer_on_cuda_checkpoints_and_resumes(tmp_path, x_small) -> None:
    x = torch.as_tensor(x_small)
    model, guide = _pair()
    full = SVITrainer(model, guide, device="cuda", **_options()).fit(x)
    assert all(p.is_cuda for p in model.parameters())
    assert all(np.isfinite(row["elbo"]) for row in full.history)

    def crash(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 2:
            raise Interrupted

    ckpt = tmp_path / "run.pt"
    first = SVITrainer(*_pair(), device="cuda", checkpoint=ckpt, callbacks=[crash], **_options())
    with pytest.raises(Interrupted):
        first.fit(x)
    model2, guide2 = _pair(seed=1)
    resumed = SVITrainer(model2, guide2, device="cuda", checkpoint=ckpt, **_options())
    resumed.fit(x, resume=True)
    assert resumed.epoch == 3 and resumed.step == full.step
    for a, b in zip(model2.parameters(), model.parameters()):  # GPU kernels: to tolerance
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _tiny_vade_on_cuda(**model_options) -> Clusterer:
    return Clusterer(
        "vade",
        n_components=3,
        model_options={"hidden": (8,), "latent_dim": 2, **model_options},
        epochs=2,
        batch_size=16,
        init=RandomInit(),
        device="cuda",
        progress=False,
        random_state=0,
    )


def test_estimator_on_cuda_fits_predicts_saves_and_loads(tmp_path, x_small) -> None:
    est = _tiny_vade_on_cuda().fit(x_small)
    assert next(est.model_.parameters()).is_cuda
    labels = est.predict(x_small)
    np.testing.assert_array_equal(labels, est.labels_)
    est.save(tmp_path / "model.ckpt")
    on_cpu = Clusterer.load(tmp_path / "model.ckpt", device="cpu")
    on_gpu = Clusterer.load(tmp_path / "model.ckpt", device="cuda")
    np.testing.assert_allclose(
        on_cpu.predict_proba(x_small), on_gpu.predict_proba(x_small), rtol=1e-4, atol=1e-6
    )


def test_diverging_training_on_cuda_stops_and_keeps_the_last_good_state(tmp_path, x_small) -> None:
    # Adam's moments live on the GPU and its step counts on the CPU: the divergence handler
    # used to stack them together and fail with a device error instead of stopping cleanly
    path = tmp_path / "run.pt"
    trainer = SVITrainer(*_pair(), device="cuda", checkpoint=path, **_options(epochs=5, lr=1e6))
    with pytest.raises(NonFiniteLossError, match=r"non-finite .* at epoch \d+, step \d+"):
        trainer.fit(torch.as_tensor(x_small))
    assert all(torch.isfinite(p).all() for p in trainer.parameters())
    assert path.exists()


@pytest.mark.parametrize("prior", ["stick-breaking", "zipf"])
def test_a_users_hyperprior_built_on_the_cpu_fits_on_cuda(prior, x_small) -> None:
    from pyro import distributions as dist

    from pyroclust import priors

    weights = (
        priors.StickBreaking(1.0, prior=dist.Gamma(1.0, 1.0))
        if prior == "stick-breaking"
        else priors.Zipf(1.0, prior=dist.Gamma(2.0, 2.0))
    )
    est = _tiny_vade_on_cuda(weights=weights).fit(x_small)
    assert np.isfinite(est.predict_proba(x_small)).all()
    assert torch.isfinite(est.model_.weights.mean()).all()


def _nccl_worker(rank: int, folder: str, x: torch.Tensor) -> None:
    torch.cuda.set_device(rank)
    torch.distributed.init_process_group(
        "nccl", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2
    )
    try:
        model, guide = _pair()
        SVITrainer(model, guide, device="cuda", **_options(batch_size=8)).fit(x)
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        gathered = [torch.empty_like(flat) for _ in range(2)]
        torch.distributed.all_gather(gathered, flat)
        if rank == 0:
            torch.save([g.cpu() for g in gathered], f"{folder}/params.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_gpus_train_data_parallel_with_nccl(x_small) -> None:
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_nccl_worker, args=(folder, torch.as_tensor(x_small)), nprocs=2, join=True)
        rank0, rank1 = torch.load(os.path.join(folder, "params.pt"))
    assert torch.isfinite(rank0).all()
    torch.testing.assert_close(rank0, rank1, rtol=0, atol=0)
