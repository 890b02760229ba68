"""Streaming rows from disk: memory-mapped .npy files and folders of shards, read in chunks."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest

from pyroclust.datasets import streaming
from pyroclust.datasets.streaming import ArrayStream, is_streamed, iter_chunks, open_stream
from pyroclust.estimator import Clusterer
from pyroclust.exceptions import DatasetError
from pyroclust.infer.init import RandomInit


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(0).random((23, 6)).astype(np.float32)


def test_a_folder_of_shards_is_one_array_in_row_order(tmp_path, rows) -> None:
    np.save(tmp_path / "a.npy", rows[:10])
    np.savez(tmp_path / "b.npz", x=rows[10:15], y=np.arange(5))
    np.savez_compressed(tmp_path / "c.npz", x=rows[15:].reshape(8, 2, 3))  # images flatten
    (tmp_path / "notes.txt").write_text("not a shard")
    stream = open_stream(tmp_path)
    assert stream.shape == (23, 6) and len(stream) == 23 and len(stream.shards) == 3
    chunks = list(stream.chunks(4))
    assert [len(c) for c in chunks] == [4, 4, 2, 4, 1, 4, 4]  # never across shards
    assert all(c.dtype == np.float32 for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), rows)
    spans = stream.spans(4)
    assert spans[:3] == [(0, 0, 4), (0, 4, 8), (0, 8, 10)] and len(spans) == len(chunks)
    for span, chunk in zip(reversed(spans), reversed(chunks)):  # any order
        np.testing.assert_array_equal(stream.read(span), chunk)
    index = np.array([22, 0, 12, 3, 12, 17])
    np.testing.assert_array_equal(stream.take(index), rows[index])
    with pytest.raises(IndexError, match="out of range"):
        stream.take([23])


def test_fortran_ordered_and_truncated_npy_files(tmp_path, rows) -> None:
    np.save(tmp_path / "f.npy", np.asfortranarray(rows))
    np.testing.assert_array_equal(
        np.concatenate(list(open_stream(tmp_path / "f.npy").chunks(5))), rows
    )
    np.save(tmp_path / "t.npy", rows)
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[: len(data) - 40])
    with pytest.raises(DatasetError, match="truncated"):
        list(open_stream(tmp_path / "t.npy").chunks(5))


def test_uint8_rows_are_scaled_as_load_dataset_does(tmp_path) -> None:
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.save(tmp_path / "img.npy", images)
    (chunk,) = open_stream(tmp_path / "img.npy").chunks()
    np.testing.assert_allclose(chunk, images.reshape(2, 9) / 255, rtol=1e-6)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no .npy or .npz shards"),
        ({"a.npy": np.zeros((2, 3)), "b.npy": np.zeros((2, 4))}, "rows of 4 features"),
        ({"a.npy": np.zeros(3)}, "n_samples"),
        ({"a.npy": np.array([["a"]])}, "numeric"),
        ({"a.npz": {"rows": np.zeros((2, 3))}}, "no array 'x'"),
    ],
)
def test_bad_shards_are_one_line_errors(tmp_path, files, message) -> None:
    for name, value in files.items():
        if name.endswith(".npz"):
            np.savez(tmp_path / name, **value)
        else:
            np.save(tmp_path / name, value)
    with pytest.raises(DatasetError, match=message):
        open_stream(tmp_path)


def test_other_files_do_not_stream(tmp_path) -> None:
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(DatasetError, match="only .npy and .npz"):
        open_stream(tmp_path / "x.csv")
    with pytest.raises(DatasetError, match="does not exist"):
        open_stream(tmp_path / "missing.npy")
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(DatasetError, match="not an .npz archive"):
        ArrayStream([tmp_path / "bad.npz"])


def test_iter_chunks_of_arrays_and_memory_maps(tmp_path, rows) -> None:
    np.save(tmp_path / "r.npy", rows)
    mapped = np.load(tmp_path / "r.npy", mmap_mode="r")
    assert is_streamed(mapped) and not is_streamed(rows)
    assert [len(c) for c in iter_chunks(mapped, 10)] == [10, 10, 3]
    np.testing.assert_array_equal(np.concatenate(list(iter_chunks(rows, 7))), rows)
    with pytest.raises(ValueError, match="chunk_size"):
        list(iter_chunks(rows, 0))


def _fit(n_features: int = 12) -> tuple[Clusterer, np.ndarray]:
    rng = np.random.default_rng(0)
    protos = rng.random((3, n_features)) > 0.5
    labels = np.arange(600) % 3
    x = np.where(protos[labels], 0.85, 0.15) + rng.normal(0, 0.05, (600, n_features))
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    est = Clusterer(
        "vade",
        n_components=3,
        model_options={"hidden": (8,), "latent_dim": 2},
        epochs=2,
        batch_size=64,
        init=RandomInit(),
        device="cpu",
        progress=False,
        random_state=0,
    )
    return est.fit(x[:120]), x


def test_memory_mapped_predictions_equal_the_in_memory_array(tmp_path, monkeypatch) -> None:
    est, x = _fit()
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    monkeypatch.setattr(streaming, "DEFAULT_CHUNK_SIZE", 64)  # ten chunks
    np.testing.assert_array_equal(est.predict(mapped), est.predict(x))
    np.testing.assert_allclose(est.predict_proba(mapped), est.predict_proba(x), rtol=1e-6)
    np.testing.assert_allclose(est.transform(mapped), est.transform(x), rtol=1e-6, atol=1e-7)
    stream = open_stream(tmp_path)
    np.testing.assert_array_equal(est.predict(stream), est.predict(x))


def test_predict_on_a_file_ten_chunks_long_holds_about_one_chunk(tmp_path, monkeypatch) -> None:
    est, x = _fit(n_features=400)
    big = np.tile(x, (5, 1))  # 3,000 rows x 400: 4.8 MB on disk
    np.save(tmp_path / "big.npy", big)
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    chunk = len(big) // 10
    monkeypatch.setattr(streaming, "DEFAULT_CHUNK_SIZE", chunk)
    est.predict(mapped[:chunk])  # warm up (lazy imports, caches)

    def peak(data: np.ndarray) -> int:
        tracemalloc.start()
        try:
            est.predict(data)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    streamed = peak(mapped)
    chunk_bytes = chunk * big.shape[1] * 4
    # each chunk is read into memory (the measurement sees it), never much more
    assert chunk_bytes <= streamed < 3 * chunk_bytes, (streamed, chunk_bytes)
    assert streamed < big.nbytes / 3


def test_a_memory_map_streams_with_its_values_unchanged(tmp_path) -> None:
    images = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 2, 3)
    np.save(tmp_path / "img.npy", images)
    mapped = np.load(tmp_path / "img.npy", mmap_mode="r")
    stream = streaming.as_stream(mapped)
    assert isinstance(stream, streaming.MappedArray) and stream.shape == (4, 6)
    assert repr(stream) == "MappedArray('img', shape=(4, 6), shards=1)"
    flat = images.reshape(4, 6).astype(np.float32)  # as in-memory arrays: not scaled by 1/255
    chunks = list(stream.chunks(3))
    assert [c.dtype for c in chunks] == [np.float32] * 2 and chunks[0].flags.writeable
    np.testing.assert_array_equal(np.concatenate(chunks), flat)
    np.testing.assert_array_equal(stream.take([3, 0, 3]), flat[[3, 0, 3]])
    np.testing.assert_array_equal(stream.read(stream.spans(3)[1]), flat[3:])
    assert streaming.as_stream(stream) is stream
    assert streaming.as_stream(tmp_path / "img.npy").shape == (4, 6)
    with pytest.raises(TypeError, match="a stream is"):
        streaming.as_stream(images)
    with pytest.raises(DatasetError, match="n_samples"):
        streaming.MappedArray(np.load(tmp_path / "img.npy", mmap_mode="r")[0, 0])


def test_shard_offsets_place_each_shard_among_all_rows(tmp_path, rows) -> None:
    np.save(tmp_path / "a.npy", rows[:10])
    np.save(tmp_path / "b.npy", rows[10:13])
    np.save(tmp_path / "c.npy", rows[13:])
    assert open_stream(tmp_path).offsets == [0, 10, 13]


def _resident_kb() -> int:
    with open("/proc/self/status") as status:
        text = status.read()
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise OSError("no VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_reading_a_memory_map_leaves_its_pages_out_of_resident_memory(tmp_path) -> None:
    big = np.lib.format.open_memmap(
        tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(20_000, 1024)
    )  # 80 MB
    big[:] = 1.0
    big.flush()
    del big
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    before = _resident_kb()
    total = sum(float(chunk[:, 0].sum()) for chunk in streaming.MappedArray(mapped).chunks(500))
    released = _resident_kb() - before
    assert total == 20_000
    np.asarray(mapped).sum()  # reading the map itself keeps its pages resident
    kept = _resident_kb() - before
    assert released < 20_000 < kept, (released, kept)  # kB: well under and over 20 MB


def test_a_map_is_read_a_few_rows_at_a_time_in_order(tmp_path, rows, monkeypatch) -> None:
    monkeypatch.setattr(streaming, "RELEASE_BYTES", 3 * 6 * 4)  # three rows between releases
    np.save(tmp_path / "r.npy", rows)
    for stream in (
        open_stream(tmp_path / "r.npy"),
        streaming.as_stream(np.load(tmp_path / "r.npy", mmap_mode="r")),
    ):
        index = np.array([22, 0, 1, 2, 12, 3, 12, 17, 21])
        np.testing.assert_array_equal(stream.take(index), rows[index])
        np.testing.assert_array_equal(np.concatenate(list(stream.chunks(10))), rows)
