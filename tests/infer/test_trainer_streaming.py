"""Training on rows streamed from disk (an ArrayStream): chunk by chunk, every row once an
epoch, resumable."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch

from pyroclust import zoo
from pyroclust.datasets.streaming import open_stream
from pyroclust.infer import SVITrainer


def _pair(seed: int = 0):
    pyro.set_rng_seed(seed)
    return zoo.make("vade", n_features=12, n_components=3, latent_dim=2, hidden=(8,))


@pytest.fixture
def stream(tmp_path, x_small):
    np.save(tmp_path / "a.npy", x_small[:30])
    np.save(tmp_path / "b.npy", x_small[30:])
    return open_stream(tmp_path)  # 48 rows in two shards


def test_each_epoch_visits_every_row_once_a_chunk_at_a_time(tmp_path) -> None:
    rows = np.arange(50, dtype=np.float32).reshape(50, 1)
    np.save(tmp_path / "rows.npy", rows)
    seen: list[list[int]] = []

    def record(model, guide, x, data_size):
        seen.append(x[:, 0].long().tolist())
        return (model.weight * x).sum() * data_size / len(x)

    model = torch.nn.Linear(1, 1)
    trainer = SVITrainer(
        model,
        torch.nn.Module(),
        loss=record,
        params=list(model.parameters()),
        epochs=2,
        batch_size=8,
        chunk_size=20,
        random_state=0,
        progress=False,
    ).fit(open_stream(tmp_path / "rows.npy"))
    # chunks of 20, 20 and 10 rows: batches 8+8+4, 8+8+4, 8+2 -> 8 steps an epoch
    assert trainer.step == 16 and len(seen) == 16
    for epoch in (seen[:8], seen[8:]):
        assert sorted(sum(epoch, [])) == list(range(50))
        for batch in epoch:  # a batch never mixes chunks
            assert len({row // 20 for row in batch}) == 1
    assert sum(seen[:8], []) != sum(seen[8:], [])  # reshuffled


class Interrupted(Exception):
    """Stands for a crash in the middle of a run."""


def test_a_streamed_fit_trains_and_resumes_exactly(tmp_path, stream) -> None:
    options = {"epochs": 3, "batch_size": 8, "chunk_size": 16, "lr": 1e-2, "progress": False}
    model, guide = _pair()
    full = SVITrainer(model, guide, random_state=0, **options).fit(stream)
    assert all(np.isfinite(row["elbo"]) for row in full.history)
    assert full.step == 3 * 7  # chunks 16+14 and 16+2: 2+2+2+1 batches an epoch

    def crash(trainer: SVITrainer, epoch: int) -> None:
        if epoch == 2:
            raise Interrupted

    ckpt = tmp_path / "run.pt"
    first = SVITrainer(*_pair(), random_state=0, checkpoint=ckpt, callbacks=[crash], **options)
    with pytest.raises(Interrupted):
        first.fit(stream)
    model2, guide2 = _pair(seed=5)
    resumed = SVITrainer(model2, guide2, random_state=0, checkpoint=ckpt, **options)
    resumed.fit(stream, resume=True)
    for a, b in zip(model2.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["elbo"] for r in resumed.history] == [r["elbo"] for r in full.history]


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        SVITrainer(*_pair(), chunk_size=0)


def test_tensors_held_in_memory_are_batched_with_the_rows_on_disk(tmp_path) -> None:
    rows = np.arange(50, dtype=np.float32).reshape(50, 1)
    np.save(tmp_path / "a.npy", rows[:20])
    np.save(tmp_path / "b.npy", rows[20:])
    tags = torch.arange(50) * 10  # one per row, in memory
    seen: list[tuple[list[int], list[int]]] = []

    def record(model, guide, x, tag, data_size):
        seen.append((x[:, 0].long().tolist(), tag.tolist()))
        return (model.weight * x).sum() * data_size / len(x)

    model = torch.nn.Linear(1, 1)
    options = {"loss": record, "params": list(model.parameters()), "epochs": 1}
    options.update(batch_size=8, chunk_size=16, random_state=0, progress=False)
    SVITrainer(model, torch.nn.Module(), **options).fit((open_stream(tmp_path), tags))
    assert sorted(sum((x for x, _ in seen), [])) == list(range(50))
    for x, tag in seen:
        assert tag == [10 * row for row in x]
    # a memory map in the same place
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    seen.clear()
    SVITrainer(model, torch.nn.Module(), **options).fit([mapped, tags[:20]])
    assert sorted(sum((x for x, _ in seen), [])) == list(range(20))
    with pytest.raises(ValueError, match="same number of rows"):
        SVITrainer(model, torch.nn.Module(), **options).fit((mapped, tags))


def test_one_chunk_of_a_memory_map_trains_as_the_array_in_memory(tmp_path, x_small) -> None:
    np.save(tmp_path / "x.npy", x_small)
    options = {"epochs": 2, "batch_size": 10, "lr": 1e-2, "random_state": 0, "progress": False}
    model, guide = _pair()
    SVITrainer(model, guide, **options).fit(np.load(tmp_path / "x.npy", mmap_mode="r"))
    model2, guide2 = _pair()
    SVITrainer(model2, guide2, **options).fit(torch.as_tensor(x_small))
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)
