"""Network configs: which net class to build and with which keyword arguments."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Base_NetConfig:
    """``relcon.nets.<net_folder>.<net_file>.Net(**params)``."""

    net_folder: str
    net_file: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        self.params = dict(self.params)
