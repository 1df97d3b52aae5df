"""Configs as plain data and back: what checkpoints, ``config.json`` and the printout hold.

``config_to_dict`` turns a config object tree (the dataclasses of ``relcon/models``,
``relcon/nets``, ``relcon/data`` and ``relcon/eval``) into JSON-able data, each object tagged with
its class under ``__class__``; ``config_from_dict`` rebuilds it through the class's constructor,
so a field that an older checkpoint lacks takes its declared default. Fields that configs no
longer carry (the run-time state older versions wrote onto them: ``device``, ``run_dir``,
``input_dims``, ``type``) are left out; any other unknown field is an error naming it.
"""
from __future__ import annotations

import dataclasses
import importlib

_PLAIN = (str, int, float, bool, type(None))

# Written onto configs at run time by older versions of this project; never part of a config now.
LEGACY_RUNTIME_FIELDS = frozenset({"device", "run_dir", "input_dims", "type"})


def config_fields(obj) -> dict:
    """``{name: value}`` of a config object's declared fields (all attributes for other objects)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def config_to_dict(obj):
    """Plain, JSON-able view of a config object tree (classes recorded under ``__class__``)."""
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        return [config_to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): config_to_dict(v) for k, v in obj.items()}
    if obj is Ellipsis:
        return "..."
    if hasattr(obj, "__dict__"):
        out = {"__class__": f"{type(obj).__module__}.{type(obj).__qualname__}"}
        out.update({k: config_to_dict(v) for k, v in config_fields(obj).items()})
        return out
    return repr(obj)


def _build(cls, values: dict, source: str):
    if not dataclasses.is_dataclass(cls):
        obj = cls.__new__(cls)
        for k, v in values.items():
            setattr(obj, k, v)
        return obj
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields) - LEGACY_RUNTIME_FIELDS)
    if unknown:
        raise ValueError(f"{source}: field(s) {', '.join(unknown)} are not fields of {cls.__qualname__}; expected "
                         f"some of {', '.join(fields)}")
    init = {k: v for k, v in values.items() if k in fields and fields[k].init}
    try:
        obj = cls(**init)
    except TypeError as e:
        raise ValueError(f"{source}: cannot rebuild {cls.__qualname__} ({e})") from None
    for k, v in values.items():  # fields the constructor sets itself (e.g. a trainer's folder)
        if k in fields and not fields[k].init:
            setattr(obj, k, v)
    return obj


def config_from_dict(data, source: str = "config"):
    """Inverse of ``config_to_dict``; fields the data lacks take their declared defaults.

    Raises:
        ValueError: a class that cannot be imported, an unknown field, a missing required field.
    """
    if isinstance(data, list):
        return [config_from_dict(v, source) for v in data]
    if isinstance(data, dict):
        if "__class__" in data:
            module, _, qualname = data["__class__"].rpartition(".")
            try:
                cls = getattr(importlib.import_module(module), qualname)
            except (ImportError, AttributeError) as e:
                raise ValueError(f"{source}: config class {data['__class__']} cannot be imported ({e})") from None
            values = {k: config_from_dict(v, source) for k, v in data.items() if k != "__class__"}
            return _build(cls, values, source)
        return {k: config_from_dict(v, source) for k, v in data.items()}
    return ... if data == "..." else data  # config_to_dict writes Ellipsis ("all channels") as "..."


def normalised_config_dict(data: dict) -> dict:
    """A saved config dict as today's classes would write it: defaults filled in, legacy run-time
    fields dropped. Data that cannot be rebuilt is returned unchanged (compared as it is)."""
    try:
        return config_to_dict(config_from_dict(data))
    except ValueError:
        return data
