"""Session fixtures: one raw fixture tree in the acceptance layout, processed once by the library."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # rawfixtures / spec_oracle, whatever the import mode

import rawfixtures  # noqa: E402
from relcon.data.process import comparepriorpt, comparesslbench  # noqa: E402


@pytest.fixture(scope="session")
def raw_root(tmp_path_factory):
    return rawfixtures.write_all(tmp_path_factory.mktemp("raw"))


@pytest.fixture(scope="session")
def processed(raw_root, tmp_path_factory):
    """(out root, {set: summary}) after processing every set with the network forbidden."""
    out = tmp_path_factory.mktemp("out")
    summaries = comparepriorpt.process_datasets(raw_root=raw_root, out_root=out, download=False, progress=False)
    summaries += comparesslbench.process_datasets(raw_root=raw_root, out_root=out, download=False, progress=False)
    return out, {f"{s['family']}/{s['dataset']}": s for s in summaries}


@pytest.fixture(scope="session")
def encoder():
    """The demo config's encoder, seeded, in eval mode (for embedding tests)."""
    import torch

    from relcon.experiments.registry import get_config
    from relcon.utils.imports import import_net

    torch.manual_seed(0)
    return import_net(get_config("demo").net_config).eval()
