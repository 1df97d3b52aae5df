import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # relcon_testutils, tinyconfigs

from relcon_testutils import write_tree  # noqa: E402


@pytest.fixture
def tiny_tree(tmp_path):
    return write_tree(tmp_path / "tree")
