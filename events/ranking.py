"""Score direction and ranking: which of two scores is better, and the one order of trials.

Every view that ranks trials (leaderboards, the lineage view, agent stats, the keep rule,
reports) asks here, so they agree, ties included: equal scores rank by the order in which the
log judged them, earlier first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol, TypeVar, get_args

from events.schema import Direction

DIRECTIONS: tuple[str, ...] = get_args(Direction)  # for validating what a user wrote


class Scored(Protocol):
    score: float | None
    evaluated_offset: int


R = TypeVar("R", bound=Scored)


def has_score(score: float | None) -> bool:
    """A number to rank by: neither missing nor NaN."""
    return score is not None and not math.isnan(score)


def gain_sign(direction: Direction) -> float:
    """+1 when higher is better, -1 when lower is: the improvement of `new` over `old` is
    gain_sign * (new - old), > 0 when `new` is better."""
    return -1.0 if direction == "minimize" else 1.0


def improvement(new: float, old: float, direction: Direction) -> float:
    """How much better `new` is than `old`: > 0 better, < 0 worse, in the score's units."""
    return gain_sign(direction) * (new - old)


def better(a: float, b: float, direction: Direction, margin: float = 0.0) -> bool:
    """`a` beats `b` by more than `margin`."""
    if direction == "minimize":
        return a < b - margin
    return a > b + margin


def goal_word(direction: Direction) -> str:
    """The word for a better score: "lower" or "higher"."""
    return "lower" if direction == "minimize" else "higher"


def rank_key(row: Scored, direction: Direction) -> tuple[float, int]:
    """Best first; equal scores: the one judged earlier first. The row must have a score."""
    return (row.score if direction == "minimize" else -row.score, row.evaluated_offset)


def ranked(rows: Iterable[R], direction: Direction) -> list[R]:
    """Rows (each with a score) best first, under `rank_key`."""
    return sorted(rows, key=lambda r: rank_key(r, direction))
