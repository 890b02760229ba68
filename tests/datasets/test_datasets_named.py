"""Named data sets: digits, MNIST and Pendigits from the shared folder, and fake-file checks of
the Fashion-MNIST and USPS loaders (their real files are not shipped with the project)."""

from __future__ import annotations

import bz2
from pathlib import Path

import numpy as np
import pytest

from pyroclust.datasets import (
    DATASETS,
    SOURCES,
    Dataset,
    RemoteFile,
    available_datasets,
    load_dataset,
)
from pyroclust.exceptions import DatasetError


def _check_unit_images(ds: Dataset, n: int, d: int, image_shape: tuple[int, int] | None) -> None:
    assert ds.x.shape == (n, d)
    assert ds.x.dtype == np.float32 and ds.x.flags.c_contiguous
    assert ds.y is not None and ds.y.shape == (n,) and ds.y.dtype == np.int64
    assert ds.x.min() >= 0.0 and ds.x.max() <= 1.0
    assert ds.support == "unit"
    assert ds.image_shape == image_shape


def test_digits_is_embedded_and_scaled():
    ds = load_dataset("digits")
    _check_unit_images(ds, 1797, 64, (8, 8))
    assert ds.name == "digits" and ds.x.max() == 1.0
    assert set(np.unique(ds.y)) == set(range(10))
    assert "n_samples=1797" in repr(ds)


@pytest.mark.parametrize("name", ["DIGITS", " digits ", "Fashion_MNIST", "fashion-mnist", "USPS"])
def test_names_are_case_and_separator_insensitive(name, monkeypatch):
    calls = []

    def fake_loader(data_dir=None, *, download=True, split="all"):
        calls.append((data_dir, download, split))
        return Dataset(x=np.zeros((2, 1)), y=None, name="fake")

    canonical = {"digits": "digits", "fashionmnist": "fashion-mnist", "usps": "usps"}
    key = name.strip().lower().replace("_", "").replace("-", "")
    monkeypatch.setitem(DATASETS, canonical[key], fake_loader)
    load_dataset(name, "somewhere", download=False, split="train")
    assert calls == [("somewhere", False, "train")]


def test_registry_lists_the_named_sets():
    assert available_datasets() == sorted(DATASETS)
    assert {"digits", "mnist", "fashion-mnist", "pendigits", "usps"} <= set(available_datasets())


def test_unknown_name_lists_known_names():
    with pytest.raises(DatasetError, match="unknown data set 'cifar-10'") as info:
        load_dataset("cifar-10")
    for name in ("digits", "mnist", "fashion-mnist", "pendigits", "usps", ".npz"):
        assert name in str(info.value)


def test_bad_split_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="split must be"):
        load_dataset("pendigits", tmp_path, download=False, split="validation")
    with pytest.raises(DatasetError, match="no 'train' split"):
        load_dataset("digits", split="train")


@pytest.fixture(scope="module")
def mnist_all(request) -> Dataset:
    data_dir = request.getfixturevalue("shared_data_dir")
    return load_dataset("mnist", data_dir, download=False)


def test_mnist_full(mnist_all):
    _check_unit_images(mnist_all, 70_000, 784, (28, 28))
    assert mnist_all.x.max() == 1.0
    assert set(np.unique(mnist_all.y)) == set(range(10))


def test_mnist_splits_are_train_then_test(shared_data_dir, mnist_all):
    train = load_dataset("mnist", shared_data_dir, download=False, split="train")
    _check_unit_images(train, 60_000, 784, (28, 28))
    test = load_dataset("MNIST", shared_data_dir, download=False, split="test")
    assert test.x.shape == (10_000, 784)
    np.testing.assert_array_equal(mnist_all.x[:60_000], train.x)
    np.testing.assert_array_equal(mnist_all.y[60_000:], test.y)
    assert mnist_all.y[0] == 5  # the first official training label


def test_pendigits(shared_data_dir):
    ds = load_dataset("pendigits", shared_data_dir, download=False)
    _check_unit_images(ds, 10_992, 16, None)
    assert set(np.unique(ds.y)) == set(range(10))
    train = load_dataset("pendigits", shared_data_dir, download=False, split="train")
    assert train.x.shape == (7494, 16)
    np.testing.assert_array_equal(ds.x[:7494], train.x)


def test_fashion_mnist_reads_its_own_folder_and_checksums(
    tmp_path, monkeypatch, write_idx, checksum_of
):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion-mnist"
    table = {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        images = write_idx(
            folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28))
        )
        labels = write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
        for path in (images, labels):
            table[path.name] = RemoteFile(path.name, (), checksum_of(path, "md5"))
    monkeypatch.setitem(SOURCES, "fashion-mnist", table)

    ds = load_dataset("fashion_mnist", tmp_path, download=False)
    _check_unit_images(ds, 10, 784, (28, 28))
    assert ds.name == "fashion-mnist"
    np.testing.assert_array_equal(ds.y, [0, 1, 2, 3, 4, 5, 0, 1, 2, 3])
    assert load_dataset("fashion-mnist", tmp_path, download=False, split="test").x.shape == (4, 784)


def test_fashion_mnist_rejects_mnist_files(shared_data_dir):
    # The file names are shared with MNIST; MNIST's files do not pass Fashion-MNIST's md5s.
    with pytest.raises(DatasetError, match="corrupt or not the official file"):
        load_dataset("fashion-mnist", shared_data_dir / "mnist", download=False, split="test")


def _write_usps(path: Path, labels: list[int], rng: np.random.Generator) -> np.ndarray:
    values = rng.uniform(-1, 1, (len(labels), 256)).round(6)
    values[:, 5] = 0.0  # LIBSVM files may leave zeros out; this column is omitted below
    lines = []
    for label, row in zip(labels, values):
        cells = [f"{j + 1}:{v:.6f}" for j, v in enumerate(row) if j != 5]
        lines.append(f"{label} " + " ".join(cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return values


def test_usps_parses_libsvm_and_maps_labels(tmp_path, monkeypatch, checksum_of):
    rng = np.random.default_rng(1)
    train = _write_usps(tmp_path / "usps" / "usps.bz2", [1, 10, 3], rng)
    test = _write_usps(tmp_path / "usps" / "usps.t.bz2", [2, 5], rng)
    table = {
        name: RemoteFile(name, (), checksum_of(tmp_path / "usps" / name, "md5"))
        for name in ("usps.bz2", "usps.t.bz2")
    }
    monkeypatch.setitem(SOURCES, "usps", table)

    ds = load_dataset("usps", tmp_path, download=False)
    _check_unit_images(ds, 5, 256, (16, 16))
    np.testing.assert_array_equal(ds.y, [0, 9, 2, 1, 4])
    expected = (np.concatenate([train, test]) + 1) / 2
    np.testing.assert_allclose(ds.x, expected, atol=1e-6)


def test_usps_malformed_line(tmp_path, monkeypatch, checksum_of):
    path = tmp_path / "usps" / "usps.bz2"
    path.parent.mkdir()
    path.write_bytes(bz2.compress(b"1 1:0.5 2:oops\n"))
    monkeypatch.setitem(
        SOURCES, "usps", {"usps.bz2": RemoteFile("usps.bz2", (), checksum_of(path, "md5"))}
    )
    with pytest.raises(DatasetError, match="line 1: not in LIBSVM format"):
        load_dataset("usps", tmp_path, download=False, split="train")


def test_bad_idx_magic(tmp_path, monkeypatch, write_idx, checksum_of):
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.parent.mkdir()
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00")  # no gzip, a truncated header
    images = write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", np.zeros((1, 2, 2)))
    table = {p.name: RemoteFile(p.name, (), checksum_of(p)) for p in (path, images)}
    monkeypatch.setitem(SOURCES, "mnist", table)
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset("mnist", tmp_path, download=False, split="test")
    path.write_bytes(b"PK\x03\x04 not idx")
    table[path.name] = RemoteFile(path.name, (), checksum_of(path))
    with pytest.raises(DatasetError, match="not an IDX file: bad magic"):
        load_dataset("mnist", tmp_path, download=False, split="test")


def test_idx_label_count_must_match_images(tmp_path, monkeypatch, write_idx, checksum_of):
    folder = tmp_path / "mnist"
    images = write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    labels = write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(2))
    table = {p.name: RemoteFile(p.name, (), checksum_of(p)) for p in (images, labels)}
    monkeypatch.setitem(SOURCES, "mnist", table)
    with pytest.raises(DatasetError, match="expected 3 labels"):
        load_dataset("mnist", tmp_path, download=False, split="test")
