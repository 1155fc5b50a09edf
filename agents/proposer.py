"""What every proposer is: given the lineage view a specialist sees, one proposal or none.

A proposal names its parent (a trial to start from; None is the run's baseline), a hypothesis,
and SEARCH/REPLACE edits against the parent's code. Proposers never touch the log, the
filesystem or a clock: the specialist around them records what they decided, so a run replays
without them. Their randomness comes from the `rng` they are handed, seeded from the run seed,
the agent and its session number.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from agents.lineage_view import LineageView
from environments.spec import Edit, EnvironmentSpec, Specialist


@dataclass(frozen=True)
class Proposal:
    parent_id: str | None
    hypothesis: str
    edits: tuple[Edit, ...]
    expected_delta: float | None = None
    notes: str = ""
    technique: str = ""  # the library's key for the idea ("lr=8e-3", "lr=8e-3+quant=6bit"), if it has one


@dataclass(frozen=True)
class Context:
    spec: EnvironmentSpec
    specialist: Specialist
    view: LineageView
    code_of: Callable[[str | None], dict[str, bytes]]  # a trial's recipe (None: the baseline)
    rng: random.Random
    session: int  # this agent's session number, from 1
    tier: str | None = None  # the run's tier (its limits and byte caps); None: the environment's first
    # handed each model exchange as it returns, before the session acts on it (the specialist puts
    # it in the log); proposers that call no model never call it
    record: Callable[[Any], None] = lambda exchange: None


# Session outcomes after which an agent proposes no more (until --resume): waiting changes
# neither its account, nor a server that refuses its key or model, nor one that is gone, nor a
# context window too small for the first message; and an endpoint that has failed every session
# for hours of back-off (endpoint_failing) has been waited for long enough.
STOPS_FOR_GOOD = ("quota", "refused", "endpoint_down", "window_too_small", "endpoint_failing", "no_submission")


@dataclass(frozen=True)
class Outcome:
    """How a session ended, for proposers that can end in more ways than a proposal or nothing."""

    proposal: Proposal | None
    outcome: str  # submitted, exhausted, invalid_edit, limit, error, or one of STOPS_FOR_GOOD
    detail: str = ""
    turns: int = 1
    parent_id: str | None = None  # for an invalid_edit: the trial the session worked from
    retry_after_s: float | None = None  # an error: the server asked to be left alone this long


class Proposer(Protocol):
    """What the specialist records of a proposer comes from here: its kind, and for one that
    calls a model, the model and the provider (the endpoint's name); None for offline ones."""

    kind: str  # library, random, scripted, llm
    model: str | None
    provider: str | None

    def propose(self, ctx: Context) -> Proposal | Outcome | None:
        """One proposal, or None when there is nothing left worth trying. A proposer that calls
        a model hands each exchange to `ctx.record` as it returns."""
