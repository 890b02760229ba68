"""Clusterer on data larger than memory: a memory-mapped file or a stream of shards is fitted
and predicted chunk by chunk, equal to the in-memory array, in bounded memory; the
initialisation sees at most ``init_max_samples`` rows."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from pyroclust.datasets import load_dataset
from pyroclust.datasets.streaming import open_stream
from pyroclust.estimator import INIT_ROWS_STEP, START_LABELS_STEP, Clusterer
from pyroclust.exceptions import DataError
from pyroclust.infer import load_checkpoint
from pyroclust.infer.init import GMMInit
from pyroclust.infer.session import SESSION_KIND
from pyroclust.regularizers import StartAgreement


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_dataset("digits").x  # 1,797 x 64, float32 in [0, 1]


def _est(**kwargs) -> Clusterer:
    options = {
        "n_components": 10,
        "model_options": {"hidden": (32,), "latent_dim": 5},
        "epochs": 2,
        "batch_size": 256,
        "lr": 2e-3,
        "init": GMMInit(pretrain_epochs=2),
        "device": "cpu",
        "progress": False,
        "random_state": 0,
    }
    options.update(kwargs)
    return Clusterer("vade", **options)


def _params(est: Clusterer) -> list[torch.Tensor]:
    return [*est.model_.state_dict().values(), *est.guide_.state_dict().values()]


def _assert_same_fit(a: Clusterer, b: Clusterer) -> None:
    for p, q in zip(_params(a), _params(b), strict=True):
        assert torch.equal(p, q)
    assert [r["elbo"] for r in a.stage_history_] == [r["elbo"] for r in b.stage_history_]
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.start_labels_, b.start_labels_)


def test_a_memory_mapped_file_gives_the_fit_and_predictions_of_the_array(tmp_path, digits) -> None:
    np.save(tmp_path / "x.npy", digits)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    loaded = _est().fit(digits)
    streamed = _est().fit(mapped)
    _assert_same_fit(streamed, loaded)
    assert len(set(loaded.labels_)) > 1 and streamed.n_features_in_ == 64
    # the predictions on the map, in chunks of 4,096 rows' multiples or not
    streamed.chunk_size = 256
    np.testing.assert_array_equal(streamed.predict(mapped), loaded.predict(digits))
    # (float32 arithmetic on other batch shapes: equal to rounding)
    np.testing.assert_allclose(
        streamed.predict_proba(mapped), loaded.predict_proba(digits), rtol=1e-5, atol=1e-9
    )
    np.testing.assert_allclose(
        streamed.transform(mapped), loaded.transform(digits), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        streamed.reconstruct(mapped), loaded.reconstruct(digits), rtol=1e-5, atol=1e-7
    )
    streamed.chunk_size = 4096
    assert streamed.score(mapped) == loaded.score(digits)
    # a .npy file opened as a stream (read without a map) is the same data
    from_file = _est().fit(open_stream(tmp_path / "x.npy"))
    _assert_same_fit(from_file, loaded)


def test_the_start_objective_reads_every_rows_start_label_from_memory(tmp_path, digits) -> None:
    np.save(tmp_path / "x.npy", digits)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    loaded = _est(loss=StartAgreement(1.0), epochs=1).fit(digits)
    streamed = _est(loss=StartAgreement(1.0), epochs=1).fit(mapped)
    _assert_same_fit(streamed, loaded)


def test_shards_train_a_chunk_at_a_time(tmp_path, digits) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    np.save(folder / "a.npy", digits[:1000])
    np.savez(folder / "b.npz", x=digits[1000:])
    est = _est(chunk_size=300).fit(open_stream(folder))
    # chunks of 300, 300, 300, 100 | 300, 300, 197 rows (never across shards), batches of
    # 256: 2 + 2 + 2 + 1 + 2 + 2 + 1 steps an epoch
    assert est.trainer_.step == 2 * 12
    assert est.labels_.shape == (1797,) and len(set(est.labels_)) > 1
    np.testing.assert_array_equal(est.predict(digits), est.labels_)


class _Recorder(GMMInit):
    """GMMInit that records the rows it is given."""

    seen: list[int] = []

    def __call__(self, model, guide, x, **kwargs) -> None:
        type(self).seen.append(len(x))
        super().__call__(model, guide, x, **kwargs)


class Interrupted(Exception):
    """Stands for a crash in the middle of a fit."""


def test_the_initialisation_sees_at_most_init_max_samples_rows(tmp_path, digits) -> None:
    np.save(tmp_path / "x.npy", digits)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    _Recorder.seen = []
    ckpt = tmp_path / "fit.ckpt"
    options = {"init": _Recorder(pretrain_epochs=2), "init_max_samples": 500}
    full = _est(checkpoint=ckpt, **options).fit(mapped)
    assert _Recorder.seen == [500]
    assert full.start_labels_.shape == (1797,)  # every row's start, from the started model
    records = {r["name"]: r for r in load_checkpoint(ckpt, SESSION_KIND)["records"]}
    rows = records[INIT_ROWS_STEP]["result"]["__ndarray__"].numpy()
    assert len(rows) == 500 and len(np.unique(rows)) == 500 and np.all(np.diff(rows) > 0)
    assert START_LABELS_STEP in records
    # in memory the same rows are drawn: the same fit
    _assert_same_fit(_est(**options).fit(digits), full)

    # an interrupted fit resumes from the same rows to the same end
    def crash(trainer, epoch: int) -> None:
        if epoch == 1:
            raise Interrupted

    ckpt2 = tmp_path / "again.ckpt"
    with pytest.raises(Interrupted):
        _est(checkpoint=ckpt2, callbacks=[crash], **options).fit(mapped)
    _Recorder.seen = []
    resumed = _est(checkpoint=ckpt2, **options).fit(mapped, resume=True)
    assert _Recorder.seen == []  # the initialisation was done: not run again
    _assert_same_fit(resumed, full)


def test_bad_rows_on_disk_are_named(tmp_path, digits) -> None:
    bad = digits.copy()
    bad[900, 3] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match="rows 800 to 1199 of X: .*NaN"):
        _est(chunk_size=400).fit(np.load(tmp_path / "bad.npy", mmap_mode="r"))
    np.save(tmp_path / "one.npy", digits[:1])
    with pytest.raises(DataError, match="single row"):
        _est().fit(np.load(tmp_path / "one.npy", mmap_mode="r"))
    with pytest.raises(ValueError, match="init_max_samples must be >= 1"):
        _est(init_max_samples=0).fit(digits)
    with pytest.raises(ValueError, match="init_max_samples=5 is fewer than the n_components=10"):
        _est(init_max_samples=5).fit(digits)
    with pytest.raises(ValueError, match="chunk_size must be an integer"):
        _est(chunk_size=2.5).fit(digits)


def test_fit_and_predict_on_a_file_ten_chunks_long_hold_about_one_chunk(tmp_path) -> None:
    # float64 on disk: loading it whole anywhere would allocate a float32 copy of it, which
    # tracemalloc sees (it counts NumPy's buffers, not torch's)
    rng = np.random.default_rng(0)
    rows, width, chunk = 4000, 200, 400
    protos = rng.random((4, width)) > 0.5
    x = np.clip(
        np.where(protos[np.arange(rows) % 4], 0.8, 0.2) + rng.normal(0, 0.1, (rows, width)), 0, 1
    )
    np.save(tmp_path / "big.npy", x)
    del x
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    est = _est(
        n_components=4,
        epochs=1,
        chunk_size=chunk,
        init_max_samples=chunk,
        init=GMMInit(pretrain_epochs=1),
    )
    est.fit(mapped[:chunk])  # warm up (lazy imports, caches)

    def peak(fn) -> int:
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    chunk_bytes = chunk * width * 8  # one chunk as read from the file
    fitted = peak(lambda: est.fit(mapped))
    predicted = peak(lambda: est.predict(mapped))
    assert len(set(est.labels_)) > 1
    # a chunk read, its float32 copy and the initialisation's subsample of one chunk
    assert fitted < 4 * chunk_bytes, (fitted, chunk_bytes)
    assert predicted < 3 * chunk_bytes, (predicted, chunk_bytes)
    assert max(fitted, predicted) < mapped.nbytes / 2.5


def test_cluster_counts_and_sizes_of_a_memory_map_equal_the_arrays(tmp_path) -> None:
    # two chunks of 4,096 rows' multiples (the last shorter): the same posteriors as in memory
    rng = np.random.default_rng(0)
    rows, width = 5000, 16
    protos = rng.random((3, width)) > 0.5
    # overlapping clusters: rows whose assignment is uncertain, so the draws vary
    x = np.where(protos[np.arange(rows) % 3], 0.6, 0.4) + rng.normal(0, 0.2, (rows, width))
    x = np.clip(x, 0, 1).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    est = _est(n_components=3, epochs=1, batch_size=500, init=GMMInit(pretrain_epochs=1)).fit(x)
    est.chunk_size = 4096
    counted = est.expected_n_clusters(x)
    assert 1.0 <= counted <= 3.0
    assert est.expected_n_clusters(mapped) == pytest.approx(counted, rel=1e-12)
    assert est.expected_n_clusters(open_stream(tmp_path / "x.npy")) == pytest.approx(counted)

    def draws(X, seed) -> np.ndarray:
        sizes = est.cluster_sizes_posterior(X, num_samples=40, random_state=seed)
        from pyroclust.inspect import posterior_dataset

        return np.asarray(posterior_dataset(sizes)["cluster_size"].values)

    in_memory = draws(x, 3)
    assert in_memory.shape == (1, 40, 3) and (in_memory.sum(-1) == rows).all()
    assert len(np.unique(in_memory[0, :, 0])) > 1  # draws that differ: the test can tell
    np.testing.assert_array_equal(draws(mapped, 3), in_memory)
    assert not np.array_equal(draws(mapped, 4), in_memory)  # another seed, other draws
    # other chunks: the same posteriors to float32 rounding, the same stream of draws
    est.chunk_size = 700
    assert est.expected_n_clusters(mapped) == pytest.approx(counted, rel=1e-6)
    assert np.abs(draws(mapped, 3) - in_memory).max() <= 2
