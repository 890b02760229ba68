"""Checkpoints: plain tensors and containers, loaded with ``torch.load(weights_only=True)``.

A checkpoint is a dict with a format tag, a kind, a version, the payload, and a SHA-256 digest
of the payload. Loading verifies all of them, so a truncated file, a file of another program,
a checkpoint of another kind of model, or one whose numbers were edited is refused with a
:class:`~pyroclust.exceptions.CheckpointError` instead of being half-loaded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from pyroclust.exceptions import CheckpointError

FORMAT = "pyroclust-checkpoint"
VERSION = 1


def _update_digest(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode())
            _update_digest(h, obj[key])
    elif isinstance(obj, list | tuple):
        h.update(f"L{len(obj)}".encode())
        for item in obj:
            _update_digest(h, item)
    else:
        h.update(repr(obj).encode())


def digest(payload: Any) -> str:
    """SHA-256 of a payload of tensors, containers and plain values."""
    h = hashlib.sha256()
    _update_digest(h, payload)
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, kind: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically to ``path`` (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "payload": payload,
        "sha256": digest(payload),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(record, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Load and verify a checkpoint written by :func:`save_checkpoint`; return its payload.

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable, not a pyroclust checkpoint, of another ``kind``,
        of an unknown version, or if its digest does not match (it was modified).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad files
        raise CheckpointError(
            f"{str(path)!r} is not a readable checkpoint (corrupt, truncated, or not written "
            f"by pyroclust): {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        ) from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a pyroclust checkpoint")
    if record.get("version") != VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint version {record.get('version')!r}; "
            f"this pyroclust reads version {VERSION}"
        )
    if kind is not None and record.get("kind") != kind:
        raise CheckpointError(
            f"{str(path)!r} holds a {record.get('kind')!r} checkpoint, not a {kind!r} one"
        )
    payload = record.get("payload")
    if not isinstance(payload, dict) or digest(payload) != record.get("sha256"):
        raise CheckpointError(
            f"{str(path)!r} failed its integrity check: its contents were modified after it "
            "was written"
        )
    return payload
