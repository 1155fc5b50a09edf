"""`autorecipe confirm`: is a trial really better than its parent? Both are re-run over fresh
seeds and a one-sided Welch t-test asks whether the trial beats the parent by at least
`min_delta`: Parameter Golf's bar for a record is 0.005 nats of val_loss at p < 0.01. The
outcome is appended to the run's log as a ClaimTested event, so the claim is audited with the
run."""

from __future__ import annotations

import math
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from actors.config import BASELINE_ID
from autorecipe.local_trial import local_trial
from environments import registry
from environments.data import prepared_data
from events import BlobStore, ClaimTested, NewEvent, RunDir, RunState, new_event_id
from events.ranking import gain_sign
from events.streams import claim_stream

# an environment's record bar: (metric, minimum improvement); others default to their score, 0
RECORD_BARS = {"parameter-golf": ("val_loss", 0.005)}


@dataclass(frozen=True)
class Welch:
    improvement: float  # > 0: the trial is better
    t_stat: float
    p_value: float


def welch(trial: list[float], parent: list[float], direction: str, min_delta: float) -> Welch:
    """One-sided Welch t-test of H1: the trial beats the parent by more than `min_delta`."""
    from scipy import stats

    sign = -gain_sign(direction)  # > 0 where lower is better
    better = [sign * (p - min_delta * sign) for p in parent]  # shifted: "better by min_delta" is the null's edge
    ours = [sign * t for t in trial]
    improvement = sign * (statistics.fmean(parent) - statistics.fmean(trial))
    if statistics.pvariance(trial) == 0 and statistics.pvariance(parent) == 0:  # a deterministic score
        beats = improvement > min_delta
        return Welch(improvement, math.inf if beats else -math.inf, 0.0 if beats else 1.0)
    result = stats.ttest_ind(better, ours, equal_var=False, alternative="greater")
    return Welch(improvement, float(result.statistic), float(result.pvalue))


def confirm(run_dir: Path, trial_id: str, seeds: int, first_seed: int = 1, metric: str | None = None,
            min_delta: float | None = None, alpha: float = 0.01, scratch: Path | None = None,
            log=print) -> ClaimTested:
    rd = RunDir(run_dir).require()
    state = RunState().apply_all(rd.reader().iter_records())
    row = state.trials.rows.get(trial_id)
    if row is None:
        raise KeyError(f"{run_dir} has no trial {trial_id}")
    spec = registry.for_run(state.run.config)
    bar_metric, bar_delta = RECORD_BARS.get(spec.name, (spec.metric, 0.0))
    metric = metric or bar_metric
    min_delta = bar_delta if min_delta is None else min_delta
    blobs = rd.blobs()
    code = _code(state, row.trial_id, blobs)
    parent_id = row.parent_id or (None if trial_id == BASELINE_ID else BASELINE_ID)
    if parent_id is None:
        raise ValueError("the baseline has no parent to compare with")
    parent = _code(state, parent_id, blobs)
    with rd.store() as store:  # first: a live or read-only run fails here, before any seed is spent
        event = _tested(state, spec, trial_id, parent_id, code, parent, seeds, first_seed, metric, min_delta, alpha,
                        scratch, log)
        store.append([NewEvent(event=event, stream=claim_stream(trial_id), event_id=new_event_id(),
                               producer="autorecipe/confirm")])
    return event


def _tested(state, spec, trial_id, parent_id, code, parent, seeds, first_seed, metric, min_delta, alpha, scratch,
            log) -> ClaimTested:
    data = prepared_data(spec, log=log)
    seed_list = list(range(first_seed, first_seed + seeds))
    runs: dict[str, list[float | None]] = {"trial": [], "parent": []}
    notes = []
    with tempfile.TemporaryDirectory(prefix="autorecipe-confirm-", dir=scratch) as tmp:
        for seed in seed_list:
            for arm, recipe, tid in (("parent", parent, parent_id), ("trial", code, trial_id)):
                _, ev = local_trial(spec, state.run.tier, recipe, BlobStore(Path(tmp) / "blobs"), Path(tmp) / "work",
                                    data, trial_id=f"{tid}-seed{seed}", seed=seed)
                value = (ev.score if metric == spec.metric else ev.metrics.get(metric)) if ev.verdict == "valid" else None
                runs[arm].append(value)
                if value is None:
                    notes.append(f"{arm} {tid} seed {seed}: {ev.verdict}")
                log(f"seed {seed} {arm:<6} {tid}: {ev.verdict}" + (f" {metric} {value:.6g}" if value is not None else ""))
    good = {arm: [v for v in values if v is not None] for arm, values in runs.items()}
    if min(len(v) for v in good.values()) < 2:
        test, passed = None, False
        notes.insert(0, "fewer than two valid runs in an arm: no test")
    else:
        test = welch(good["trial"], good["parent"], spec.direction, min_delta)
        passed = test.improvement > min_delta and test.p_value < alpha
    event = ClaimTested(trial_id=trial_id, parent_id=parent_id, metric=metric, direction=spec.direction,
                        seeds=seed_list, trial_scores=runs["trial"], parent_scores=runs["parent"],
                        improvement=test.improvement if test else None, t_stat=_finite(test.t_stat) if test else None,
                        p_value=test.p_value if test else None, min_delta=min_delta, alpha=alpha, passed=passed,
                        detail="; ".join(notes))
    return event


def _code(state: RunState, trial_id: str, blobs: BlobStore) -> dict[str, bytes]:
    row = state.trials.rows.get(trial_id)
    refs = row.code if row is not None else None
    if not refs:
        raise ValueError(f"{trial_id} has no recorded recipe")
    return {path: blobs.get(ref) for path, ref in refs.items()}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def describe(event: ClaimTested) -> str:
    def fmt(values):
        return ", ".join("—" if v is None else f"{v:.6g}" for v in values)

    lines = [f"claim      {event.trial_id} beats {event.parent_id} on {event.metric} by more than {event.min_delta:g} "
             f"({event.direction}), p < {event.alpha:g}",
             f"seeds      {', '.join(map(str, event.seeds))}",
             f"trial      {fmt(event.trial_scores)}",
             f"parent     {fmt(event.parent_scores)}"]
    if event.improvement is not None:
        lines.append(f"welch      improvement {event.improvement:.6g}, t {event.t_stat if event.t_stat is not None else '∞'}"
                     f", one-sided p {event.p_value:.3g}")
    lines.append(f"verdict    {'CONFIRMED' if event.passed else 'not confirmed'}" + (f" ({event.detail})" if event.detail else ""))
    return "\n".join(lines)
