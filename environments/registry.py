"""The environments autorecipe knows by name."""

from __future__ import annotations

import importlib

from environments.spec import EnvironmentSpec

_MODULES = {
    "golf-mini": "environments.golf_mini",
    "chat-mini": "environments.chat_mini",
    "airbench-mini": "environments.airbench_mini",
}


def names() -> list[str]:
    return list(_MODULES)


def get(name: str) -> EnvironmentSpec:
    try:
        module = _MODULES[name]
    except KeyError:
        raise KeyError(f"unknown environment {name!r}; known: {', '.join(_MODULES)}") from None
    return importlib.import_module(module).SPEC
