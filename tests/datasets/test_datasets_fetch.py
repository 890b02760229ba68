"""Finding, verifying and downloading files; downloads come from local ``file://`` URLs only."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pyroclust.datasets import (
    SOURCES,
    RemoteFile,
    fetch_file,
    file_checksum,
    get_data_dir,
    load_dataset,
    verify_checksum,
)
from pyroclust.datasets.fetch import DATA_ENV_VAR
from pyroclust.exceptions import DatasetError

ROWS = "0,100,50,50,1,2,3,4,5,6,7,8,9,10,11,12,3\n100,0,0,0,0,0,0,0,0,0,0,0,0,0,0,99,7\n"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checksum_of) -> Path:
    """A small Pendigits training file "published" at a file:// URL, with its official
    checksum patched into the source table."""
    origin = tmp_path / "server" / "pendigits.tra"
    origin.parent.mkdir()
    origin.write_text(ROWS)
    remote = RemoteFile("pendigits.tra", (origin.as_uri(),), checksum_of(origin))
    monkeypatch.setitem(SOURCES, "pendigits", {"pendigits.tra": remote})
    return origin


def _files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_verifies_and_renames_into_place(tmp_path, served):
    data_dir = tmp_path / "data"
    ds = load_dataset("pendigits", data_dir, split="train")
    assert ds.x.shape == (2, 16) and ds.x.max() == 1.0
    np.testing.assert_array_equal(ds.y, [3, 7])
    target = data_dir / "pendigits" / "pendigits.tra"
    assert target.read_bytes() == served.read_bytes()
    assert _files_under(data_dir) == ["pendigits.tra"]  # no temporary file left behind
    # A second load reads the verified copy and does not download again.
    served.unlink()
    assert load_dataset("pendigits", data_dir, split="train").x.shape == (2, 16)


def test_download_with_wrong_checksum_is_rejected_and_leaves_nothing(tmp_path, served):
    served.write_text(ROWS.replace("100,0,0", "100,0,1"))  # the "server" now has another file
    data_dir = tmp_path / "data"
    with pytest.raises(DatasetError, match="corrupt or not the official file") as info:
        load_dataset("pendigits", data_dir, split="train")
    assert served.as_uri() in str(info.value)
    assert _files_under(data_dir) == []


def test_download_falls_back_to_the_next_mirror(tmp_path, served, monkeypatch):
    remote = SOURCES["pendigits"]["pendigits.tra"]
    dead = (tmp_path / "nowhere" / "pendigits.tra").as_uri()
    monkeypatch.setitem(
        SOURCES["pendigits"],
        "pendigits.tra",
        RemoteFile(remote.filename, (dead, served.as_uri()), remote.checksum),
    )
    assert load_dataset("pendigits", tmp_path / "data", split="train").n_samples == 2


def test_failed_download_says_what_where_and_how(tmp_path, monkeypatch, checksum_of):
    url = "https://archive.example.org/pendigits.tra"  # refused by the offline fixture
    remote = RemoteFile("pendigits.tra", (url,), "sha256:" + "0" * 64)
    monkeypatch.setitem(SOURCES, "pendigits", {"pendigits.tra": remote})
    data_dir = tmp_path / "data"
    with pytest.raises(DatasetError) as info:
        load_dataset("pendigits", data_dir, split="train")
    message = str(info.value)
    assert "pendigits.tra is missing" in message
    assert str(data_dir / "pendigits" / "pendigits.tra") in message
    assert url in message and "network disabled" in message
    assert "by hand" in message
    assert _files_under(data_dir) == []


def test_missing_file_without_download(tmp_path):
    with pytest.raises(DatasetError, match="missing.*download=False") as info:
        load_dataset("mnist", tmp_path, download=False)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in str(info.value)
    assert "https://" in str(info.value)


def test_corrupted_copy_of_an_official_file(tmp_path, shared_data_dir):
    copy = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    copy.parent.mkdir()
    shutil.copy(shared_data_dir / "mnist" / copy.name, copy)
    shutil.copy(shared_data_dir / "mnist" / "t10k-images-idx3-ubyte.gz", copy.parent)
    assert load_dataset("mnist", tmp_path, download=False, split="test").n_samples == 10_000
    data = bytearray(copy.read_bytes())
    data[100] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="corrupt or not the official file") as info:
        load_dataset("mnist", tmp_path, download=False, split="test")
    message = str(info.value)
    assert str(copy) in message
    assert "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6" in message
    assert file_checksum(copy) in message


def test_corrupted_pendigits_copy(tmp_path, shared_data_dir):
    copy = tmp_path / "pendigits" / "pendigits.tes"
    copy.parent.mkdir()
    data = bytearray((shared_data_dir / "pendigits" / copy.name).read_bytes())
    data[0] = ord("9") if data[0] != ord("9") else ord("8")
    copy.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="corrupt or not the official file"):
        load_dataset("pendigits", tmp_path, download=False, split="test")


def test_files_placed_directly_in_data_dir(tmp_path, shared_data_dir):
    for name in ("pendigits.tra", "pendigits.tes"):
        shutil.copy(shared_data_dir / "pendigits" / name, tmp_path / name)
    assert load_dataset("pendigits", tmp_path, download=False).x.shape == (10_992, 16)


def test_default_data_dir_follows_the_environment(tmp_path, monkeypatch, served):
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env-dir"))
    assert get_data_dir() == tmp_path / "env-dir"
    assert get_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    load_dataset("pendigits", split="train")
    assert (tmp_path / "env-dir" / "pendigits" / "pendigits.tra").is_file()
    monkeypatch.delenv(DATA_ENV_VAR)
    assert get_data_dir() == Path("~/.cache/pyroclust").expanduser()


def test_verify_checksum_supports_md5_and_sha256(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"pyroclust")
    verify_checksum(path, "md5:" + file_checksum(path, "md5"))
    verify_checksum(path, "SHA256:" + file_checksum(path).upper())
    with pytest.raises(DatasetError, match="its md5 is"):
        verify_checksum(path, "md5:" + "0" * 32)
    with pytest.raises(ValueError, match="checksum must look like"):
        verify_checksum(path, "crc32:1234")


def test_fetch_file_returns_the_verified_path(tmp_path, served):
    remote = SOURCES["pendigits"]["pendigits.tra"]
    path = fetch_file(remote, "pendigits", tmp_path / "data")
    assert path == tmp_path / "data" / "pendigits" / "pendigits.tra"
    assert fetch_file(remote, "pendigits", tmp_path / "data", download=False) == path


def test_downloads_go_through_pooch(tmp_path, served, monkeypatch):
    import pooch

    calls = []
    real_retrieve = pooch.retrieve

    def spy(url, known_hash, **kwargs):
        calls.append((url, known_hash))
        return real_retrieve(url, known_hash, **kwargs)

    monkeypatch.setattr(pooch, "retrieve", spy)
    remote = SOURCES["pendigits"]["pendigits.tra"]
    fetch_file(remote, "pendigits", tmp_path / "data")
    assert calls == [(served.as_uri(), remote.checksum)]
    fetch_file(remote, "pendigits", tmp_path / "data")  # found and verified: no download
    assert len(calls) == 1


def test_unsupported_url_scheme_is_a_dataset_error(tmp_path, monkeypatch):
    from pyroclust.datasets import fetch

    monkeypatch.undo()  # the real downloader choice, which never opens anything here
    remote = RemoteFile("f.bin", ("gopher://example.org/f.bin",), "sha256:" + "0" * 64)
    with pytest.raises(DatasetError, match="unsupported URL scheme 'gopher'"):
        fetch.fetch_file(remote, "x", tmp_path)
    assert _files_under(tmp_path) == []
