"""``pyroclust predict`` on data read in chunks: a .npy file (memory-mapped) or a folder of
shards gives the labels of the in-memory path, written as it goes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from pyroclust import cli
from pyroclust.estimator import Clusterer
from pyroclust.infer.init import GMMInit


@pytest.fixture
def model_and_rows(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 50)
    protos = rng.random((3, 12)) > 0.5
    x = np.clip(np.where(protos[y], 0.85, 0.15) + rng.normal(0, 0.05, (150, 12)), 0, 1)
    x = x.astype(np.float32)
    est = Clusterer(
        "vade",
        n_components=3,
        model_options={"hidden": (8,), "latent_dim": 2},
        epochs=2,
        batch_size=50,
        lr=1e-2,
        init=GMMInit(pretrain_epochs=5),
        device="cpu",
        progress=False,
        random_state=0,
    ).fit(x)
    path = tmp_path / "model.ckpt"
    est.save(path)
    return path, est, x, y


def _predict(ckpt, data, out, *extra) -> int:
    return cli.main(["predict", str(ckpt), "--data", str(data), "--out", str(out), *extra])


def test_a_npy_file_streams_to_the_labels_of_the_in_memory_path(tmp_path, model_and_rows, capsys):
    ckpt, est, x, y = model_and_rows
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x=x, y=y)
    streamed, loaded = tmp_path / "streamed.csv", tmp_path / "loaded.csv"
    assert _predict(ckpt, tmp_path / "x.npy", streamed, "--chunk-size", "16", "--proba") == 0
    printed = capsys.readouterr().out
    assert "rows/s" in printed and "acc" not in printed  # a bare .npy has no labels
    assert _predict(ckpt, tmp_path / "x.npz", loaded, "--proba") == 0
    assert "acc" in capsys.readouterr().out
    labels = cli.read_labels(streamed)
    assert len(set(labels)) > 1  # a model that tells rows apart
    np.testing.assert_array_equal(labels, est.predict(x))
    # The same rows, index, labels and p0..p2. The probabilities agree to float32 rounding,
    # not bit for bit: a chunk of 16 rows and one of 150 take different BLAS blockings.
    a, b = pd.read_csv(streamed), pd.read_csv(loaded)
    assert list(a.columns) == ["index", "label", "p0", "p1", "p2"] == list(b.columns)
    pd.testing.assert_frame_equal(a[["index", "label"]], b[["index", "label"]])
    np.testing.assert_allclose(a[["p0", "p1", "p2"]], b[["p0", "p1", "p2"]], rtol=1e-3, atol=0)
    assert not list(tmp_path.glob("*.part"))


def test_a_folder_of_shards_is_labelled_in_row_order(tmp_path, model_and_rows, capsys) -> None:
    ckpt, est, x, _ = model_and_rows
    shards = tmp_path / "shards"
    shards.mkdir()
    np.save(shards / "part-0.npy", x[:70])
    np.savez(shards / "part-1.npz", x=x[70:])
    out = tmp_path / "labels.csv"
    assert _predict(ckpt, shards, out, "--chunk-size", "32") == 0
    np.testing.assert_array_equal(cli.read_labels(out), est.predict(x))
    assert re.search(r"n_samples +150\n", capsys.readouterr().out)


def test_bad_rows_leave_no_label_file(tmp_path, model_and_rows, capsys) -> None:
    ckpt, *_ = model_and_rows
    np.save(tmp_path / "wide.npy", np.zeros((40, 13), np.float32))
    out = tmp_path / "labels.csv"
    assert _predict(ckpt, tmp_path / "wide.npy", out, "--chunk-size", "8") == 2
    assert "13" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.part"))
