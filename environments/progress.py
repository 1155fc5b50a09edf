"""Progress lines: how a harness says how far a phase has got, and reading them.

An environment declares regexes (`EnvironmentSpec.progress`); a line matching one is a point:
the named group `step` (and `total`, the planned steps) are integers, every other named group a
metric. The executor reads the phase's output line by line and appends the points as
`trial.progress` events at a bounded rate. Nothing here judges a trial: a recipe may print
whatever it likes, and a line that lies costs nothing but a wrong curve.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

MAX_LINE = 4096  # longer lines are not progress lines
SPECIAL = ("step", "total")


@lru_cache(maxsize=64)
def compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in patterns)


def parse_line(patterns: tuple[str, ...], line: str) -> dict | None:
    """{step, total, metrics} from the first pattern that matches `line`, or None."""
    if not patterns or len(line) > MAX_LINE:
        return None
    for rx in compiled(patterns):
        m = rx.search(line)
        if m is None:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        metrics = {}
        for k, v in groups.items():
            if k in SPECIAL:
                continue
            try:
                x = float(v)
            except ValueError:
                continue
            if math.isfinite(x):
                metrics[k] = x
        step = _int(groups.get("step"))
        if step is None and not metrics:
            continue
        return {"step": step, "total": _int(groups.get("total")), "metrics": metrics}
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def patterns_for(spec) -> tuple[str, ...]:
    """The spec's own patterns, or those declared for the real adapters by name."""
    if spec.progress:
        return spec.progress
    from environments.upstream.progress import PATTERNS

    return PATTERNS.get(spec.name, ())
