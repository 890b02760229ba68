"""Finding, verifying and downloading the files of named data sets.

A file is looked for in ``data_dir/<name>/`` and then directly in ``data_dir``. Whatever is
found is verified against its official checksum. A missing file is downloaded (when allowed)
from its official source into a temporary file beside the target, verified while it streams,
and only then renamed into place, so a failed or corrupt download never leaves a file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import IO

from pyroclust.datasets.sources import RemoteFile
from pyroclust.exceptions import DatasetError

logger = logging.getLogger(__name__)

#: Environment variable naming the default data directory.
DATA_ENV_VAR = "PYROCLUST_DATA"

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0
_ALGORITHMS = ("sha256", "md5")


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


def _new_hash(algorithm: str) -> hashlib._Hash:
    if algorithm == "md5":
        return hashlib.md5(usedforsecurity=False)
    return hashlib.new(algorithm)


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
    digest = _new_hash(algorithm.lower())
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def _open_url(url: str, timeout: float) -> IO[bytes]:
    """Open ``url`` for reading; a seam so tests can keep off the network."""
    return urllib.request.urlopen(url, timeout=timeout)  # official URLs only


def _download(url: str, target: Path, checksum: str) -> None:
    """Stream ``url`` to a temporary file beside ``target``, verify it, rename it into place."""
    algorithm, expected = _parse_checksum(checksum)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    tmp = Path(tmp_name)
    try:
        digest = _new_hash(algorithm)
        with os.fdopen(handle, "wb") as out, _open_url(url, _TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if got != expected:
            raise DatasetError(
                f"the file downloaded from {url} is corrupt or not the official file: its "
                f"{algorithm} is {got}, expected {expected}."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


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
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, HTTP
            failures.append(f"{url} failed: {error}")
        else:
            return target
    raise DatasetError(
        f"{dataset}: file {remote.filename} is missing (looked for {target} and "
        f"{root / remote.filename}) and could not be downloaded: {'; '.join(failures)}. "
        f"{how_to}"
    )


__all__ = ["DATA_ENV_VAR", "fetch_file", "file_checksum", "get_data_dir", "verify_checksum"]
