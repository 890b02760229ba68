"""SVHN's .mat reader and loader on small files written by scipy.io.savemat (no download)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy.io import savemat

from pyroclust.datasets import load_dataset, svhn
from pyroclust.datasets.sources import RemoteFile
from pyroclust.datasets.svhn import SVHN_SOURCES, load_svhn, read_svhn_mat
from pyroclust.exceptions import DatasetError


def _write(path, n: int = 5, seed: int = 0, side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """An SVHN-layout file: X (side, side, 3, n) uint8, y (n, 1) in 1..10; returns both."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (side, side, 3, n), dtype=np.uint8)
    labels = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # 1..10, 10 for a 0
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"X": images, "y": labels})
    return images, labels


def _md5(path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def test_read_converts_layout_labels_and_scale(tmp_path):
    path = tmp_path / "mine.mat"
    images, labels = _write(path, n=12, side=4)
    x, y = read_svhn_mat(path)
    assert x.shape == (12, 3 * 4 * 4) and x.dtype == np.float32
    assert y.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]  # the label 10 is the digit 0
    # image 7, channel 2 (blue), row 1, column 3: stored at X[1, 3, 2, 7]
    assert x[7].reshape(3, 4, 4)[2, 1, 3] == pytest.approx(images[1, 3, 2, 7] / 255)
    np.testing.assert_allclose(x * 255, images.transpose(3, 2, 0, 1).reshape(12, -1), atol=1e-4)


def test_read_verifies_a_given_checksum(tmp_path):
    path = tmp_path / "mine.mat"
    _write(path)
    read_svhn_mat(path, checksum=_md5(path))
    with pytest.raises(DatasetError, match="is corrupt or not the official file") as err:
        read_svhn_mat(path, checksum="md5:" + "0" * 32)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("contents", "match"),
    [
        ({"images": np.zeros((2, 2, 3, 1))}, "holds the arrays X and y"),
        ({"X": np.zeros((2, 2, 1, 1)), "y": np.ones((1, 1))}, r"\(height, width, 3, n_images\)"),
        ({"X": np.zeros((2, 2, 3, 2)), "y": np.ones((3, 1))}, "3 labels for 2 images"),
        ({"X": np.zeros((2, 2, 3, 1)), "y": np.zeros((1, 1))}, "labels must lie in 1..10"),
    ],
)
def test_malformed_files_are_refused_in_one_line(tmp_path, contents, match):
    path = tmp_path / "bad.mat"
    savemat(path, contents)
    with pytest.raises(DatasetError, match=match) as err:
        read_svhn_mat(path)
    assert "\n" not in str(err.value)
    (tmp_path / "text.mat").write_text("not a mat file")
    with pytest.raises(DatasetError, match="not a readable MATLAB"):
        read_svhn_mat(tmp_path / "text.mat")


def test_official_checksums_are_the_published_ones():
    assert {p: f.checksum for p, f in SVHN_SOURCES.items()} == {
        "train": "md5:e26dedcc434d2e4c54c9b2d4a06d8373",
        "test": "md5:eb5a983be6a315427106f1b164d9cef3",
        "extra": "md5:a93ce644f1a588dc4d68dda5feec44a7",
    }
    assert [f.filename for f in SVHN_SOURCES.values()] == [
        "train_32x32.mat",
        "test_32x32.mat",
        "extra_32x32.mat",
    ]


def test_a_file_under_an_official_name_is_verified(tmp_path):
    _write(tmp_path / "svhn" / "train_32x32.mat")
    with pytest.raises(DatasetError, match="md5 is .*expected e26dedcc434d2e4c54c9b2d4a06d8373"):
        load_svhn(tmp_path, split="train", download=False)


def test_loader_reads_the_verified_parts_in_order(tmp_path, monkeypatch):
    root = tmp_path / "data"
    files = {}
    for seed, part in enumerate(("train", "test", "extra")):
        path = root / "svhn" / SVHN_SOURCES[part].filename
        _write(path, n=3 + seed, seed=seed)
        files[part] = RemoteFile(path.name, ("file:///nowhere",), _md5(path))
    monkeypatch.setattr(svhn, "SVHN_SOURCES", files)
    ds = load_dataset("SVHN", data_dir=root, download=False)
    assert (ds.name, ds.n_samples, ds.n_features) == ("svhn", 3 + 4, 3072)
    assert ds.image_shape == (3, 32, 32) and ds.support == "unit"
    np.testing.assert_array_equal(ds.x[:3], read_svhn_mat(root / "svhn" / "train_32x32.mat")[0])
    assert load_svhn(root, split="test", download=False).n_samples == 4
    assert load_svhn(root, split="train", extra=True, download=False).n_samples == 3 + 5
    with pytest.raises(DatasetError, match="extra=True adds to the training digits"):
        load_svhn(root, split="test", extra=True, download=False)
    with pytest.raises(DatasetError, match="split must be"):
        load_svhn(root, split="valid", download=False)  # type: ignore[arg-type]


def test_missing_file_without_download_says_where(tmp_path):
    with pytest.raises(DatasetError, match="svhn: file test_32x32.mat is missing"):
        load_svhn(tmp_path, split="test", download=False)
