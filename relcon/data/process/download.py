"""Robust download and extraction of the raw benchmark archives.

What this module guarantees:

* A download streams to ``NAME.part`` beside the target and is renamed to ``NAME`` only
  once it is complete, is a readable zip archive, and matches its expected digest. An
  interrupted transfer leaves only the ``.part`` file; the next run resumes it with an HTTP
  ``Range`` request (or starts again if the server ignores ranges).
* Transient failures (connection errors, time-outs, truncated bodies, HTTP 408/429/5xx) are
  retried with exponential back-off. Other HTTP errors fail at once.
* Digests: an archive whose URL has an entry in :data:`KNOWN_SHA256` (or that is given an
  expected digest) is checked against it. The data hosts publish no digests, so by default
  the table is empty and the digest is *recorded* in ``NAME.sha256`` beside the archive on
  first use (trust on first use) and checked on every later use.
* A file that fails a check is never deleted: it is renamed to ``NAME.bad-<timestamp>`` and
  an error says where it went.
* Extraction writes into a temporary folder next to the destination and moves the result
  into place only when every member has been extracted and passed its CRC check, so an
  interrupted run never leaves a folder that looks complete.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import requests

from relcon.utils.io import atomic_write_text
from relcon.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)

# url -> sha256 hex digest. None of the hosts (UCI, GitHub raw) publishes a digest for these
# archives, so nothing is pinned here; digests are recorded on first use instead.
KNOWN_SHA256: dict[str, str] = {}

CHUNK_SIZE = 1 << 16  # download chunk: at most this much is lost when a transfer breaks
HASH_BLOCK = 1 << 20


class BadArchiveError(ValueError):
    """An archive is not a readable zip, fails its CRC check, or has unsafe member names."""


class ChecksumError(BadArchiveError):
    """An archive's sha256 differs from the expected or previously recorded digest."""


class DownloadError(RuntimeError):
    """A download failed (HTTP error, or transient errors persisted over all retries)."""


class RawDataMissing(FileNotFoundError):
    """Raw data is absent and could not (or may not) be downloaded."""


class _Retryable(Exception):
    pass


# --------------------------------------------------------------------------------------
# digests


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(HASH_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def sidecar_path(archive) -> Path:
    """``NAME.zip`` -> ``NAME.zip.sha256`` (``sha256sum`` format)."""
    archive = Path(archive)
    return archive.with_name(archive.name + ".sha256")


def read_sidecar(archive) -> str | None:
    side = sidecar_path(archive)
    if not side.exists():
        return None
    text = side.read_text(encoding="utf-8").split()
    if not text or not re.fullmatch(r"[0-9a-f]{64}", text[0]):
        raise ValueError(f"{side}: expected a sha256 hex digest as first token, found {side.read_text()[:80]!r}")
    return text[0]


def keep_aside(path, name: str | None = None) -> Path:
    """Rename a file that failed a check to ``<name>.bad-<timestamp>`` in its folder (``name``
    defaults to the file's own name); never deletes it."""
    path = Path(path)
    name = name or path.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    bad = path.with_name(f"{name}.bad-{stamp}")
    n = 1
    while bad.exists():
        bad = path.with_name(f"{name}.bad-{stamp}-{n}")
        n += 1
    os.replace(path, bad)
    return bad


def verify_archive(path, *, expected_sha256: str | None = None, shown_name: str | None = None) -> str:
    """Check that ``path`` is a zip archive and that its sha256 matches every known digest.

    Known digests are ``expected_sha256`` and the recorded sidecar ``NAME.sha256``. When the
    sidecar is missing it is written (trust on first use). On any failure the file is moved
    aside (see :func:`keep_aside`) and :class:`BadArchiveError` / :class:`ChecksumError` is
    raised. ``shown_name`` is the name used in messages (the final name when ``path`` is
    still a temporary file). Returns the digest.
    """
    path = Path(path)
    shown = shown_name or str(path)
    final = Path(shown_name) if shown_name else path
    if not zipfile.is_zipfile(path):
        bad = keep_aside(path, final.name)
        raise BadArchiveError(
            f"{shown} is not a zip archive (an HTML error page or a truncated file?); "
            f"it was kept aside as {bad}"
        )
    digest = sha256_file(path)
    recorded = read_sidecar(final)
    for source, want in (("expected", expected_sha256), (f"recorded in {sidecar_path(final)}", recorded)):
        if want is not None and want.lower() != digest:
            bad = keep_aside(path, final.name)
            raise ChecksumError(
                f"sha256 mismatch for {shown}: {source} {want.lower()}, got {digest}. "
                f"The file was kept aside as {bad}; delete it once you have a good copy."
            )
    return digest


def record_digest(archive, digest: str) -> None:
    archive = Path(archive)
    atomic_write_text(sidecar_path(archive), f"{digest}  {archive.name}\n")


# --------------------------------------------------------------------------------------
# download


def download(
    url: str,
    dest,
    *,
    expected_sha256: str | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float | tuple[float, float] = (15.0, 60.0),
    chunk_size: int = CHUNK_SIZE,
    progress: bool = True,
    session: requests.Session | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (a zip archive) safely; returns ``dest``.

    If ``dest`` already exists nothing is fetched; it is only verified. The digest is
    checked against ``expected_sha256``, else ``KNOWN_SHA256[url]``, and recorded in the
    sidecar ``dest.sha256`` once the file is in place.
    """
    dest = Path(dest)
    expected = expected_sha256 or KNOWN_SHA256.get(url)
    if dest.exists():
        digest = verify_archive(dest, expected_sha256=expected)
        if read_sidecar(dest) is None:
            record_digest(dest, digest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    own_session = session is None
    session = session or requests.Session()
    try:
        attempt = 0
        while True:
            try:
                _fetch(session, url, part, timeout=timeout, chunk_size=chunk_size, progress=progress, label=dest.name)
                break
            except _Retryable as err:
                attempt += 1
                if attempt > retries:
                    kept = f" The partial file {part} is kept; run again to resume." if part.exists() else ""
                    raise DownloadError(f"downloading {url} failed after {attempt} attempts: {err}.{kept}") from err
                wait = backoff * 2 ** (attempt - 1)
                log.warning("download of %s interrupted (%s); retry %d/%d in %.1f s", url, err, attempt, retries, wait)
                time.sleep(wait)
    finally:
        if own_session:
            session.close()
    digest = verify_archive(part, expected_sha256=expected, shown_name=str(dest))
    os.replace(part, dest)
    record_digest(dest, digest)
    log.info("downloaded %s (sha256 %s)", dest, digest)
    return dest


def _fetch(session, url, part: Path, *, timeout, chunk_size, progress, label) -> None:
    """One attempt: continue ``part`` from its current size. Raises _Retryable on transient errors."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        with session.get(url, stream=True, timeout=timeout, headers=headers) as r:
            if r.status_code == 416 and start:
                whole = re.fullmatch(r"bytes \*/(\d+)", r.headers.get("Content-Range", "").strip())
                if whole and int(whole.group(1)) == start:
                    return  # the partial file of an earlier run is already complete
                # The server will not serve this range (a stale or oversized partial file):
                # start over. The partial file is our own temporary, not user data.
                part.unlink()
                raise _Retryable(f"HTTP 416 for a resume at byte {start}; restarting from zero")
            if r.status_code in (408, 429) or r.status_code >= 500:
                raise _Retryable(f"HTTP {r.status_code}")
            if r.status_code >= 400:
                raise DownloadError(f"HTTP {r.status_code} {r.reason} for {url}")
            total = None
            mode = "wb"
            if r.status_code == 206:
                m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", r.headers.get("Content-Range", "").strip())
                if m is None or int(m.group(1)) != start:
                    part.unlink()
                    raise _Retryable(f"unexpected Content-Range {r.headers.get('Content-Range')!r}; restarting")
                total = None if m.group(3) == "*" else int(m.group(3))
                mode = "ab"
            else:
                start = 0
                if r.headers.get("Content-Length", "").isdigit():
                    total = int(r.headers["Content-Length"])
            with open(part, mode) as f, progress_bar(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                desc=label, disable=not progress, leave=False,
            ) as bar:
                for chunk in r.iter_content(chunk_size):
                    f.write(chunk)
                    bar.update(len(chunk))
                f.flush()
                os.fsync(f.fileno())
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
        raise _Retryable(f"{type(err).__name__}: {err}") from err
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Retryable(f"transfer stopped at {size} of {total} bytes")


# --------------------------------------------------------------------------------------
# extraction


def _check_members(archive: Path, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    for info in members:
        p = PurePosixPath(info.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
            raise BadArchiveError(f"{archive}: unsafe member name {info.filename!r}; refusing to extract")
    return members


def extract_zip(archive, into, *, progress: bool = True) -> Path:
    """Extract ``archive`` into the folder ``into`` (like ``unzip -d into``) without partial states.

    If ``into`` does not exist, everything is extracted into a temporary sibling folder
    that is renamed to ``into`` at the end. If it exists, the archive is extracted into a
    temporary folder inside it and each top-level entry is moved into place; entries that
    already exist are left untouched. Returns ``into``.
    """
    archive, into = Path(archive), Path(into)
    fresh = not into.exists()
    base = into.parent if fresh else into
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{into.name}.extracting-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                members = _check_members(archive, zf)
                with progress_bar(total=sum(m.file_size for m in members), unit="B", unit_scale=True,
                                  unit_divisor=1024, desc=f"extract {archive.name}", disable=not progress,
                                  leave=False) as bar:
                    for info in members:
                        zf.extract(info, tmp)
                        bar.update(info.file_size)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as err:
            raise BadArchiveError(f"{archive}: corrupt zip archive ({err})") from err
        if fresh:
            os.replace(tmp, into)
        else:
            for entry in sorted(tmp.iterdir()):
                target = into / entry.name
                if target.exists():
                    log.info("%s already exists; keeping it (not replaced from %s)", target, archive.name)
                else:
                    os.replace(entry, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return into


# --------------------------------------------------------------------------------------
# raw trees built from (nested) archives


@dataclass(frozen=True)
class Archive:
    """A zip archive that, extracted into ``into``, provides part of a raw tree.

    ``url`` is ``None`` for an archive that itself comes out of the next archive of a chain
    (an inner zip); such archives are only checked for zip integrity, not for digests.
    """

    path: Path
    into: Path
    url: str | None = None
    sha256: str | None = None


def ensure_extracted(
    target,
    chain: Sequence[Archive],
    *,
    download_missing: bool = True,
    progress: bool = True,
    what: str = "raw data",
) -> Path:
    """Make ``target`` exist, using the cheapest source available.

    ``chain`` lists archives from the innermost to the outermost: extracting ``chain[i]``
    creates ``target`` (for ``i == 0``) or ``chain[i-1].path``. Present trees and archives
    are used without the network; only the outermost archive is ever downloaded, and only
    if ``download_missing``. Raises :class:`RawDataMissing` with instructions for placing
    the files by hand when nothing is present and the download is not allowed or fails.
    """
    target = Path(target)
    _ensure(target, list(chain), 0, download_missing, progress, what, target)
    return target


def _ensure(target: Path, chain: list[Archive], i: int, download_missing: bool, progress: bool, what: str,
            wanted: Path) -> None:
    # ``wanted`` is the path the caller asked for; error messages name it, not an inner zip.
    if target.exists():
        return
    a = chain[i]
    fetched = False
    if not a.path.exists():
        if i + 1 < len(chain):
            _ensure(a.path, chain, i + 1, download_missing, progress, what, wanted)
        elif a.url is None:
            raise _missing(wanted, chain, what, "no download URL is known")
        elif not download_missing:
            raise _missing(wanted, chain, what, "downloading is switched off (--no-download)")
        else:
            log.info("downloading %s from %s", what, a.url)
            try:
                download(a.url, a.path, expected_sha256=a.sha256, progress=progress)
            except DownloadError as err:
                raise _missing(wanted, chain, what, f"the download failed: {err}") from err
            fetched = True  # download() has verified it and recorded its digest
    if a.url is not None and not fetched:
        digest = verify_archive(a.path, expected_sha256=a.sha256 or KNOWN_SHA256.get(a.url))
        if read_sidecar(a.path) is None:
            record_digest(a.path, digest)
            log.info("recorded sha256 %s of %s in %s", digest, a.path, sidecar_path(a.path))
    log.info("extracting %s into %s", a.path, a.into)
    extract_zip(a.path, a.into, progress=progress)
    if not target.exists():
        raise BadArchiveError(
            f"{a.path} was extracted into {a.into}, but {target} is still missing. Either the archive "
            f"is not the expected one, or a partial folder from an earlier run is in the way "
            f"(existing entries are never overwritten): move it away and run again."
        )


def _missing(target: Path, chain: list[Archive], what: str, why: str) -> RawDataMissing:
    outer = chain[-1]
    lines = [f"{what} not found: {target} does not exist and {why}.", "Place one of the following by hand:"]
    lines.append(f"  - the extracted files, so that {target} exists;")
    for a in chain[:-1]:
        lines.append(f"  - the zip {a.path} (it is extracted into {a.into});")
    if outer.url:
        lines.append(f"  - the file downloaded from {outer.url}, saved as {outer.path} (it is extracted into {outer.into}).")
    else:
        lines.append(f"  - the zip {outer.path} (it is extracted into {outer.into}).")
    return RawDataMissing("\n".join(lines))
