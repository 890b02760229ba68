"""Finding, verifying and downloading the files of named data sets, with pooch.

A file is looked for in ``data_dir/<name>/`` and then directly in ``data_dir``. Whatever is
found is verified against its official checksum. A missing file is downloaded (when allowed)
by :func:`pooch.retrieve`, which streams it into a temporary file beside the target, checks
its hash and only then moves it into place, so a failed or corrupt download never leaves a
file behind. Mirrors are tried in order until one gives the official file.
"""

from __future__ import annotations

import ftplib
import logging
import os
import re
import shutil
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pooch

from pyroclust.datasets.sources import RemoteFile
from pyroclust.exceptions import DatasetError
from pyroclust.validation import one_line

logger = logging.getLogger(__name__)

#: Environment variable naming the default data directory.
DATA_ENV_VAR = "PYROCLUST_DATA"

_TIMEOUT_S = 60.0
_ALGORITHMS = ("sha256", "md5")

#: A pooch downloader: ``downloader(url, output_file, pooch, check_only=False)``.
Downloader = Callable[..., Any]


def get_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data directory.

    Parameters
    ----------
    data_dir : str or path-like, optional
        An explicit directory. When ``None``, the environment variable ``PYROCLUST_DATA`` is
        used if set, else ``~/.cache/pyroclust``.

    Returns
    -------
    pathlib.Path
        The directory, with ``~`` expanded (it need not exist yet).
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_ENV_VAR) or Path("~") / ".cache" / "pyroclust"
    return Path(data_dir).expanduser()


def _parse_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, digest = checksum.partition(":")
    algorithm = algorithm.lower()
    if algorithm not in _ALGORITHMS or not digest:
        raise ValueError(f"checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}")
    return algorithm, digest.lower()


def file_checksum(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file.

    Parameters
    ----------
    path : str or path-like
        The file.
    algorithm : {"sha256", "md5"}
        The hash function.

    Returns
    -------
    str
        The lower-case hexadecimal digest.
    """
    return pooch.file_hash(os.fspath(path), alg=algorithm.lower())


def verify_checksum(path: str | os.PathLike[str], checksum: str) -> None:
    """Check that a file has the expected checksum.

    Parameters
    ----------
    path : str or path-like
        The file.
    checksum : str
        ``"sha256:<hex>"`` or ``"md5:<hex>"``.

    Raises
    ------
    DatasetError
        If the digest differs, with the expected and the actual value.
    """
    algorithm, expected = _parse_checksum(checksum)
    got = file_checksum(path, algorithm)
    if got != expected:
        raise DatasetError(
            f"{path} is corrupt or not the official file: its {algorithm} is {got}, expected "
            f"{expected}. Delete it and download it again from the official source (files of "
            "another data set with the same name, as MNIST and Fashion-MNIST have, belong in "
            "their own sub-folder of the data directory)."
        )


def _copy_local(url: str, output_file: str, pooch_: Any = None, check_only: bool = False) -> Any:
    """A pooch downloader for ``file://`` URLs (a local mirror, or a test's "server")."""
    source = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if check_only:
        return source.is_file()
    shutil.copyfile(source, output_file)
    return None


def _downloader(url: str) -> Downloader:
    """The pooch downloader for ``url``'s scheme; a seam so tests can keep off the network."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "file":
        return _copy_local
    if scheme in ("http", "https"):
        return pooch.HTTPDownloader(progressbar=False, timeout=_TIMEOUT_S)
    if scheme == "ftp":
        return pooch.FTPDownloader(timeout=_TIMEOUT_S)
    raise DatasetError(f"cannot download {url}: unsupported URL scheme {scheme or '(none)'!r}.")


_POOCH_MISMATCH = re.compile(r"expected (?P<expected>\S+) but got (?P<got>[0-9a-fA-F]+)")


def _download(url: str, target: Path, checksum: str) -> None:
    """Download ``url`` to ``target`` with pooch, verified against ``checksum`` on the way."""
    algorithm, expected = _parse_checksum(checksum)
    try:
        pooch.retrieve(
            url,
            known_hash=f"{algorithm}:{expected}",
            fname=target.name,
            path=target.parent,
            downloader=_downloader(url),
        )
    except ValueError as error:
        match = _POOCH_MISMATCH.search(str(error))
        if match is None:
            raise DatasetError(f"{url} failed: {one_line(error)}") from error
        raise DatasetError(
            f"the file downloaded from {url} is corrupt or not the official file: its "
            f"{algorithm} is {match['got'].lower()}, expected {expected}."
        ) from error


def fetch_file(
    remote: RemoteFile,
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
) -> Path:
    """Return the path of a verified copy of one file of a named data set.

    Parameters
    ----------
    remote : RemoteFile
        The file's official name, download locations and checksum.
    dataset : str
        The canonical data-set name, which is also the sub-folder of ``data_dir``.
    data_dir : str or path-like, optional
        The data directory (see :func:`get_data_dir`).
    download : bool
        Download the file from its official source when it is not found.

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    DatasetError
        If the file is corrupt, or missing and could not (or may not) be downloaded. The
        message says where it was looked for and how to place it by hand.
    """
    root = get_data_dir(data_dir)
    target = root / dataset / remote.filename
    for candidate in (target, root / remote.filename):
        if candidate.is_file():
            verify_checksum(candidate, remote.checksum)
            return candidate

    how_to = (
        f"Download it by hand from {remote.urls[0]} and put it at {target} (or directly in "
        f"{root}), or pass data_dir= (or set {DATA_ENV_VAR}) to the folder that holds it."
    )
    if not download:
        raise DatasetError(
            f"{dataset}: file {remote.filename} is missing; looked for {target} and "
            f"{root / remote.filename}, and download=False. {how_to}"
        )
    failures = []
    for url in remote.urls:
        logger.info("Downloading %s to %s", url, target)
        try:
            _download(url, target, remote.checksum)
        except DatasetError as error:
            failures.append(str(error))
        except (OSError, EOFError, ftplib.Error) as error:  # requests' errors are OSErrors
            failures.append(f"{url} failed: {one_line(error)}")
        else:
            return target
    raise DatasetError(
        f"{dataset}: file {remote.filename} is missing (looked for {target} and "
        f"{root / remote.filename}) and could not be downloaded: {'; '.join(failures)}. "
        f"{how_to}"
    )


__all__ = ["DATA_ENV_VAR", "fetch_file", "file_checksum", "get_data_dir", "verify_checksum"]
