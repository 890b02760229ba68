"""Checkpoints: plain tensors and containers, loaded with ``torch.load(weights_only=True)``.

A checkpoint is a dict with a format tag, a kind, a version, the payload, and a SHA-256 digest
of the payload. Loading verifies all of them, and the shape of the payload for the kinds
pyroclust writes (:data:`PAYLOAD_TYPES`), so an empty or truncated file, a file of another
program, a checkpoint of another kind of model, or a malformed payload is refused with a
:class:`~pyroclust.exceptions.CheckpointError` (one line) instead of being half-loaded.

The digest detects **corruption, not tampering**: it is a checksum that anyone can recompute
after editing a file, not a signature. What protects a user from a hostile file is that loading
uses ``torch.load(weights_only=True)``, which unpickles only tensors and plain containers and
never runs code; still, load checkpoints only from sources you trust, as a crafted file can
hold any numbers.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pyroclust.exceptions import CheckpointError

FORMAT = "pyroclust-checkpoint"
VERSION = 1

#: A state dict: a mapping of parameter names to tensors (a marker in :data:`PAYLOAD_TYPES`).
STATE_DICT = "state_dict"
#: The expected payload of each kind pyroclust writes: key -> type (or tuple of types, or
#: :data:`STATE_DICT`). Keys not listed are not checked; kinds not listed are not checked.
PAYLOAD_TYPES: dict[str, dict[str, Any]] = {
    "clusterer": {  # pyroclust.estimator.Clusterer.save
        "model_class": str,
        "guide_class": str,
        "spec": (dict, type(None)),
        "model": STATE_DICT,
        "guide": STATE_DICT,
        "history": list,
        "n_features_in": int,
    },
    "fit-session": {  # pyroclust.infer.session.FitSession
        "model_class": str,
        "guide_class": str,
        "records": list,
    },
}


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
    """SHA-256 of a payload of tensors, containers and plain values.

    A checksum that detects corruption; anyone can recompute it, so it is not a signature.
    """
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


def _type_name(expected: Any) -> str:
    if expected == STATE_DICT:
        return "a state dict (names -> tensors)"
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def _matches(value: Any, expected: Any) -> bool:
    if expected == STATE_DICT:
        return isinstance(value, Mapping) and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
        )
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:  # True is an int to Python, not here
        return False
    return isinstance(value, types)


def check_payload(
    payload: Mapping[str, Any], expected: Mapping[str, Any], path: str | os.PathLike = "checkpoint"
) -> None:
    """Check that ``payload`` has every key of ``expected`` with a value of its type.

    Parameters
    ----------
    payload : mapping
        The payload of a checkpoint.
    expected : mapping
        Key -> a type, a tuple of types, or :data:`STATE_DICT`.
    path : str or path-like
        Named in the message.

    Raises
    ------
    CheckpointError
        Naming the missing keys, or the first key whose value has the wrong type.
    """
    missing = [key for key in expected if key not in payload]
    if missing:
        raise CheckpointError(
            f"{str(path)!r} is malformed: its payload lacks {', '.join(map(repr, missing))}"
        )
    for key, kind in expected.items():
        if not _matches(payload[key], kind):
            raise CheckpointError(
                f"{str(path)!r} is malformed: {key!r} should be {_type_name(kind)}, "
                f"not {type(payload[key]).__name__}"
            )


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Load and verify a checkpoint written by :func:`save_checkpoint`; return its payload.

    The SHA-256 digest is checked to detect corruption (a disk or transfer error, a partial
    copy); it is not a signature, so it does not prove where a file came from. Loading uses
    ``torch.load(weights_only=True)``, which never runs code from the file.

    Raises
    ------
    CheckpointError
        If the file is missing, empty, unreadable, not a pyroclust checkpoint, of another
        ``kind``, of an unknown version, malformed (a payload key missing or of the wrong type,
        see :data:`PAYLOAD_TYPES`), or if its digest does not match (it was corrupted). The
        message is one line.
    """
    path = Path(path)
    name = repr(str(path))
    if path.is_dir():
        raise CheckpointError(f"checkpoint {name} is a directory, not a file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {name} does not exist")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise CheckpointError(f"checkpoint {name} cannot be read: {err.strerror}") from err
    if size == 0:
        raise CheckpointError(f"{name} is not a readable checkpoint: the file is empty (0 bytes)")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad files
        detail = " ".join(str(err).split())[:200]
        raise CheckpointError(
            f"{name} is not a readable checkpoint (corrupt, truncated, or not written by "
            f"pyroclust): {type(err).__name__}" + (f": {detail}" if detail else "")
        ) from err
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a pyroclust checkpoint")
    if record.get("version") != VERSION:
        raise CheckpointError(
            f"{name} has checkpoint version {record.get('version')!r}; "
            f"this pyroclust reads version {VERSION}"
        )
    if not isinstance(record.get("kind"), str):
        raise CheckpointError(f"{name} is malformed: it names no kind of checkpoint")
    if kind is not None and record["kind"] != kind:
        raise CheckpointError(f"{name} holds a {record['kind']!r} checkpoint, not a {kind!r} one")
    payload = record.get("payload")
    if not isinstance(payload, dict):
        raise CheckpointError(f"{name} is malformed: it holds no payload dict")
    if not isinstance(record.get("sha256"), str):
        raise CheckpointError(f"{name} is malformed: it holds no SHA-256 digest")
    if digest(payload) != record["sha256"]:
        raise CheckpointError(
            f"{name} failed its integrity check: its contents changed after it was written "
            "(corrupted or edited; the digest detects corruption, it is not a signature)"
        )
    if record["kind"] in PAYLOAD_TYPES:
        check_payload(payload, PAYLOAD_TYPES[record["kind"]], path)
    return payload
