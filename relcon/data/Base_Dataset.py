"""Data configs and the pre-training data layer.

Pre-training data is a tree of segments ``<split>/<subject>/<hour>/*.npy``, each a float
array (T, C): 2.56 s of 3-axis accelerometry at 100 Hz is (256, 3). The parent folder of a
segment (the subject-hour) is the unit of "same user" for RelCon's within-user candidates.

The tree is indexed once (sorted, so the order does not depend on the file system) and the
index is cached next to the tree until the tree changes; loaders never list folders per sample.
The same data can be packed into one memory-mapped array per subject-hour
(``relcon/data/packed.py``), which every loader reads transparently.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from relcon.data import packed
from relcon.utils.io import atomic_write


# ---------------------------------------------------------------- configs
@dataclass(kw_only=True)
class Base_DatasetConfig:
    """``data_folder`` is relative to the repository root (or absolute). ``generate``, optional:
    ``{"name": generator, "args": {...}}`` from ``relcon.data.generators`` creates the data
    when the folder is missing (synthetic sets)."""

    data_folder: str
    generate: dict | None = None
    type: ClassVar[str | None] = None  # "ssl" or "supervised": what the folder holds


@dataclass(kw_only=True)
class SupervisedDataConfig(Base_DatasetConfig):
    """Labelled arrays in ``data_folder``: ``cv{k}_{train,val,test}_{X,y}.npy`` with X (N, C, T)
    (``relcon/data/folds.py``).

    ``class_names`` (optional): the name of each label id of a classification set, in id order;
    only used to label results and figures (``python -m relcon.report``).
    """

    X_annotates: list = field(default_factory=lambda: [""])
    y_annotate: str = ""
    class_names: list | None = None
    type: ClassVar[str] = "supervised"

    def __post_init__(self):
        self.X_annotates = list(self.X_annotates)
        self.class_names = None if self.class_names is None else [str(c) for c in self.class_names]


@dataclass(kw_only=True)
class SSLDataConfig(Base_DatasetConfig):
    """Unlabelled segment tree: ``data_folder/{train,val,test}/<subject>/<hour>/*.npy``."""

    type: ClassVar[str] = "ssl"


# ---------------------------------------------------------------- segment files
class DataError(ValueError):
    """Bad input data; the message names the file and what was expected."""


def load_segment(path, expected_shape: tuple | None = None, shape_source: str | None = None) -> np.ndarray:
    """Load one segment as float32 (T, C), checking it is readable, numeric, 2-D and finite.

    ``shape_source`` names the file that fixed ``expected_shape`` (for the error message).
    """
    path = str(path)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as e:  # truncated, not an .npy, object arrays, ...
        raise DataError(f"{path}: cannot be read as a numeric .npy array ({type(e).__name__}: {e})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise DataError(f"{path}: dtype {getattr(array, 'dtype', type(array))} found; expected a floating-point "
                        f"array of shape (time, channels)")
    if array.ndim != 2:
        raise DataError(f"{path}: shape {array.shape} found; expected a 2-D array (time, channels)")
    if expected_shape is not None and tuple(array.shape) != tuple(expected_shape):
        raise DataError(f"{path}: shape {array.shape} found; expected {tuple(expected_shape)} like "
                        f"{shape_source or 'the other segments of this dataset'} (all segments must share "
                        f"time length and channel count)")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise DataError(f"{path}: non-finite value {array[tuple(bad)]} at (time={bad[0]}, channel={bad[1]}); "
                        f"expected finite numbers")
    return array.astype(np.float32, copy=False)


# ---------------------------------------------------------------- the segment index
INDEX_CACHE_VERSION = 2  # 2: symlinked folders followed, what was left out stored
# Directories modified this recently may still be changing (and a file system's timestamps can
# be coarse): an index that saw one is used but not cached.
RACY_SECONDS = 2.0


def scan_segment_files(root: Path) -> tuple[list[str], list[list[str]], dict]:
    """Folders holding ``*.npy`` files below ``root`` (relative posix paths, ordered by path + "/"
    so that ids follow the sorted order of the full file paths), their sorted file names, and
    ``{relative dir: mtime_ns}`` of every directory visited. ``scan_segment_tree`` also says
    what was left out."""
    folders, names, mtimes, _ = scan_segment_tree(root)
    return folders, names, mtimes


def scan_segment_tree(root: Path) -> tuple[list[str], list[list[str]], dict, list[tuple[str, str]]]:
    """``scan_segment_files``'s (folders, names, mtimes) plus the entries left out, as
    ``(relative path, reason)``.

    Symlinked directories are followed (subjects linked in from elsewhere are data too), each
    real directory once: the real folders of the tree are walked first, then the links, so a
    folder is indexed under its own path rather than a link's. A link back to one of its own
    ancestors (a loop) and a second path to a directory already indexed are left out, as are
    broken links and unreadable directories.
    """
    root = Path(root)
    folders, names, mtimes, left_out = [], [], {}, []
    first_seen = {}  # (st_dev, st_ino) -> relative path it was indexed under
    links = []  # symlinked directories, followed once the real ones are done: (path, rel, ancestors)

    def visit(path: Path, rel: str, ancestors: tuple) -> None:
        try:
            st = os.stat(path)
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            left_out.append((rel, f"unreadable ({e.strerror or type(e).__name__})"))
            return
        key = (st.st_dev, st.st_ino)
        if key in ancestors:
            left_out.append((rel, f"symlink loop (leads back to {first_seen[key]})"))
            return
        if key in first_seen:
            left_out.append((rel, f"same folder as {first_seen[key]}, indexed there"))
            return
        first_seen[key] = rel
        mtimes[rel] = st.st_mtime_ns
        files = []
        for entry in entries:
            child = entry.name if rel == "." else f"{rel}/{entry.name}"
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                if entry.is_symlink():
                    links.append((Path(entry.path), child, ancestors + (key,)))
                else:
                    visit(Path(entry.path), child, ancestors + (key,))
            elif entry.name.endswith(".npy"):
                files.append(entry.name)  # a broken one fails at reading, naming the file
            elif entry.is_symlink() and not os.path.exists(entry.path):
                left_out.append((child, "broken symlink"))
        if files:
            folders.append(rel)
            names.append(files)

    visit(root, ".", ())
    while links:  # links found inside linked folders are appended as they are met
        visit(*links.pop(0))
    order = sorted(range(len(folders)), key=lambda i: "" if folders[i] == "." else folders[i] + "/")
    return [folders[i] for i in order], [names[i] for i in order], mtimes, sorted(left_out)


def describe_left_out(left_out: list[tuple[str, str]], shown: int = 5) -> str:
    """One line naming what a scan left out and why, e.g. ``left out 1 folder(s): s4 (symlink
    loop (leads back to .))``; empty when nothing was."""
    if not left_out:
        return ""
    items = [f"{rel} ({reason})" for rel, reason in left_out[:shown]]
    more = f" (+{len(left_out) - shown} more)" if len(left_out) > shown else ""
    return f"left out {len(left_out)} folder(s) or link(s): {', '.join(items)}{more}"


def index_cache_path(root) -> Path:
    """Where the index of the tree ``root`` is cached: a hidden file next to the tree (not inside
    it, where writing would itself change the tree)."""
    root = Path(root).resolve()
    return root.parent / f".{root.name}.segment_index.npz"


def _cache_enabled() -> bool:
    return os.environ.get("RELCON_INDEX_CACHE", "1") != "0"


def _load_index_cache(root: Path):
    """(folders, counts, names, left_out) from a cache that still matches the tree, else None."""
    path = index_cache_path(root)
    try:
        with np.load(path, allow_pickle=False) as cache:
            if int(cache["version"]) != INDEX_CACHE_VERSION or str(cache["root"]) != str(root):
                return None
            for rel, mtime in zip(cache["dirs"].tolist(), cache["dir_mtimes"].tolist()):
                if os.stat(root / rel).st_mtime_ns != mtime:
                    return None  # something was added, removed or renamed there
            left_out = list(zip(cache["left_out_paths"].tolist(), cache["left_out_reasons"].tolist()))
            return cache["folders"].tolist(), cache["counts"], cache["names"].tolist(), left_out
    except (OSError, KeyError, ValueError):
        return None


def _save_index_cache(root: Path, folders, names, mtimes: dict, scan_started_ns: int, left_out=()) -> bool:
    if max(mtimes.values()) >= scan_started_ns - int(RACY_SECONDS * 1e9):
        return False  # the tree is being written right now
    path = index_cache_path(root)
    if not os.access(path.parent, os.W_OK):
        return False  # a read-only tree is indexed in memory, every time
    try:
        with atomic_write(path, "wb") as f:
            np.savez(f, version=INDEX_CACHE_VERSION, root=str(root),
                     dirs=np.array(list(mtimes), dtype=str), dir_mtimes=np.array(list(mtimes.values()), dtype=np.int64),
                     folders=np.array(folders, dtype=str), counts=np.array([len(n) for n in names], dtype=np.int64),
                     names=np.array([n for group in names for n in group], dtype=str),
                     left_out_paths=np.array([p for p, _ in left_out], dtype=str),
                     left_out_reasons=np.array([r for _, r in left_out], dtype=str))
    except OSError:
        return False
    return True


class SegmentIndex:
    """Sorted index of the segments below ``root``, grouped by subject-hour folder.

    Two layouts hold the same data (``relcon/data/packed.py``): the reference's one file per
    segment, ``<subject>/<hour>/<name>.npy`` (T, C), and the packed one array per folder,
    ``<subject>/<hour>.npy`` (n, T, C) with a manifest. Segment ids run folder by folder (folders
    sorted by path, files by name), identically in both; the ids of folder f are
    ``offsets[f] <= id < offsets[f + 1]``.

    Attributes:
        root: the indexed folder (str). layout: ``"files"`` or ``"packed"``.
        folders: the folder paths (str): a list of directories, or the packed arrays (a sequence
            decoding them from the manifest's tables, ``relcon.data.packed.ArrayPaths``).
        offsets: (n_folders + 1,) int64.
        from_cache: whether a files-layout index came from its cache (``index_cache_path``).
        left_out: ``(relative path, reason)`` of what the scan did not index (symlink loops,
            second paths to a folder, broken links, unreadable folders; ``scan_segment_tree``).
    Per-segment views (``files``, ``folder_of``, ``folder_members``) are built on first use;
    the loaders do not need them, so their cost stays independent of the dataset's size.
    """

    def __init__(self, root, folders: list[str], counts, names: list[str] | None = None, packed=None,
                 left_out=()):
        self.root = str(root)
        self.left_out = list(left_out)
        # packed: a sequence decoding paths from the manifest's tables, not a list of strings
        self.folders = folders if packed is not None else list(folders)
        counts = np.asarray(counts, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.names = names  # files layout: file name of each id
        self.packed = packed  # packed layout: a relcon.data.packed.PackedArrays
        self._packed_strip = 0  # packed: bytes of the root's path below the manifest's folder, + "/"
        self.layout = "packed" if packed is not None else "files"
        self.from_cache = False
        self._files = self._folder_of = self._members = None

    def fingerprint(self) -> dict:
        """What a run records about the data it was trained on: the folder, the number of
        segments and folders, and a sha256 over every folder's path (relative to ``root``, packed
        arrays named like the folders they replace) and segment count. It changes when segments
        are added to or removed from a folder, or folders come or go; it costs nothing per segment."""
        h = hashlib.sha256()
        counts = np.diff(self.offsets)
        if isinstance(self.folders, packed.ArrayPaths):  # the same lines, straight from the manifest's tables
            for chunk in self.folders.table.fingerprint_chunks(self._packed_strip):
                h.update(chunk)
            return {"folder": self.root, "segments": int(self.offsets[-1]), "folders": len(self.folders),
                    "sha256": h.hexdigest()}
        for folder, n in zip(self.folders, counts):
            rel = os.path.relpath(folder, self.root)
            h.update(f"{rel[:-4] if rel.endswith('.npy') else rel}\t{int(n)}\n".encode())
        return {"folder": self.root, "segments": int(self.offsets[-1]), "folders": len(self.folders),
                "sha256": h.hexdigest()}

    # ---- building
    @classmethod
    def scan(cls, root, cache: bool = True) -> "SegmentIndex":
        """Index ``root``: a packed tree if a manifest at or above it lists arrays below it, else
        the ``*.npy`` files below it (from the cached index while the tree is unchanged; the
        cache is checked with one ``stat`` per directory, not by listing the files)."""
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"data folder {root} does not exist")
        packed = cls._scan_packed(root)
        if packed is not None:
            return packed
        root = root.resolve()
        use_cache = cache and _cache_enabled()
        cached = _load_index_cache(root) if use_cache else None
        if cached is not None:
            folders, counts, names, left_out = cached
            index = cls(root, [str(root / f) for f in folders], counts, names, left_out=left_out)
            index.from_cache = True
            return index
        started = time.time_ns()
        folders, names, mtimes, left_out = scan_segment_tree(root)
        # A broken link or an unreadable folder can be mended without touching any indexed
        # directory's mtime: such a tree is scanned again every time.
        mendable = any(reason == "broken symlink" or reason.startswith("unreadable") for _, reason in left_out)
        if use_cache and folders and not mendable:
            _save_index_cache(root, folders, names, mtimes, started, left_out)
        return cls(root, [str(root / f) for f in folders], [len(n) for n in names], [n for g in names for n in g],
                   left_out=left_out)

    @classmethod
    def _scan_packed(cls, root: Path):
        found = packed.find_manifest(root)
        if found is None:
            return None
        path, rel = found
        header, table = packed.load_manifest(path)
        prefix = "" if rel == "" else rel + "/"
        table = table.subset(prefix)
        if not len(table):
            return None
        arrays = packed.ArrayPaths(str(path.parent), table)
        store = packed.PackedArrays(arrays, table.counts, header["segment_shape"], header["dtype"])
        index = cls(root.resolve(), arrays, table.counts, packed=store)
        index._packed_strip = len(prefix.encode("utf-8"))
        return index

    # ---- sizes and membership
    def __len__(self) -> int:
        return int(self.offsets[-1])

    def folder_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def folder_id(self, file_id: int) -> int:
        return int(np.searchsorted(self.offsets, file_id, side="right")) - 1

    @property
    def folder_of(self) -> np.ndarray:
        """(n_files,) int64 folder id of each segment."""
        if self._folder_of is None:
            self._folder_of = np.repeat(np.arange(len(self.folders), dtype=np.int64), self.folder_sizes())
        return self._folder_of

    @property
    def folder_members(self) -> list:
        """Per folder, the (n_in_folder,) int64 ids of its segments."""
        if self._members is None:
            self._members = [np.arange(a, b, dtype=np.int64) for a, b in zip(self.offsets[:-1], self.offsets[1:])]
        return self._members

    @property
    def files(self) -> list[str]:
        """Where each segment lives: a file path, or ``<packed array>[<row>]``."""
        if self._files is None:
            self._files = [self.path(i) for i in range(len(self))]
        return self._files

    def path(self, file_id: int) -> str:
        folder = self.folder_id(file_id)
        if self.packed is not None:
            return f"{self.folders[folder]}[{file_id - int(self.offsets[folder])}]"
        return os.path.join(self.folders[folder], self.names[file_id])

    # ---- reading
    def read(self, file_id: int, expected_shape: tuple | None = None, shape_source: str | None = None) -> np.ndarray:
        """Segment ``file_id`` as float32 (T, C), validated (see ``load_segment``; ``shape_source``
        names the segment that fixed ``expected_shape``)."""
        if self.packed is None:
            return load_segment(self.path(file_id), expected_shape, shape_source)
        return self.read_many(np.array([file_id]), expected_shape, shape_source=shape_source)[0]

    def read_many(self, file_ids, expected_shape: tuple | None = None, folder: int | None = None,
                  out: np.ndarray | None = None, check: bool = True, shape_source: str | None = None) -> np.ndarray:
        """Segments ``file_ids`` as float32 (n, T, C), validated, into ``out`` if given. Packed:
        one read per folder; ``folder`` says they all lie in that one (an anchor and its
        within-user candidates). ``check=False`` leaves the finiteness check to the caller
        (``check_finite``), e.g. once per batch."""
        file_ids = np.asarray(file_ids, dtype=np.int64)
        if self.packed is None:
            stacked = np.stack([self.read(int(i), expected_shape, shape_source) for i in file_ids])
            if out is None:
                return stacked
            out[...] = stacked
            return out
        if expected_shape is not None and tuple(expected_shape) != self.packed.segment_shape:
            raise DataError(f"{self.root}: packed segments are {self.packed.segment_shape}; expected "
                            f"{tuple(expected_shape)}")
        if folder is not None:
            out = self.packed.rows(folder, file_ids - self.offsets[folder], out)
        else:
            folders = np.searchsorted(self.offsets, file_ids, side="right") - 1
            if out is None:
                out = np.empty((len(file_ids), *self.packed.segment_shape), dtype=self.packed.dtype)
            for f in np.unique(folders):
                sel = folders == f
                out[sel] = self.packed.rows(int(f), file_ids[sel] - self.offsets[f])
        if check:
            self.check_finite(out, file_ids)
        return out

    def check_finite(self, segments: np.ndarray, file_ids) -> None:
        """DataError naming the segment if ``segments`` (n, T, C) of ``file_ids`` hold a NaN/inf."""
        if not np.isfinite(segments).all():
            bad = np.argwhere(~np.isfinite(segments))[0]
            where = self.path(int(np.asarray(file_ids).reshape(-1)[bad[0]]))
            raise DataError(f"{where}: non-finite value {segments[tuple(bad)]} at (time={bad[1]}, channel={bad[2]}); "
                            f"expected finite numbers")


def seeded_rng(seed: int, stream: int, epoch: int, index: int) -> np.random.Generator:
    """Generator for one sample's random draws: a pure function of (seed, stream, epoch, index).

    Draws then do not depend on worker processes, on the batch order or on where a run was
    resumed, which is what makes resumed runs bitwise identical.
    """
    return np.random.default_rng((int(seed) % (2**32), int(stream), int(epoch), int(index)))


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele et al., 2014) on a uint64 array: a bijective mix whose
    outputs for consecutive inputs pass statistical tests of independence."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hashed_uniform_keys(seed: int, stream: int, epoch: int, items, width: int) -> np.ndarray:
    """(len(items), width) uint64 keys, each a pure function of (seed, stream, epoch, item, column),
    independent and uniform for all practical purposes: a whole batch's random draws in a few
    vectorised passes (``seeded_rng`` builds a generator per sample, ~30 us each)."""
    items = np.asarray(items, dtype=np.uint64)
    with np.errstate(over="ignore"):
        base = np.full(len(items), int(seed) % (2**64), dtype=np.uint64)
        for value in (stream, epoch):
            base = _splitmix64(base + _GOLDEN + np.uint64(int(value) % (2**64)))
        base = _splitmix64(base + _GOLDEN + items)
        columns = np.arange(1, width + 1, dtype=np.uint64) * _GOLDEN
        return _splitmix64(base[:, None] + columns[None, :])


class SegmentDataset(torch.utils.data.Dataset):
    """One segment per item: ``{"signal": (T, C) float32, "index": file id, "filepath": str}``.

    Items are the segments of ``folders`` (folder ids; default all), in id order, or the
    explicit ``file_ids``. ``set_epoch`` must be called before iterating so that per-sample
    random draws (in subclasses) differ between epochs; validation uses ``stream=1`` and a
    fixed epoch. An item costs the same whatever the dataset's size (a binary search over
    folders, no per-segment tables).
    """

    def __init__(self, index: SegmentIndex, seed: int = 0, train: bool = True, file_ids=None, folders=None):
        self.index = index
        self.seed = seed
        self.stream = 0 if train else 1
        self.epoch = 0
        if file_ids is not None:
            self.file_ids = np.asarray(file_ids, dtype=np.int64)
            self._n = len(self.file_ids)
        else:
            self.file_ids = None
            self._folders = np.arange(len(index.folders)) if folders is None else np.asarray(folders, dtype=np.int64)
            self._first_id = index.offsets[self._folders]  # first segment id of each selected folder
            self._first_item = np.concatenate([[0], np.cumsum(index.folder_sizes()[self._folders])])
            self._n = int(self._first_item[-1])
        if self._n == 0:
            raise DataError(f"{index.root}: no .npy segments found; expected <subject>/<hour>/*.npy files")
        # The first segment fixes the shape every other segment must have.
        self.shape_source = index.path(self.file_id(0))
        self.expected_shape = tuple(index.read(self.file_id(0)).shape)

    def check_channels(self, needed: int, what: str, exact: bool = False) -> None:
        """Fail before training when the segments have fewer (or, ``exact``, other) channels than needed."""
        channels = self.expected_shape[1]
        if channels < needed or (exact and channels != needed):
            raise DataError(f"{self.shape_source}: shape {self.expected_shape} found, i.e. {channels} channel(s); "
                            f"{what} expects {'' if exact else 'at least '}{needed} (segments are (time, channels))")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def describe(self) -> str:
        """One line for a run's log: how many segments and folders this dataset uses, and what
        the scan of its tree left out and why (``scan_segment_tree``)."""
        if self.file_ids is None:
            n_folders = len(self._folders)
        else:
            n_folders = len(np.unique(self.locate_many(np.arange(self._n))[1]))
        left = describe_left_out(self.index.left_out)
        return (f"data {self.index.root}: {self._n} segments in {n_folders} folder(s)"
                + (f"; the scan {left}" if left else "; the scan left nothing out"))

    def rng(self, item: int) -> np.random.Generator:
        return seeded_rng(self.seed, self.stream, self.epoch if self.stream == 0 else 0, item)

    def locate(self, item: int) -> tuple[int, int]:
        """(file id, folder id) of ``item``."""
        if self.file_ids is not None:
            fid = int(self.file_ids[item])
            return fid, self.index.folder_id(fid)
        j = int(np.searchsorted(self._first_item, item, side="right")) - 1
        return int(self._first_id[j] + item - self._first_item[j]), int(self._folders[j])

    def locate_many(self, items) -> tuple[np.ndarray, np.ndarray]:
        """(file ids, folder ids) of ``items``, as (n,) int64 arrays."""
        items = np.asarray(items, dtype=np.int64)
        if self.file_ids is not None:
            fids = self.file_ids[items]
            return fids, np.searchsorted(self.index.offsets, fids, side="right") - 1
        j = np.searchsorted(self._first_item, items, side="right") - 1
        return self._first_id[j] + items - self._first_item[j], self._folders[j]

    def file_id(self, item: int) -> int:
        return self.locate(item)[0]

    def load(self, file_id: int) -> np.ndarray:
        return self.index.read(int(file_id), self.expected_shape, self.shape_source)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, item: int) -> dict:
        fid = self.file_id(item)
        return {"signal": torch.from_numpy(self.load(fid)), "index": fid, "filepath": self.index.path(fid)}

    # The DataLoader fetches whole batches through __getitems__ (with ``collate_batch`` as its
    # collate_fn, see ``make_loader``): subclasses can read a batch at once.
    returns_batches = True

    def __getitems__(self, items) -> dict:
        return torch.utils.data.default_collate([self[i] for i in items])


def collate_batch(batch):
    """collate_fn for datasets whose ``__getitems__`` already returns a collated batch."""
    return batch
