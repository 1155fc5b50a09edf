"""The environments autorecipe knows by name."""

from __future__ import annotations

import importlib

from environments.spec import EnvironmentSpec

_MODULES = {
    "golf-mini": "environments.golf_mini",
    "chat-mini": "environments.chat_mini",
    "airbench-mini": "environments.airbench_mini",
    "dryrun": "environments.dryrun",
}


def names() -> list[str]:
    return list(_MODULES)


def package(name: str) -> str:
    """The package of a known environment (its faults and techniques modules live there)."""
    return _MODULES[name]


def get(name: str) -> EnvironmentSpec:
    """A known environment by name, or your own as "package.module:ATTRIBUTE"."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            spec = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise KeyError(f"cannot load environment {name!r}: {exc}") from None
        if not isinstance(spec, EnvironmentSpec):
            raise KeyError(f"{name} is a {type(spec).__name__}, not an EnvironmentSpec")
        return spec
    try:
        module = _MODULES[name]
    except KeyError:
        raise KeyError(f"unknown environment {name!r}; known: {', '.join(_MODULES)}, "
                       "or your own as package.module:SPEC") from None
    return importlib.import_module(module).SPEC
