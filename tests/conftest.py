import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # relcon_testutils, tinyconfigs

from relcon.nets.ResNet1D import quiet_same_padding_warning  # noqa: E402
from relcon_testutils import write_tree  # noqa: E402
from reliability_helpers import one_thread as single_thread  # noqa: E402


def pytest_configure(config):
    quiet_same_padding_warning()  # pytest resets warning filters per test; this one is ours to keep


@pytest.fixture
def tiny_tree(tmp_path):
    return write_tree(tmp_path / "tree")


@pytest.fixture
def one_thread():
    """One torch thread during the test (bitwise comparisons), the previous count restored after."""
    with single_thread():
        yield
