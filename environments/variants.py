"""Variants of a fixed environment, chosen by options (`--env-opt KEY=VALUE`), recorded with the
run like an adapter's: who the specialists are (the roster: the reference system's controls for
the value of specialization) and, where an environment declares them, its own knobs."""

from __future__ import annotations

import dataclasses
from typing import Callable

from environments.spec import EnvironmentSpec, Specialist, Surface

ROSTERS = {
    "specialists": "one agent per surface (the environment's own roster)",
    "generalist": "one agent that owns the whole recipe and every technique",
    "generalists": "ten identical generalists, gena ... genj (the reference's multi_agent_generic_pg)",
}
GENERALISTS = tuple(f"gen{c}" for c in "abcdefghij")


def with_options(spec: EnvironmentSpec, options: dict[str, str],
                 own: dict[str, Callable[[EnvironmentSpec, str], EnvironmentSpec]]) -> EnvironmentSpec:
    for key, value in sorted(options.items()):
        if key == "roster":
            spec = roster(spec, value)
        elif key in own:
            spec = own[key](spec, value)
        else:
            raise ValueError(f"{spec.name}: unknown option {key}; it takes roster ({', '.join(ROSTERS)})"
                             + "".join(f", {k}" for k in own))
    return spec


def roster(spec: EnvironmentSpec, name: str) -> EnvironmentSpec:
    if name not in ROSTERS:
        raise ValueError(f"{spec.name}: option roster={name!r}: one of {', '.join(ROSTERS)}")
    if name == "specialists":
        return spec
    agents = ("generalist",) if name == "generalist" else GENERALISTS
    brief = "The whole recipe. " + " ".join(f"{s.name}: {s.brief}" for s in spec.specialists)
    surface = Surface(files=spec.recipe_files)
    return dataclasses.replace(
        spec,
        specialists=tuple(Specialist(a, surface, brief) for a in agents),
        techniques=tuple(dataclasses.replace(t, specialist=a) for a in agents for t in spec.techniques),
    )
