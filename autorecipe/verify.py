"""`replay --verify`: audit a run from its log alone.

1. Projections: the state folded in one pass and folded page by page (as a live actor does) must
   have the same digest.
2. Code: every proposed trial's recipe blobs must hash to the recorded code_sha256, and its
   surface violations, recomputed from the parent's code, must be the recorded ones.
3. Verdicts: every evaluator verdict is re-derived by today's evaluator from the recorded outputs
   (and this machine's held-out data) and must equal the recorded one byte for byte.

4. The log itself: it must read to its end without damage, and end where `COMMITTED` says the
   acknowledged events end (a log cut short loses acknowledged events even when what is left
   reads cleanly).

Each mismatch is a Divergence naming the trial and what differs; the audit goes on past each
one, so it lists every problem it finds, not the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from agents.changes import EditError, change_between, code_sha256, surface_violations
from autorecipe.local_trial import evaluator_of, prepared_data
from environments import registry
from events import CorruptLog, RunDir, RunState, TrialEvaluated, TrialExecuted, TrialProposed
from events.blobs import BlobCorrupt, BlobMissing
from events.store import COMMITTED, DamagedWitness, read_committed

NOT_EVALUATORS = ("preflight", "supervisor", "harness")  # verdicts made before or instead of an evaluation


@dataclass(frozen=True)
class Divergence:
    offset: int
    trial_id: str
    what: str


@dataclass
class Audit:
    digest: str
    verdicts_checked: int = 0
    trials_checked: int = 0
    divergences: list[Divergence] | None = None


def verify_run(run_dir: str | Path, log=lambda m: None) -> Audit:
    rd = RunDir(run_dir).require()
    blobs = rd.blobs()
    records, damage = _read_records(rd)
    whole = RunState().apply_all(records)
    audit = Audit(digest=whole.digest(), divergences=[])
    audit.divergences.extend(_log_problems(rd, records, damage, audit.digest))
    if whole.run.environment is None:
        return audit
    if whole.run.config.get("synthetic"):  # `autorecipe synth`: made-up trials, no recipe ever ran
        log("a synthetic run (autorecipe synth): its log is checked; it has no recipes or verdicts to re-derive")
        return audit
    try:
        spec = registry.for_run(whole.run.config)
    except (KeyError, ValueError) as exc:
        audit.divergences.append(Divergence(-1, "-", f"its environment cannot be loaded here, so no recipe or verdict "
                                                     f"was checked: {exc.args[0] if exc.args else exc}"))
        return audit
    _check_trials(audit, records, spec, whole.run, blobs, log)
    return audit


def _read_records(rd: RunDir) -> tuple[list, Divergence | None]:
    """The log's records up to its end or its first damage, and the damage."""
    records, damage = [], None
    try:
        for rec in rd.reader().iter_records():
            records.append(rec)
    except CorruptLog as exc:
        damage = Divergence(exc.offset, "-", f"the log is damaged: {exc}")
    return records, damage


def _log_problems(rd: RunDir, records: list, damage: Divergence | None, digest: str) -> list[Divergence]:
    """Steps 4 and 1: the log's damage, acknowledged events missing at its end, and a fold page
    by page that differs from the fold in one pass."""
    out = [damage] if damage is not None else []
    try:
        committed = read_committed(rd.log_path)
    except DamagedWitness as exc:
        committed = None
        out.append(Divergence(len(records), "-", str(exc)))
    if committed is not None and len(records) < committed:
        out.append(Divergence(len(records), "-", f"the log ends at offset {len(records)} but {COMMITTED} says "
                                                 f"{committed} events were acknowledged: "
                                                 f"{committed - len(records)} acknowledged event(s) are missing"))
    paged = RunState()
    for i in range(0, len(records), 1000):
        paged.apply_all(records[i:i + 1000] + records[max(0, i - 10):i])  # pages, with repeats, as delivered live
    if paged.digest() != digest:
        out.append(Divergence(-1, "-", "folding page by page gives another state than one pass"))
    return out


def _check_trials(audit: Audit, records: list, spec, run, blobs, log) -> None:
    """Steps 2 and 3: every proposed trial's recipe, every evaluator verdict re-derived."""
    out = audit.divergences
    tier = spec.tier(run.tier)
    surfaces = {s.name: s.surface for s in spec.specialists}
    strict = run.config.get("surface_mode", "strict") == "strict"
    executed: dict[tuple[str, int], TrialExecuted] = {}
    codes: dict[str, dict[str, bytes]] = {}
    try:
        verdicts = _Rederivation(evaluator_of(spec), spec, tier, blobs, log)
    except Exception as exc:  # noqa: BLE001 - said, and the recipes are still checked
        verdicts = None
        out.append(Divergence(-1, "-", f"the evaluator {spec.evaluator} cannot be loaded, so no verdict was "
                                       f"re-derived: {type(exc).__name__}: {exc}"))
    verdict_of_proposal: dict[str, str] = {}
    outside: dict[str, tuple[int, list[str]]] = {}  # strict mode: trials that left their surface
    for rec in records:
        ev = rec.event
        if isinstance(ev, TrialProposed):
            problem = _check_code(ev, codes, blobs, surfaces, strict)
            audit.trials_checked += 1
            if isinstance(problem, list):
                outside[ev.trial_id] = (rec.offset, problem)
            elif problem:
                out.append(Divergence(rec.offset, ev.trial_id, problem))
        elif isinstance(ev, TrialExecuted):
            executed[(ev.trial_id, ev.attempt)] = ev
        elif isinstance(ev, TrialEvaluated):
            if ev.evaluator in NOT_EVALUATORS:
                verdict_of_proposal[ev.trial_id] = ev.verdict
            elif verdicts is not None:
                problem = verdicts.problem(ev, executed.get((ev.trial_id, ev.attempt)))
                if problem:
                    out.append(Divergence(rec.offset, ev.trial_id, problem))
    audit.verdicts_checked = verdicts.checked if verdicts is not None else 0
    for tid, (offset, where) in outside.items():
        if verdict_of_proposal.get(tid) != "out_of_surface":
            out.append(Divergence(offset, tid, f"it left its surface ({'; '.join(where)}) but was not labelled "
                                               "out_of_surface"))


@dataclass
class _Rederivation:
    """Today's evaluator on the recorded outputs; the held-out data prepared at the first verdict that needs it."""

    evaluate: object
    spec: object
    tier: object
    blobs: object
    log: object
    data: Path | None = None
    checked: int = 0

    def problem(self, ev: TrialEvaluated, ex: TrialExecuted | None) -> str | None:
        """How the re-derived verdict differs from the recorded `ev`, or None when it is the same."""
        if ex is None:
            return f"a verdict for attempt {ev.attempt} that was never executed"
        if self.data is None:
            self.data = prepared_data(self.spec, log=self.log)
        try:
            judged = self.evaluate(ex, self.blobs, self.data, self.tier)
        except (BlobMissing, BlobCorrupt) as exc:
            return f"its outputs cannot be read back: {exc}"
        except Exception as exc:  # noqa: BLE001 - the evaluator failed where it once gave this verdict
            return f"the evaluator raised {type(exc).__name__}: {exc}"
        # as the log would hold it (an int limit comes back as the float its field declares)
        again = msgspec.msgpack.decode(msgspec.msgpack.encode(judged), type=TrialEvaluated)
        self.checked += 1
        if msgspec.msgpack.encode(again) != msgspec.msgpack.encode(ev):
            return _difference(ev, again)
        return None

def _check_code(ev: TrialProposed, codes, blobs, surfaces, strict) -> str | list[str] | None:
    """A problem, or (strict mode) the surface violations the trial's verdict must name."""
    if not ev.code:
        return None  # an edit that never applied: nothing was stored
    try:
        code = {p: blobs.get(ref) for p, ref in ev.code.items()}
    except (BlobMissing, BlobCorrupt) as exc:
        return f"its recipe cannot be read back: {exc}"
    codes[ev.trial_id] = code
    if ev.code_sha256 and code_sha256(code) != ev.code_sha256:
        return "its recipe blobs do not hash to the recorded code_sha256"
    parent = codes.get(ev.parent_id) if ev.parent_id else None
    if parent is None or ev.surface not in surfaces:
        return None
    if ev.parent_sha256 and code_sha256(parent) != ev.parent_sha256:
        return f"its parent {ev.parent_id}'s recipe is not the one it was made from"
    try:
        change = change_between(parent, code)
    except EditError as exc:
        return f"its change cannot be re-made: {exc}"
    if change is None:
        return None
    now = surface_violations(change, surfaces[ev.surface])
    if strict and now:
        return now
    if not strict and sorted(now) != sorted(ev.surface_violations):
        return f"surface violations recorded {ev.surface_violations}, found {now}"
    return None


def _difference(recorded: TrialEvaluated, again: TrialEvaluated) -> str:
    a, b = msgspec.to_builtins(recorded), msgspec.to_builtins(again)
    fields = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    shown = ", ".join(f"{k}: recorded {str(a.get(k))[:60]!r}, now {str(b.get(k))[:60]!r}" for k in fields[:3])
    return f"the verdict re-derived from its outputs differs ({shown})"
