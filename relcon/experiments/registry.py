"""One registry of named experiment configs, and the tools to inspect and override them.

Every ``relcon/experiments/configs/*_expconfigs.py`` is imported; each module-level dict named
``all*_expconfigs`` contributes its entries. A name defined twice is an error naming both files.
Config files kept outside the repository can be added with the environment variable
``RELCON_CONFIGS``: ``os.pathsep``-separated ``*_expconfigs.py`` files or folders holding them.
"""
from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path

from relcon.config import config_fields, config_from_dict, config_to_dict  # noqa: F401 (re-exported)

CONFIG_PACKAGE = "relcon.experiments.configs"


class ConfigError(ValueError):
    """Unknown config name, unknown ``--set`` key or a value of the wrong type."""


def _extra_modules():
    """Modules from the files named by ``RELCON_CONFIGS``."""
    paths = []
    for entry in filter(None, os.environ.get("RELCON_CONFIGS", "").split(os.pathsep)):
        entry = Path(entry).expanduser().resolve()
        if entry.is_dir():
            paths.extend(sorted(entry.glob("*_expconfigs.py")))
        elif entry.is_file():
            paths.append(entry)
        else:
            raise ConfigError(f"RELCON_CONFIGS names {entry}, which does not exist")
    for path in paths:
        name = f"relcon_user_configs_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}_{path.stem}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as e:  # a user's own config file: say which one and why, no traceback
                del sys.modules[name]
                raise ConfigError(f"config file {path} (from RELCON_CONFIGS) cannot be imported: "
                                  f"{type(e).__name__}: {e}") from e
        yield sys.modules[name]


def discover(package: str = CONFIG_PACKAGE) -> dict:
    """``{name: config}`` over all ``*_expconfigs`` modules of ``package`` (and ``RELCON_CONFIGS``)."""
    pkg = importlib.import_module(package)
    modules = [importlib.import_module(f"{package}.{info.name}")
               for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name)
               if info.name.endswith("_expconfigs")]
    registry, origin = {}, {}
    for module in modules + list(_extra_modules()):
        for attr, value in vars(module).items():
            if not (attr.startswith("all") and attr.endswith("_expconfigs") and isinstance(value, dict)):
                continue
            for name, config in value.items():
                where = f"{module.__file__} ({attr})"
                if name in registry and registry[name] is not config:
                    raise ConfigError(f"config name {name!r} is defined twice: in {origin[name]} and in {where}")
                registry[name] = config
                origin[name] = where
    return registry


def get_config(name: str, registry: dict | None = None):
    """A deep copy of config ``name`` (so overrides never leak into the registry)."""
    registry = discover() if registry is None else registry
    if name not in registry:
        close = difflib.get_close_matches(name, list(registry), n=5, cutoff=0.4)
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise ConfigError(f"unknown config {name!r}.{hint} Run `python run_exp.py --list` for all "
                          f"{len(registry)} names.")
    return copy.deepcopy(registry[name])


def describe(config) -> str:
    """One line for ``--list``."""
    text = getattr(config, "description", "") or ""
    if text:
        return text
    data = getattr(getattr(config, "data_config", None), "data_folder", "?")
    return f"{getattr(config, 'model_file', '?')} on {data}, {getattr(config, 'epochs', '?')} epochs"


# ------------------------------------------------------------------ overrides
_PLAIN = (str, int, float, bool, type(None))


def flat_keys(obj, prefix: str = "") -> dict:
    """``{"dotted.key": value}`` for every settable leaf of a config."""
    out = {}
    items = obj.items() if isinstance(obj, dict) else config_fields(obj).items()
    for k, v in items:
        key = f"{prefix}{k}"
        if isinstance(v, dict) or (hasattr(v, "__dict__") and not isinstance(v, _PLAIN) and not isinstance(v, (list, tuple))):
            out[key] = v
            out.update(flat_keys(v, key + "."))
        else:
            out[key] = v
    return out


def _parse_value(text: str, current):
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text  # a bare word is a string
    if current is None or current is Ellipsis:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        return text if not isinstance(value, str) else value
    elif isinstance(current, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return type(current)(value)
    elif isinstance(current, dict):
        if isinstance(value, dict):
            return value
    else:
        raise ConfigError(f"cannot set a {type(current).__name__} from the command line")
    raise ConfigError(f"value {text!r} is a {type(value).__name__}; expected {type(current).__name__} "
                      f"(current value {current!r})")


def apply_overrides(config, assignments: list[str]):
    """Apply ``key=value`` strings (dotted keys reach nested attributes and dict entries)."""
    for assignment in assignments:
        if "=" not in assignment:
            raise ConfigError(f"--set {assignment!r}: expected key=value")
        key, text = assignment.split("=", 1)
        key = key.strip()
        valid = flat_keys(config)
        if key not in valid:
            close = difflib.get_close_matches(key, list(valid), n=5, cutoff=0.5)
            listing = ", ".join(close) if close else ", ".join(sorted(k for k in valid if "." not in k))
            raise ConfigError(f"--set {key}: unknown key. {'Closest' if close else 'Top-level keys'}: {listing}")
        try:
            value = _parse_value(text.strip(), valid[key])
        except ConfigError as e:
            raise ConfigError(f"--set {key}={text}: {e}") from None
        parts = key.split(".")
        target = config
        for part in parts[:-1]:
            target = target[part] if isinstance(target, dict) else getattr(target, part)
        if isinstance(target, dict):
            target[parts[-1]] = value
        else:
            setattr(target, parts[-1], value)
    return config
