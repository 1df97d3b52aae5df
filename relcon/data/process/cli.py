"""Command-line plumbing shared by the two processing scripts (parsing happens only here)."""
from __future__ import annotations

import argparse
import logging
import sys

from relcon.data.process.download import BadArchiveError, DownloadError
from relcon.utils.paths import DATASETS_ROOT, cli_path


def build_parser(prog: str, description: str, datasets: tuple) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--raw-dir", default=None, metavar="ROOT", type=cli_path,
                   help=f"root holding priorpt/ and sslbench/ with the raw files (default {DATASETS_ROOT}); "
                        f"a relative path is taken from the current directory")
    p.add_argument("--out-dir", default=None, metavar="ROOT", type=cli_path,
                   help="root for the outputs, <ROOT>/<family>/<set>/processed/ (default: as --raw-dir's default)")
    p.add_argument("--datasets", nargs="+", choices=datasets, default=list(datasets), metavar="SET",
                   help=f"sets to process, any of {', '.join(datasets)} (default: all; always run in that order)")
    p.add_argument("--no-download", action="store_true",
                   help="never use the network: fail with instructions if raw files are missing")
    p.add_argument("--strict-folds", action="store_true",
                   help="fail (instead of warning) when the number of folds differs from the evaluation config's cv_splits")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log messages")
    return p


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(levelname)s: %(message)s")


def run(fn, *args, **kwargs):
    """Call ``fn``; expected failures (missing or bad input) become one message and exit status 1."""
    try:
        return fn(*args, **kwargs)
    except (FileNotFoundError, ValueError, BadArchiveError, DownloadError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


def print_summary(summaries: list[dict]) -> None:
    for s in summaries:
        folds = s["folds"]
        print(f"\n{s['family']}/{s['dataset']}: {len(folds)} folds (expected {s.get('expected_folds')}) -> {s['processed_dir']}")
        _print_folds(folds)
        if "leakfree_folds" in s:
            print(f"  leak-free folds -> {s['leakfree_dir']}")
            _print_folds(s["leakfree_folds"])


def _print_folds(folds: list[dict]) -> None:
    print(f"  {'fold':<5}{'train':>8}{'val':>8}{'test':>8}   test subjects / val subjects")
    for k, f in enumerate(folds):
        print(f"  cv{k:<3}{f['train']:>8}{f['val']:>8}{f['test']:>8}   {_ids(f['test_subjects'])} / {_ids(f['val_subjects'])}")


def _ids(ids) -> str:
    return ",".join(str(int(i)) if isinstance(i, float) and i.is_integer() else str(i) for i in ids)


def main(prog: str, description: str, datasets, process_datasets, argv=None) -> int:
    """The whole command of a benchmark processing script: parse, process, print the summary."""
    args = build_parser(prog, description, datasets).parse_args(argv)
    setup_logging(args.quiet)
    summaries = run(process_datasets, args.datasets, args.raw_dir, args.out_dir, download=not args.no_download,
                    progress=not args.quiet, strict_folds=args.strict_folds)
    print_summary(summaries)
    return 0
