"""The packed segment layout: one memory-mapped array per subject-hour.

The reference layout stores every 2.56 s segment as its own ``.npy`` file,
``<split>/<subject>/<hour>/<name>.npy`` of shape (T, C). At the paper's scale (a billion
segments) no file system copes with that, and a loader that opens 21 files per sample is slow.
The packed layout keeps the grouping and drops the per-segment files:

    <root>/<split>/<subject>/<hour>.npy      float32 (n, T, C): the folder's segments, in the
                                             sorted order of their original file names
    <root>/packed_index.json                 manifest: format, version, segment shape, dtype,
                                             number of arrays and segments, its tables' names
    <root>/packed_index.counts.npy           int64 (n_arrays,): each array's row count
    <root>/packed_index.paths.npy            uint8: the arrays' paths (relative to <root>, in
                                             index order), UTF-8, one after the other
    <root>/packed_index.path_offsets.npy     int64 (n_arrays + 1,): where each path starts in
                                             the previous table (and the last one ends)

The tables are memory-mapped, not parsed: at the paper's scale (10^9 segments, ~7e5
subject-hour arrays) loading the manifest takes milliseconds, costs no private memory, and
DataLoader workers forked from the process share it without copying a page (no Python object
per array whose reference count a worker would dirty). Version 1 manifests, which list the paths
and counts in the JSON itself, are still read (their lists are packed into the same tables).

A reader opens only the arrays it reads (memory maps, at most ``MAX_OPEN`` kept open per
process) and copies just the rows it needs, so a sample costs the same whatever the
dataset's size, and an anchor's K within-user candidates are one read from one array. Segment
ids are the same in both layouts (folders in the same order, rows in file-name order), so
samples and candidate draws are identical for the same seed.

``relcon/data/process/pack_dataset.py SRC DST`` converts a reference tree; the manifest
(``write_manifest``) is written last, its JSON after its tables, so a half-written tree is
never taken for a packed one.
"""
from __future__ import annotations

import functools
import io
import json
import mmap
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relcon.utils.io import atomic_save_npy, atomic_write_json

MANIFEST = "packed_index.json"
FORMAT = "relcon-packed-segments"
VERSION = 2  # 2: paths and counts in memory-mapped tables next to the JSON; 1: in the JSON
READABLE_VERSIONS = (1, 2)
TABLES = {"counts": "packed_index.counts.npy", "paths": "packed_index.paths.npy",
          "path_offsets": "packed_index.path_offsets.npy"}
MAX_OPEN = 1024  # memory maps kept open per process (each costs a mapping, not memory)


class PackedFormatError(ValueError):
    """A packed array or manifest does not match what the manifest promises."""


def find_manifest(root) -> tuple[Path, str] | None:
    """(manifest path, root relative to the manifest's folder) for the nearest manifest at or
    above ``root``; None when there is none."""
    root = Path(root).resolve()
    for folder in (root, *root.parents):
        candidate = folder / MANIFEST
        if candidate.is_file():
            rel = root.relative_to(folder).as_posix()
            return candidate, "" if rel == "." else rel
    return None


# ---------------------------------------------------------------- the array table
class ArrayTable:
    """The packed arrays of a manifest: relative paths and row counts, as flat arrays.

    ``counts`` (n,) int64; path i is ``blob[starts[i]:stops[i]]`` (UTF-8 bytes of a uint8
    array). No Python object per array: memory-mapped tables stay shared between processes.
    """

    def __init__(self, counts: np.ndarray, blob: np.ndarray, starts: np.ndarray, stops: np.ndarray):
        self.counts, self.blob, self.starts, self.stops = counts, blob, starts, stops

    @classmethod
    def from_lists(cls, arrays, counts) -> "ArrayTable":
        encoded = [str(a).encode("utf-8") for a in arrays]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(np.asarray(counts, dtype=np.int64).reshape(-1), blob, offsets[:-1], offsets[1:])

    def __len__(self) -> int:
        return len(self.counts)

    def path(self, i: int) -> str:
        """Relative path of array ``i``."""
        return self.blob[int(self.starts[i]):int(self.stops[i])].tobytes().decode("utf-8")

    def paths(self) -> list[str]:
        return [self.path(i) for i in range(len(self))]

    def subset(self, prefix: str) -> "ArrayTable":
        """The arrays whose path starts with ``prefix`` (in order): views when they are
        consecutive, as the arrays of one folder are in a manifest written in index order."""
        want = prefix.encode("utf-8")
        if not want:
            return self
        keep = (self.stops - self.starts) >= len(want)
        if len(self.blob):
            for j, byte in enumerate(want):  # one vectorised pass per byte of the prefix
                keep &= self.blob[np.minimum(self.starts + j, len(self.blob) - 1)] == byte
        ids = np.flatnonzero(keep)
        if len(ids) and ids[-1] - ids[0] + 1 == len(ids):
            part = slice(int(ids[0]), int(ids[-1]) + 1)
            return ArrayTable(self.counts[part], self.blob, self.starts[part], self.stops[part])
        return ArrayTable(self.counts[ids], self.blob, self.starts[ids], self.stops[ids])

    def fingerprint_chunks(self, strip: int, chunk: int = 65536):
        """Bytes ``<path[strip:] without .npy>\t<count>\n`` of every array, ``chunk`` arrays at a
        time (``strip``: bytes of a common prefix to leave out)."""
        for lo in range(0, len(self), chunk):
            starts, stops = self.starts[lo:lo + chunk], self.stops[lo:lo + chunk]
            first = int(starts.min())
            raw = self.blob[first:int(stops.max())].tobytes()
            parts = []
            for a, b, n in zip((starts - first).tolist(), (stops - first).tolist(), self.counts[lo:lo + chunk].tolist()):
                path = raw[a + strip:b]
                parts.append(b"%s\t%d\n" % (path[:-4] if path.endswith(b".npy") else path, n))
            yield b"".join(parts)


# ---------------------------------------------------------------- manifests
def _fail(path, what: str):
    raise PackedFormatError(f"{path}: {what} (re-pack with pack_dataset.py --overwrite)") from None


def _load_table(folder: Path, name: str, dtype, length: int | None) -> np.ndarray:
    path = folder / name
    try:
        table = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # missing, truncated, not an .npy
        message = str(e).splitlines()[0] if str(e) else ""
        _fail(path, f"cannot be read as a manifest table ({type(e).__name__}: {message})")
    if table.dtype != np.dtype(dtype) or table.ndim != 1 or (length is not None and len(table) != length):
        _fail(path, f"{table.dtype} {table.shape} found; the manifest promises {np.dtype(dtype)} "
                    f"({'any' if length is None else length},)")
    return table.view(np.ndarray)


def load_manifest(path) -> tuple[dict, ArrayTable]:
    """(header, arrays) of the manifest ``path``, version 1 or 2.

    header: ``format``, ``version``, ``segment_shape`` [T, C], ``dtype``, ``source``. Raises
    ``PackedFormatError`` with a one-line message naming the file for a missing, truncated or
    malformed manifest or table.
    """
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PackedFormatError(f"{path}: cannot be read as a packed-layout manifest "
                                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(manifest, dict):
        _fail(path, f"a JSON {type(manifest).__name__} found; expected a packed-layout manifest (an object)")
    if manifest.get("format") != FORMAT or manifest.get("version") not in READABLE_VERSIONS:
        raise PackedFormatError(f"{path}: format {manifest.get('format')!r} version {manifest.get('version')!r}; "
                                f"expected {FORMAT!r} version {' or '.join(map(str, READABLE_VERSIONS))} "
                                f"(re-pack with pack_dataset.py)")
    try:
        header = {"format": FORMAT, "version": manifest["version"], "dtype": str(np.dtype(manifest["dtype"])),
                  "segment_shape": [int(s) for s in manifest["segment_shape"]],
                  "source": manifest.get("source", "")}
        if manifest["version"] == 1:
            arrays, counts = manifest["arrays"], manifest["counts"]
            if not isinstance(arrays, list) or not isinstance(counts, list):
                raise TypeError("arrays and counts must be lists")
            if len(arrays) != len(counts):
                _fail(path, f"{len(arrays)} arrays but {len(counts)} counts")
            table = ArrayTable.from_lists(arrays, counts)
        else:
            n, names = int(manifest["n_arrays"]), manifest["tables"]
            folder = path.parent
            counts = _load_table(folder, names["counts"], np.int64, n)
            offsets = _load_table(folder, names["path_offsets"], np.int64, n + 1)
            blob = _load_table(folder, names["paths"], np.uint8, None)
            if offsets[0] != 0 or offsets[-1] != len(blob) or (n and np.any(offsets[1:] < offsets[:-1])):
                _fail(folder / names["path_offsets"], f"offsets do not cut the {len(blob)} bytes of "
                                                      f"{names['paths']} into {n} paths")
            table = ArrayTable(counts, blob, offsets[:-1], offsets[1:])
            if int(manifest.get("segments", -1)) != int(counts.sum()):
                _fail(path, f"{manifest.get('segments')} segments promised, the counts add up to {int(counts.sum())}")
    except PackedFormatError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        _fail(path, f"malformed manifest ({type(e).__name__}: {e})")
    if len(table) and int(table.counts.min()) < 0:
        _fail(path, f"negative row count {int(table.counts.min())}")
    return header, table


def read_manifest(path) -> dict:
    """The manifest ``path`` as one dict (the header plus ``arrays``: relative paths and
    ``counts``: row counts, as lists): for inspection; the index reads ``load_manifest``."""
    header, table = load_manifest(path)
    return {**header, "arrays": table.paths(), "counts": table.counts.tolist()}


def manifest_entry(arrays: list[str], counts: list[int], segment_shape, dtype: str, source: str = "") -> dict:
    """A version 1 manifest (paths and counts as JSON lists): still read, no longer written."""
    return {"format": FORMAT, "version": 1, "segment_shape": [int(s) for s in segment_shape],
            "dtype": str(np.dtype(dtype)), "source": source, "arrays": list(arrays),
            "counts": [int(c) for c in counts]}


def write_manifest(folder, arrays, counts, segment_shape, dtype: str, source: str = "") -> Path:
    """Write the manifest of the packed arrays ``arrays`` (paths relative to ``folder``, in index
    order) with row ``counts`` into ``folder``: the tables first, the JSON last, each atomically.
    Returns the JSON's path."""
    folder = Path(folder)
    if len(arrays) != len(counts):
        raise ValueError(f"{len(arrays)} arrays but {len(counts)} counts: expected one count per array")
    table = ArrayTable.from_lists(arrays, counts)
    offsets = np.append(table.starts, table.stops[-1:] if len(table) else np.zeros(1, np.int64))
    atomic_save_npy(folder / TABLES["counts"], table.counts)
    atomic_save_npy(folder / TABLES["paths"], table.blob)
    atomic_save_npy(folder / TABLES["path_offsets"], offsets)
    header = {"format": FORMAT, "version": VERSION, "segment_shape": [int(s) for s in segment_shape],
              "dtype": str(np.dtype(dtype)), "source": source, "n_arrays": len(table),
              "segments": int(table.counts.sum()), "tables": dict(TABLES)}
    atomic_write_json(folder / MANIFEST, header)
    return folder / MANIFEST


# ---------------------------------------------------------------- reading the arrays
class ArrayPaths(Sequence):
    """Absolute paths of a table's arrays, ``folder/<relative path>``, decoded on access."""

    def __init__(self, folder: str, table: ArrayTable):
        self.folder, self.table = folder, table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"array {i} of {len(self)}")
        return f"{self.folder}/{self.table.path(i)}"


@functools.lru_cache(maxsize=4096)
def _npy_header(shape: tuple, dtype: str) -> bytes:
    """The bytes ``np.save`` writes before an array of ``shape`` and ``dtype``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


class PackedArrays:
    """Read-only, lazily opened memory maps of a packed tree's arrays, with shape checks.

    ``paths``: absolute path of each array (a sequence); ``counts``: (n,) int64 row counts.
    """

    def __init__(self, paths, counts: np.ndarray, segment_shape, dtype):
        self.paths = paths
        self.counts = counts
        self.segment_shape = tuple(segment_shape)
        self.dtype = np.dtype(dtype)
        self._open: OrderedDict = OrderedDict()

    def __getstate__(self):  # DataLoader workers start with no maps open
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()
        return state

    def _map(self, path: str, shape: tuple):
        """The array at ``path`` mapped without parsing its header when the header is the one
        ``np.save`` writes for ``shape``; None otherwise (``np.load`` then checks it)."""
        expected = _npy_header(shape, self.dtype.str)
        try:
            with open(path, "rb") as f:
                if f.read(len(expected)) != expected:
                    return None
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            return np.ndarray(shape, dtype=self.dtype, buffer=mapped, offset=len(expected))
        except (OSError, ValueError, TypeError):  # too short, unreadable: np.load names the problem
            return None

    def array(self, i: int) -> np.ndarray:
        mapped = self._open.get(i)
        if mapped is not None:
            self._open.move_to_end(i)
            return mapped
        path = self.paths[i]
        expected = (int(self.counts[i]), *self.segment_shape)
        mapped = self._map(path, expected)
        if mapped is None:
            try:
                mapped = np.load(path, mmap_mode="r", allow_pickle=False)
            except Exception as e:
                raise PackedFormatError(f"{path}: cannot be memory-mapped as a packed array "
                                        f"({type(e).__name__}: {e})") from None
            if mapped.shape != expected or mapped.dtype != self.dtype:
                raise PackedFormatError(f"{path}: {mapped.dtype} {mapped.shape} found; the manifest promises "
                                        f"{self.dtype} {expected} (re-pack with pack_dataset.py --overwrite)")
            mapped = mapped.view(np.ndarray)  # plain ndarray over the same mapping: no per-access subclass cost
        self._open[i] = mapped
        if len(self._open) > MAX_OPEN:
            self._open.popitem(last=False)
        return mapped

    def rows(self, i: int, rows, out: np.ndarray | None = None) -> np.ndarray:
        """Copies of rows ``rows`` (int array) of array ``i``, into ``out`` if given."""
        picked = self.array(i)[rows]  # fancy indexing: faster than np.take(..., out=)
        if out is None:
            return picked
        out[...] = picked
        return out
