"""Adapter options: a declared set, each with a default or required, checked up front so that a
wrong path fails at launch with its name, not inside a trial on some node an hour later."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Option:
    help: str
    default: str | None = None  # None: required
    kind: str = "str"  # str, int, float, dir, file


def resolve(env: str, given: dict[str, str], declared: dict[str, Option]) -> dict:
    """The options with defaults filled in and values converted; ValueError naming the option."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValueError(f"{env}: unknown option(s) {', '.join(unknown)}; it takes "
                         + ", ".join(f"{k} ({o.help})" for k, o in declared.items()))
    out = {}
    for key, opt in declared.items():
        raw = given.get(key, opt.default)
        if raw is None:
            raise ValueError(f"{env}: option {key} is required ({opt.help}); pass --env-opt {key}=...")
        try:
            out[key] = _convert(raw, opt.kind)
        except ValueError as exc:
            raise ValueError(f"{env}: option {key}={raw!r}: {exc}") from None
    return out


def _convert(raw: str, kind: str):
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind in ("dir", "file"):
        path = Path(raw).expanduser().resolve()
        if kind == "dir" and not path.is_dir():
            raise ValueError(f"{path} is not a folder")
        if kind == "file" and not path.is_file():
            raise ValueError(f"{path} is not a file")
        return path
    return raw


def torchrun(gpus: int) -> tuple[str, ...]:
    """The upstream launch line (`torchrun --standalone --nproc_per_node=N`), through this
    interpreter so the trial uses the environment autorecipe runs in."""
    return (sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}")


def describe(declared: dict[str, Option]) -> str:
    def default(o: Option) -> str:
        return " (required)" if o.default is None else f" [default {o.default}]" if o.default else ""

    return "\n".join(f"  {k:<14}{o.help}{default(o)}" for k, o in declared.items())
