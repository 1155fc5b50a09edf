"""The event vocabulary: every fact autorecipe records, as frozen, tagged msgspec Structs.

Tags and field names are a public format. Add fields only with defaults; never rename a tag or
change a field's type (a rename keeps its wire name with ``msgspec.field(name=...)``). Every
type here has a golden encoded sample in tests/golden/.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag_field="type", omit_defaults=True):
    """Base of every payload. The tag (``type`` on the wire) names the event forever. Fields
    equal to their default are not written, so a default, once published, never changes."""


# ---------------------------------------------------------------------------------------------
# Shared values

Direction = Literal["minimize", "maximize"]

# What an evaluator can say. `keep` and `discard` are not here: they are decided by the trials
# projection, in log order, from `valid` verdicts under the run's keep rule.
Verdict = Literal[
    "valid",
    "crash",
    "preflight_crash",
    "size_blocked",
    "train_budget_overrun",
    "eval_budget_overrun",
    "disqualified",
    "out_of_surface",
    "invalid_edit",
    "harness_abort",
]
FAILURE_VERDICTS: tuple[str, ...] = Verdict.__args__[1:]  # type: ignore[attr-defined]


class KeepRule(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """A valid trial is kept iff its score beats the best so far by more than `noise_margin`."""

    metric: str
    direction: Direction
    noise_margin: float = 0.0


class Fingerprint(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """Where a run (or an actor incarnation) ran: enough to tell two machines apart later."""

    hostname: str
    platform: str
    python: str
    packages: dict[str, str] = {}
    git_commit: str | None = None
    git_dirty_sha256: str | None = None
    accelerators: list[str] = []
    env_vars: dict[str, str] = {}


class BlobRef(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    sha256: str
    size: int


class Phase(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One harness phase as the executor measured it from outside the recipe's process."""

    name: str  # smoke, train, eval, pack, ...
    exit_code: int | None  # None when killed by a signal
    wall_s: float
    cpu_s: float
    budget_s: float | None = None
    timed_out: bool = False
    signal: int | None = None
    peak_rss_bytes: int | None = None
    disk_bytes: int | None = None  # set only when over the disk cap: what it held, counted until past the cap
    cpu_clock: str = ""  # what counted cpu_s: a cgroup (every process of the phase) or wait4 (reaped children only)
    # what kept out/ and tmp/ under the disk cap: "filesystem" (one of the attempt's own, so the kernel
    # counts whatever holds a file) or "walk" (its folders walked: a file held only in a socket is unseen)
    disk_bound: str = ""
    # how it was contained: "namespaces+uid N" or "namespaces+nobody" (network, mount and PID namespaces, a
    # root and a uid of its own; ", no PID namespace ..." where that one could not be made) or "rlimits"
    # (where the executor is not root: the executor's user, network and files); as actors/sandbox/phase.py says it
    isolation: str = ""


class Check(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    """One legality or budget check with the evidence an agent needs to act on it."""

    name: str
    passed: bool
    evidence: str = ""
    measured: float | None = None
    limit: float | None = None


class Usage(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False  # the server reported no usage: counted from the characters


# ---------------------------------------------------------------------------------------------
# Run


class RunStarted(Event, frozen=True, tag="run.started"):
    run_id: str
    environment: str
    tier: str
    config: dict  # the whole resolved configuration, as the user would write it
    seed: int
    keep_rule: KeepRule
    fingerprint: Fingerprint
    baseline_code: dict[str, BlobRef] = {}  # recipe path -> blob


class RunStopRequested(Event, frozen=True, tag="run.stop_requested"):
    reason: str  # trial_budget, deadline, patience, cost_budget, user, error
    detail: str = ""
    in_flight: Literal["finish", "cancel"] = "finish"


class RunStopped(Event, frozen=True, tag="run.stopped"):
    reason: str
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# Trial lifecycle (stream: trial/<trial_id>)


class TrialProposed(Event, frozen=True, tag="trial.proposed"):
    trial_id: str
    agent: str
    surface: str
    parent_id: str | None  # None: the run's baseline recipe
    hypothesis: str
    expected_delta: float | None = None
    code: dict[str, BlobRef] = {}  # recipe path -> blob, the whole recipe after the edit
    diff: BlobRef | None = None
    notes: str = ""
    session_id: str | None = None
    technique: str = ""  # the technique library's key for the idea, when it came from there
    parent_sha256: str | None = None  # agents.changes.code_sha256 of the parent's and this recipe
    code_sha256: str | None = None
    surface_violations: list[str] = []  # recorded, not refused, when the surface mode is "audit"


class TrialClaimed(Event, frozen=True, tag="trial.claimed"):
    trial_id: str
    attempt: int
    executor: str
    node: str = ""
    resources: dict[str, float] = {}


class TrialExecuted(Event, frozen=True, tag="trial.executed"):
    """Raw measurements only; the executor never scores."""

    trial_id: str
    attempt: int
    executor: str
    phases: list[Phase]
    outputs: dict[str, BlobRef] = {}
    log: BlobRef | None = None
    measurements: dict[str, float] = {}
    gpu_s: float = 0.0


class TrialEvaluated(Event, frozen=True, tag="trial.evaluated"):
    trial_id: str
    attempt: int
    evaluator: str
    evaluator_version: str
    verdict: Verdict
    score: float | None = None
    metrics: dict[str, float] = {}
    checks: list[Check] = []
    feedback: str = ""


class TrialLost(Event, frozen=True, tag="trial.lost"):
    """An attempt ended without a result through no fault of the recipe (executor died, ...)."""

    trial_id: str
    attempt: int
    reason: str


class TrialRetried(Event, frozen=True, tag="trial.retried"):
    """A new attempt: the trial is runnable again."""

    trial_id: str
    attempt: int  # the new attempt's number
    reason: str


class TrialCancelled(Event, frozen=True, tag="trial.cancelled"):
    trial_id: str
    reason: str


class TrialProgress(Event, frozen=True, tag="trial.progress"):
    """How far a running phase has got, read off a line of its output in the format its
    environment declares (stream: progress/<trial_id>, so it never moves a trial stream's
    version). Informational only: appended at a bounded rate, drawn as a curve, never read by an
    evaluator or the keep rule."""

    trial_id: str
    attempt: int
    phase: str  # the phase's label: train, eval, train:1, ...
    elapsed_s: float  # wall seconds since the phase started
    budget_s: float | None = None
    step: int | None = None
    total_steps: int | None = None
    metrics: dict[str, float] = {}  # what the line reported: train_loss, val_bpb, ...


# ---------------------------------------------------------------------------------------------
# Agent sessions and LLM exchanges (stream: agent/<agent>)


class AgentSessionStarted(Event, frozen=True, tag="agent.session_started"):
    session_id: str
    agent: str
    proposer: str  # library, random, scripted, llm
    model: str | None = None
    lineage_view: BlobRef | None = None
    view_offset: int | None = None  # the log offset the view was rendered at (replay rebuilds the session there)


class AgentSessionEnded(Event, frozen=True, tag="agent.session_ended"):
    session_id: str
    agent: str
    outcome: str  # submitted, invalid_edit, limit, error
    trial_id: str | None = None
    turns: int = 0
    detail: str = ""


class LlmExchanged(Event, frozen=True, tag="llm.exchanged"):
    """One model call, recorded before anything acts on it. Replay serves `response` back."""

    session_id: str
    agent: str
    call_seq: int
    provider: str
    model: str
    request: BlobRef
    request_hash: str  # of the canonical request, the replay key
    response: BlobRef | None
    usage: Usage = Usage()
    cost_usd: float = 0.0
    latency_s: float = 0.0
    http_status: int | None = None
    error: str | None = None
    outcome: str = "ok"  # ok: a response came back (usable or not); failed, unreachable, quota, refused: none did
    attempts: int = 1  # HTTP attempts, retries included
    queued_s: float = 0.0  # waiting for the endpoint's concurrency slot; latency_s is the call alone


# ---------------------------------------------------------------------------------------------
# Budget


class BudgetCharged(Event, frozen=True, tag="budget.charged"):
    """Spend the other events do not already carry (data preparation, calibration, external
    bills). Trial compute comes from TrialExecuted and LLM spend from LlmExchanged; a producer
    never restates those here."""

    resource: Literal["cpu_s", "gpu_s", "tokens", "usd"]
    amount: float
    agent: str | None = None
    trial_id: str | None = None
    reason: str = ""


# ---------------------------------------------------------------------------------------------
# Claims (stream: claim/<trial_id>)


class ClaimTested(Event, frozen=True, tag="claim.tested"):
    """A trial re-run against its parent over fresh seeds, and the Welch test of the claim that
    it is better by at least `min_delta` (Parameter Golf's record bar: 0.005 nats at p < 0.01).
    Scores are per seed, None where that seed's run was not valid."""

    trial_id: str
    parent_id: str | None
    metric: str
    direction: Direction
    seeds: list[int]
    trial_scores: list[float | None]
    parent_scores: list[float | None]
    improvement: float | None  # mean parent - mean trial (minimize), or the other way round: > 0 is better
    t_stat: float | None
    p_value: float | None
    min_delta: float
    alpha: float
    passed: bool
    detail: str = ""


EVENT_TYPES: tuple[type[Event], ...] = (
    RunStarted,
    RunStopRequested,
    RunStopped,
    TrialProposed,
    TrialClaimed,
    TrialExecuted,
    TrialEvaluated,
    TrialLost,
    TrialRetried,
    TrialCancelled,
    AgentSessionStarted,
    AgentSessionEnded,
    LlmExchanged,
    BudgetCharged,
    ClaimTested,
    TrialProgress,
)

TAGS: dict[str, type[Event]] = {t.__struct_config__.tag: t for t in EVENT_TYPES}


def tag_of(event_type: type[Event]) -> str:
    return event_type.__struct_config__.tag
