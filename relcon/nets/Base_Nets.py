"""Network configs: which net class to build and with which keyword arguments."""


class Base_NetConfig:
    """``relcon.nets.<net_folder>.<net_file>.Net(**params)``."""

    def __init__(self, net_folder: str, net_file: str, params: dict = {}):
        self.net_folder = net_folder
        self.net_file = net_file
        self.params = dict(params)
