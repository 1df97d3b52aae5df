"""Where the repository lives, so that config paths work from any working directory."""
import os
from pathlib import Path

# relcon/utils/paths.py -> repository root is two folders above the package.
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = Path(os.environ.get("RELCON_ROOT", _PACKAGE_ROOT.parent)).resolve()

DATASETS_ROOT = REPO_ROOT / "relcon" / "data" / "datasets"
OUT_ROOT = Path(os.environ.get("RELCON_OUT", REPO_ROOT / "relcon" / "experiments" / "out")).resolve()


def resolve_path(path) -> Path:
    """Absolute paths stay as they are; relative ones are taken from the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p)


def out_dir(run_name: str) -> Path:
    """Run folder of a config: ``relcon/experiments/out/<run_name>``."""
    return OUT_ROOT / run_name


def cli_path(text: str) -> str:
    """argparse ``type`` for paths typed by a user: relative to the current directory.

    (Defaults and paths inside configs are relative to the repository root instead; give
    defaults as ``None`` or absolute so this does not apply to them.)"""
    return str(Path(text).expanduser().resolve())
