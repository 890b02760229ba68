"""``pyroclust fit`` on data read in chunks: a .npy file or a folder of shards is fitted as the
same rows in memory are, its labels written for every row, its scores and plots computed on a
bounded seeded subsample, in memory that does not grow with the file."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from pyroclust import cli

TINY = ["--hidden", "16", "--latent-dim", "2", "--pretrain-epochs", "1", "--no-progress"]
SCORES = ("silhouette", "davies_bouldin", "calinski_harabasz", "n_clusters_used", "start_ari")


def _images(rows: int, width: int = 16, seed: int = 0) -> np.ndarray:
    """``rows`` values in [0, 1] around three prototypes, float32 (rows, width)."""
    rng = np.random.default_rng(seed)
    protos = rng.random((3, width)) > 0.5
    x = np.where(protos[np.arange(rows) % 3], 0.85, 0.15) + rng.normal(0, 0.05, (rows, width))
    return np.clip(x, 0, 1).astype(np.float32)


def _fit(data, out, *extra) -> int:
    argv = ["fit", "vade", "--data", str(data), "--out", str(out), "--n-components", "3"]
    return cli.main([*argv, *TINY, "--epochs", "1", *extra])


def _metrics(out) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_a_npy_file_is_fitted_as_the_same_rows_in_memory(tmp_path, capsys) -> None:
    x = _images(90).reshape(90, 4, 4)  # images: their plots too
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x=x)  # no labels either: loaded whole
    streamed, loaded = tmp_path / "streamed", tmp_path / "loaded"
    assert _fit(tmp_path / "x.npy", streamed) == 0
    assert _fit(tmp_path / "x.npz", loaded) == 0
    assert "metrics_rows" in capsys.readouterr().out
    assert (streamed / "labels.csv").read_text() == (loaded / "labels.csv").read_text()
    assert len(set(cli.read_labels(streamed / "labels.csv"))) > 1
    a, b = _metrics(streamed), _metrics(loaded)
    assert a["metrics_rows"] == a["n_samples"] == b["metrics_rows"] == 90
    for key in SCORES:  # a file smaller than the subsample: its scores see every row
        assert a[key] == pytest.approx(b[key], rel=1e-6), key
    pictures = {p.name for p in loaded.glob("*.png")}
    assert {"samples.png", "reconstructions.png"} <= pictures
    assert {p.name for p in streamed.glob("*.png")} == pictures
    assert json.loads((streamed / "config.json").read_text())["chunk_size"] is None


def test_shards_give_every_rows_label_and_the_scores_a_subsample(tmp_path) -> None:
    x = _images(90)
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "part-0.npy", x[:50])
    np.savez(shards / "part-1.npz", x=x[50:])
    out = tmp_path / "run"
    assert _fit(shards, out, "--chunk-size", "32", "--metrics-max-samples", "40") == 0
    labels = cli.read_labels(out / "labels.csv")
    assert labels.shape == (90,)
    metrics = _metrics(out)
    assert metrics["metrics_rows"] == 40 and metrics["n_samples"] == 90
    assert metrics["n_clusters_used"] == len(set(labels))  # counted over every row
    # the saved model labels the shards as the fit did
    pred = tmp_path / "pred.csv"
    assert (
        cli.main(["predict", str(out / "model.ckpt"), "--data", str(shards), "--out", str(pred)])
        == 0
    )
    np.testing.assert_array_equal(cli.read_labels(pred), labels)


def test_an_interrupted_streamed_fit_resumes_with_its_chunks_and_subsample(
    tmp_path, interrupt_at_epoch, capsys
) -> None:
    np.save(tmp_path / "x.npy", _images(90))
    streamed = ["--chunk-size", "32", "--init-max-samples", "60", "--epochs", "3"]
    reference = tmp_path / "reference"
    assert _fit(tmp_path / "x.npy", reference, *streamed) == 0
    out = tmp_path / "run"
    with interrupt_at_epoch(2):
        assert _fit(tmp_path / "x.npy", out, *streamed) == 130
    assert "--resume" in capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())
    assert (saved["chunk_size"], saved["init_max_samples"]) == (32, 60)
    # the saved options (the chunks, the initialisation's subsample) are reused
    assert cli.main(["fit", "vade", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert (out / "labels.csv").read_text() == (reference / "labels.csv").read_text()
    assert _metrics(out)["elbo"] == _metrics(reference)["elbo"]
    # options that change what is computed are refused on resume
    argv = ["fit", "vade", "--out", str(out), "--resume", "--chunk-size", "16"]
    assert cli.main(argv) == 2 and "--chunk-size 16" in capsys.readouterr().err


def _peak(data, out, *extra) -> int:
    """The most memory (bytes) tracemalloc saw while ``pyroclust fit`` ran on ``data``."""
    tracemalloc.start()
    try:
        assert _fit(data, out, *extra) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_file_ten_chunks_long_is_fitted_in_the_memory_of_a_file_one_chunk_long(tmp_path) -> None:
    # float64 on disk: loading it whole anywhere would allocate a float32 copy of it, which
    # tracemalloc sees (it counts NumPy's buffers, not torch's)
    rows, width, chunk = 4000, 200, 400
    np.save(tmp_path / "big.npy", _images(rows, width).astype(np.float64))
    np.save(tmp_path / "one.npy", _images(chunk, width).astype(np.float64))
    cap = ["--chunk-size", str(chunk), "--init-max-samples", str(chunk)]
    cap += ["--metrics-max-samples", str(chunk)]
    assert _fit(tmp_path / "one.npy", tmp_path / "warm", *cap) == 0  # lazy imports, caches
    one = _peak(tmp_path / "one.npy", tmp_path / "one", *cap)
    big = _peak(tmp_path / "big.npy", tmp_path / "big", *cap)
    assert cli.read_labels(tmp_path / "big" / "labels.csv").shape == (rows,)
    assert _metrics(tmp_path / "big")["metrics_rows"] == chunk
    chunk_bytes = chunk * width * 8  # one chunk as read from the file
    # the model, its plots and one chunk's rows, whatever the file's length: a file ten
    # times longer costs at most another chunk (loading it whole: 9 more as float32)
    assert big < one + chunk_bytes, (big, one, chunk_bytes)
    assert big < rows * width * 8, (big, rows * width * 8)
