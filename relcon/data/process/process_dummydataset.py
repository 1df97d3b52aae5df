"""Write a pre-training tree in the layout RelCon expects.

    <out>/{train,val,test}/subject_<s>/hour_<h>/ts_<i>.npy      each float64 (T, C)

Defaults reproduce the reference's dummy set: 64 subjects split 32/16/16, 2 hour folders
each, 25 segments per folder, (256, 3) arrays (2.56 s of 3-axis accelerometry at 100 Hz).

--kind noise   i.i.d. N(0, 1) values, as in the reference (now seeded): checks the plumbing.
--kind motion  structured synthetic wrist accelerometry (activities with periodic motifs and
               postures that vary by subject and hour, device orientation, noise), from
               ``relcon.data.synthetic``: something real for pre-training to learn.

The tree is written into a temporary folder and renamed into place when complete, so an
interrupted run never leaves a partial dataset; an existing dataset is only replaced with
--overwrite.

    python relcon/data/process/process_dummydataset.py [--kind motion] [--out-dir DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np

from relcon.data import synthetic
from relcon.utils.io import replaced_folder
from relcon.utils.paths import cli_path, resolve_path
from relcon.utils.progress import progress as progress_bar

DEFAULT_OUT = "relcon/data/datasets/dummydataset"


def generate_dummydataset(out_dir, kind: str = "noise", train_subjects: int = 32, val_subjects: int = 16,
                          test_subjects: int = 16, hours: int = 2, segments: int = 25, length: int = 256,
                          channels: int = 3, seed: int = 0, overwrite: bool = False, progress: bool = True) -> dict:
    """Write the tree to ``out_dir`` (resolved against the repository root); returns file counts."""
    if kind not in ("noise", "motion"):
        raise ValueError(f"kind={kind!r}: expected 'noise' or 'motion'")
    for name, value in dict(train_subjects=train_subjects, val_subjects=val_subjects,
                            test_subjects=test_subjects).items():
        if value < 0:
            raise ValueError(f"{name}={value}: expected >= 0")
    for name, value in dict(hours=hours, segments=segments, length=length, channels=channels).items():
        if value < 1:
            raise ValueError(f"{name}={value}: expected >= 1")
    if kind == "motion" and channels != 3:
        raise ValueError(f"--kind motion writes 3-axis accelerometry; got channels={channels}")
    out_dir = resolve_path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} already exists and is not empty; pass --overwrite to replace it")

    rng = np.random.default_rng(seed)
    counts = {}
    # Built beside out_dir and swapped in when complete. One flush of everything written instead of
    # an fsync per file (thousands of them): the tree is never published before its files are on disk.
    with replaced_folder(out_dir, sync=True) as tmp:
        subject = 0
        splits = [("train", train_subjects), ("val", val_subjects), ("test", test_subjects)]
        bar = progress_bar(total=(train_subjects + val_subjects + test_subjects) * hours, desc=f"{kind} dataset",
                           disable=not progress, unit="hour")
        for split, n_subjects in splits:
            counts[split] = 0
            for _ in range(n_subjects):
                profile = synthetic.sample_subject(rng) if kind == "motion" else None
                for h in range(hours):
                    folder = tmp / split / f"subject_{subject}" / f"hour_{h}"
                    folder.mkdir(parents=True)
                    if kind == "motion":
                        data = synthetic.sample_hour_segments(rng, profile, segments, T=length)
                    else:
                        data = rng.standard_normal((segments, length, channels))
                    for i in range(segments):
                        np.save(folder / f"ts_{i}.npy", np.asarray(data[i], dtype=np.float64))
                    counts[split] += segments
                    bar.update(1)
                subject += 1
        bar.close()
    return counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default=str(resolve_path(DEFAULT_OUT)), type=cli_path,
                   help=f"output folder (default <repository>/{DEFAULT_OUT}; a relative path is taken from the "
                        f"current directory)")
    p.add_argument("--kind", choices=["noise", "motion"], default="noise", help="segment content (default noise)")
    p.add_argument("--train-subjects", type=int, default=32)
    p.add_argument("--val-subjects", type=int, default=16)
    p.add_argument("--test-subjects", type=int, default=16)
    p.add_argument("--hours", type=int, default=2, help="hour folders per subject")
    p.add_argument("--segments", type=int, default=25, help="segments per hour folder")
    p.add_argument("--length", type=int, default=256, help="samples per segment (T)")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    args = p.parse_args(argv)
    try:
        counts = generate_dummydataset(args.out_dir, args.kind, args.train_subjects, args.val_subjects,
                                       args.test_subjects, args.hours, args.segments, args.length, args.channels,
                                       args.seed, args.overwrite)
    except (ValueError, FileExistsError) as e:
        p.exit(2, f"error: {e}\n")
    print(f"wrote {resolve_path(args.out_dir)}: " + ", ".join(f"{k} {v} files" for k, v in counts.items()))


if __name__ == "__main__":
    main()
