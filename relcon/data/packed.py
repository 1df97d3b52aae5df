"""The packed segment layout: one memory-mapped array per subject-hour.

The reference layout stores every 2.56 s segment as its own ``.npy`` file,
``<split>/<subject>/<hour>/<name>.npy`` of shape (T, C). At the paper's scale (a billion
segments) no file system copes with that, and a loader that opens 21 files per sample is slow.
The packed layout keeps the grouping and drops the per-segment files:

    <root>/<split>/<subject>/<hour>.npy      float32 (n, T, C): the folder's segments, in the
                                             sorted order of their original file names
    <root>/packed_index.json                 manifest: format, version, segment shape, dtype,
                                             the packed arrays (paths relative to <root>, in
                                             index order) and their row counts

A reader opens only the arrays it reads (``np.load(mmap_mode="r")``, at most ``MAX_OPEN`` kept
open per process) and copies just the rows it needs, so a sample costs the same whatever the
dataset's size, and an anchor's K within-user candidates are one read from one array. Segment
ids are the same in both layouts (folders in the same order, rows in file-name order), so
samples and candidate draws are identical for the same seed.

``relcon/data/process/pack_dataset.py SRC DST`` converts a reference tree; the manifest is
written last, so a half-written tree is never taken for a packed one.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

MANIFEST = "packed_index.json"
FORMAT = "relcon-packed-segments"
VERSION = 1
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


def read_manifest(path) -> dict:
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PackedFormatError(f"{path}: cannot be read as a packed-layout manifest ({e})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise PackedFormatError(f"{path}: format {manifest.get('format')!r} version {manifest.get('version')!r}; "
                                f"expected {FORMAT!r} version {VERSION} (re-pack with pack_dataset.py)")
    if len(manifest["arrays"]) != len(manifest["counts"]):
        raise PackedFormatError(f"{path}: {len(manifest['arrays'])} arrays but {len(manifest['counts'])} counts")
    return manifest


def manifest_entry(arrays: list[str], counts: list[int], segment_shape, dtype: str, source: str = "") -> dict:
    return {"format": FORMAT, "version": VERSION, "segment_shape": [int(s) for s in segment_shape],
            "dtype": str(np.dtype(dtype)), "source": source, "arrays": list(arrays),
            "counts": [int(c) for c in counts]}


class PackedArrays:
    """Read-only, lazily opened memory maps of a packed tree's arrays, with shape checks."""

    def __init__(self, paths: list[str], counts: np.ndarray, segment_shape, dtype):
        self.paths = paths
        self.counts = counts
        self.segment_shape = tuple(segment_shape)
        self.dtype = np.dtype(dtype)
        self._open: OrderedDict = OrderedDict()

    def __getstate__(self):  # DataLoader workers start with no maps open
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()
        return state

    def array(self, i: int) -> np.ndarray:
        mapped = self._open.get(i)
        if mapped is not None:
            self._open.move_to_end(i)
            return mapped
        path = self.paths[i]
        try:
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as e:
            raise PackedFormatError(f"{path}: cannot be memory-mapped as a packed array "
                                    f"({type(e).__name__}: {e})") from None
        expected = (int(self.counts[i]), *self.segment_shape)
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
