"""Atomic writes: a file is either its old complete self or its new complete self, never half.

Every writer goes through a temporary file in the destination folder, flushes and fsyncs it,
then ``os.replace``s it over the target (atomic on POSIX and Windows). If anything fails on the
way (a full disk, a kill, an exception), the temporary file is removed and the previous file
is left untouched.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not available on every platform.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode(path: Path) -> int:
    """Permissions a plainly created file would get: the old file's, else 0o666 minus the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the temporaries that killed writers left in ``folder`` (not below it); returns them.

    Only call this when no other process writes into ``folder``.
    """
    folder = Path(folder)
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()] if folder.is_dir() else []
    for p in stale:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stale


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """Context manager yielding a file object; on clean exit the file replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _default_mode(path))  # mkstemp creates 0600
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:
            # A full disk raises from write/fsync without naming the file: name the target.
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_json(path, obj, **kwargs) -> None:
    kwargs.setdefault("indent", 2)
    atomic_write_text(path, json.dumps(obj, **kwargs) + "\n")


def atomic_save_npy(path, array) -> None:
    """``np.save`` through a temporary file. ``path`` is used as given (no ``.npy`` appended)."""
    with atomic_write(path, "wb") as f:
        np.save(f, np.asarray(array), allow_pickle=False)


def atomic_torch_save(obj, path) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def replaced_folder(final, sync: bool = False):
    """Yield an empty staging folder (next to ``final``) that replaces ``final`` as a whole on success.

    Files of an earlier run never mix with files of this one, and a failure or a kill leaves the
    previous ``final`` untouched (the staging folder is removed on failure). ``sync``: flush the
    file system before publishing, for callers that wrote many files without an fsync each.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.with_name(f".{final.name}.staging-{uuid.uuid4().hex[:8]}")
    stage.mkdir()
    try:
        yield stage
        if sync and hasattr(os, "sync"):
            os.sync()
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
