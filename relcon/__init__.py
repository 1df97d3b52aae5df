"""RelCon: relative contrastive learning for a motion foundation model for wearable data.

    import relcon
    encoder = relcon.load_encoder("demo")                # a config name, run folder or checkpoint
    emb = relcon.embed(recording, encoder, fs=30)        # (T, 3) or (N, T, 3) in g -> (N, D)

Both are imported on first use, so ``import relcon`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["load_encoder", "embed", "__version__"]


def __getattr__(name):
    if name == "load_encoder":
        from relcon.api import load_encoder  # lazy: `import relcon` stays light (no torch)

        return load_encoder
    if name == "embed":
        # The submodule relcon.embed is itself callable as the function (see relcon/embed/__init__.py),
        # so ``relcon.embed(...)`` works whether or not ``import relcon.embed`` ran first.
        import importlib

        return importlib.import_module("relcon.embed")
    raise AttributeError(f"module 'relcon' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["load_encoder", "embed"])
