"""The environments autorecipe knows by name: the CPU miniatures (a fixed SPEC each) and the
adapters for the real upstream tasks (built from options: where the checkout and the data are)."""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Mapping
from functools import lru_cache

from environments.spec import EnvironmentSpec

_MODULES = {
    "golf-mini": "environments.golf_mini",
    "chat-mini": "environments.chat_mini",
    "airbench-mini": "environments.airbench_mini",
    "dryrun": "environments.dryrun",
}
_ADAPTERS = {
    "parameter-golf": "environments.upstream.parameter_golf",
    "nanochat-d12": "environments.upstream.nanochat_d12",
    "airbench96": "environments.upstream.airbench96",
}


def names() -> list[str]:
    return list(_MODULES)


def adapters() -> list[str]:
    return list(_ADAPTERS)


def adapter_module(name: str) -> str:
    """The module of a real-task adapter (its OPTIONS and data_commands live there)."""
    return _ADAPTERS[name]


def package(name: str) -> str:
    """The package of a known environment (its faults and techniques modules live there)."""
    return _MODULES[name]


def get(name: str, options: Mapping[str, str] | None = None) -> EnvironmentSpec:
    """A known environment by name, a real-task adapter with its options, or your own as
    "package.module:ATTRIBUTE"."""
    if name in _ADAPTERS:
        return _adapter(name, tuple(sorted((options or {}).items())))
    if options:
        return _variant(name, tuple(sorted(options.items())))
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            spec = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            raise KeyError(f"cannot load environment {name!r}: {exc} (is the folder holding {module.split('.')[0]!r} "
                           "on PYTHONPATH?)") from None
        except AttributeError as exc:
            raise KeyError(f"cannot load environment {name!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the module itself fails: say where, not 40 lines of traceback
            raise KeyError(f"cannot load environment {name!r}: {where_raised(exc)}: {type(exc).__name__}: {exc}") from None
        if not isinstance(spec, EnvironmentSpec):
            raise KeyError(f"{name} is a {type(spec).__name__}, not an EnvironmentSpec")
        return spec
    try:
        module = _MODULES[name]
    except KeyError:
        raise KeyError(f"unknown environment {name!r}; known: {', '.join([*_MODULES, *_ADAPTERS])}, "
                       "or your own as package.module:SPEC") from None
    return importlib.import_module(module).SPEC


def where_raised(exc: BaseException) -> str:
    """file:line of the deepest frame outside Python's import machinery (the user's line)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


@lru_cache(maxsize=32)
def _variant(name: str, options: tuple[tuple[str, str], ...]) -> EnvironmentSpec:
    from environments.variants import with_options

    own = getattr(importlib.import_module(_MODULES[name]), "OPTIONS", {}) if name in _MODULES else {}
    return with_options(get(name), dict(options), own)


@lru_cache(maxsize=16)
def _adapter(name: str, options: tuple[tuple[str, str], ...]) -> EnvironmentSpec:
    return importlib.import_module(_ADAPTERS[name]).build(dict(options))


def for_run(config: Mapping) -> EnvironmentSpec:
    """The environment a run names in its recorded configuration (RunStarted.config)."""
    return get(config["env"], config.get("env_options") or None)
