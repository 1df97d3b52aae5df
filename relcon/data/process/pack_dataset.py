"""Convert a pre-training tree to the packed layout (``relcon/data/packed.py``).

    python relcon/data/process/pack_dataset.py SRC DST [--overwrite]

SRC is a tree in the reference layout, e.g. ``relcon/data/datasets/dummydataset`` with
``{train,val,test}/<subject>/<hour>/*.npy`` (T, C); every folder holding ``.npy`` files becomes
one float32 array ``DST/<same relative path>.npy`` of shape (n, T, C), rows in the sorted order
of the file names, and the manifest ``DST/packed_index.json`` (with its tables,
``packed_index.*.npy``) lists them. Point a config's ``data_folder`` at
DST and the trainers read it as they read SRC (same segment ids, same samples for a seed).

Every segment is validated as the loaders validate it (numeric, 2-D, finite, one shape for
the whole tree; errors name the file). The tree is built in a temporary folder next to DST and
renamed into place when complete, so an interrupted run never leaves a partial dataset; an
existing DST is only replaced with --overwrite. Relative paths are taken from the current
directory; memory use is one folder's segments at a time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np

from relcon.data import packed
from relcon.data.Base_Dataset import DataError, describe_left_out, load_segment, scan_segment_tree
from relcon.utils.io import atomic_save_npy, replaced_folder
from relcon.utils.progress import progress as progress_bar


def pack_dataset(src, dst, overwrite: bool = False, progress: bool = True) -> dict:
    """Pack ``src`` into ``dst``; returns ``{"arrays": n, "segments": n, "segment_shape": (T, C),
    "left_out": [(relative path, reason), ...]}`` (symlinked folders are followed, each real folder
    once; loops, second paths, broken links and unreadable folders are left out: ``scan_segment_tree``)."""
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.is_dir():
        raise FileNotFoundError(f"source tree {src} does not exist")
    if (src / packed.MANIFEST).exists():
        raise ValueError(f"{src} is already packed ({src / packed.MANIFEST} exists)")
    if dst == src or src in dst.parents:
        raise ValueError(f"destination {dst} must not be inside the source tree {src}")
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise FileExistsError(f"{dst} already exists and is not empty; pass --overwrite to replace it")
    folders, names, _, left_out = scan_segment_tree(src)
    if not folders:
        raise DataError(f"{src}: no .npy segments found; expected <subject>/<hour>/*.npy files")
    if "." in folders:
        raise DataError(f"{src} holds .npy files directly; expected them in <subject>/<hour>/ folders below it")

    shape, arrays, counts = None, [], []
    with replaced_folder(dst) as tmp:  # built beside dst, swapped in when complete
        for rel, files in progress_bar(list(zip(folders, names)), desc="pack", unit="folder", disable=not progress):
            first = load_segment(src / rel / files[0], shape)
            shape = first.shape
            stack = np.empty((len(files), *shape), dtype=np.float32)
            stack[0] = first
            for row, name in enumerate(files[1:], start=1):
                stack[row] = load_segment(src / rel / name, shape)
            target = tmp / f"{rel}.npy"
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_save_npy(target, stack)
            arrays.append(f"{rel}.npy")
            counts.append(len(files))
        # Written last: without it the folder is not taken for a packed tree.
        packed.write_manifest(tmp, arrays, counts, shape, "float32", str(src))
    return {"arrays": len(arrays), "segments": int(sum(counts)), "segment_shape": tuple(shape), "left_out": left_out}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="tree in the reference layout (<...>/<subject>/<hour>/*.npy)")
    p.add_argument("dst", help="packed tree to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        summary = pack_dataset(args.src, args.dst, overwrite=args.overwrite, progress=not args.quiet)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"packed {summary['segments']} segments {summary['segment_shape']} into {summary['arrays']} arrays "
          f"under {Path(args.dst).resolve()}")
    if summary["left_out"]:
        print(f"{Path(args.src).resolve()}: {describe_left_out(summary['left_out'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
