"""What the search benchmark measures in each run, and how arms are compared: pure functions of
runs' folded state (RunState), no Ray, no clock."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from actors.config import BASELINE_ID
from events.ranking import better
from events.ranking import improvement as gain

ARMS = {
    "lineage": "specialists with lineage (the system as designed)",
    "no_lineage": "specialists without lineage (each sees only the current best)",
    "generalist": "one generalist owning the whole recipe",
    "generalists": "ten identical generalists",
    "random": "random choice from the technique library",
}
CONTROLS = tuple(a for a in ARMS if a != "lineage")
REACH = 0.5  # "trials to reach": half the best improvement any run in the environment found


@dataclass
class RunFigures:
    arm: str
    seed: int
    baseline: float | None
    curve: list[float | None]  # best score after each proposed trial, 1..budget (flat after the run ended)
    trials: int  # proposals actually made
    keeps: int
    statuses: Counter = field(default_factory=Counter)
    cpu_s: float = 0.0
    own_surface: tuple[int, int] = (0, 0)  # (diffs, diffs only in the owner's surface)
    wall_s: float = 0.0

    def improvement(self, direction: str) -> float:
        """Relative improvement of the final best over this run's baseline (> 0 is better)."""
        if self.baseline is None or not self.curve or self.curve[-1] is None:
            return 0.0
        return gain(self.curve[-1], self.baseline, direction) / abs(self.baseline)


def figures(state, arm: str, seed: int, budget: int, direction: str, audit: dict[str, tuple[int, int]]) -> RunFigures:
    rows = state.trials.rows
    base = rows.get(BASELINE_ID)
    baseline = base.score if base is not None and base.status in ("keep", "baseline", "discard") else None
    proposed = sorted((r for r in rows.values() if r.trial_id != BASELINE_ID), key=lambda r: r.proposed_offset)
    best, curve = baseline, []
    for r in proposed[:budget]:
        if r.score is not None and r.verdict == "valid" and (best is None or better(r.score, best, direction)):
            best = r.score
        curve.append(best)
    curve += [best] * (budget - len(curve))
    statuses = Counter(r.status or "unjudged" for r in proposed)
    diffs = sum(n for n, _ in audit.values())
    own = sum(i for _, i in audit.values())
    return RunFigures(arm=arm, seed=seed, baseline=baseline, curve=curve, trials=len(proposed),
                      keeps=statuses.get("keep", 0), statuses=statuses,
                      cpu_s=sum(r.cpu_s for r in rows.values()), own_surface=(diffs, own))


def trials_to_reach(run: RunFigures, target: float, direction: str) -> int | None:
    """The first trial after which the run's relative improvement reached `target`."""
    if run.baseline is None:
        return None
    for i, best in enumerate(run.curve, start=1):
        if best is not None and gain(best, run.baseline, direction) / abs(run.baseline) >= target - 1e-12:
            return i
    return None


def compare(lineage: list[float], control: list[float]) -> tuple[float, float]:
    """(mean difference, one-sided Mann-Whitney U p-value) for "lineage improves more than the
    control" over seeds: no normality assumed, ties allowed, exact for small samples."""
    from scipy.stats import mannwhitneyu

    diff = statistics.fmean(lineage) - statistics.fmean(control)
    if len(set(lineage) | set(control)) == 1:
        return diff, 1.0  # every run ended at the same score: no evidence either way
    return diff, float(mannwhitneyu(lineage, control, alternative="greater").pvalue)


@dataclass
class ArmSummary:
    arm: str
    seeds: int
    improvement_mean: float
    improvement_sd: float
    keeps_mean: float
    status_rates: dict[str, float]
    reach_median: float | None  # trials to reach the environment's REACH target; None: most runs never did
    reached: int
    cpu_s_per_keep: float | None
    own_surface_share: float | None


def summarize(runs: list[RunFigures], direction: str, target: float) -> ArmSummary:
    imps = [r.improvement(direction) for r in runs]
    total = sum(r.trials for r in runs) or 1
    statuses = Counter()
    for r in runs:
        statuses.update(r.statuses)
    reach = [trials_to_reach(r, target, direction) for r in runs]
    got = sorted(x for x in reach if x is not None)
    keeps = sum(r.keeps for r in runs)
    diffs = sum(r.own_surface[0] for r in runs)
    return ArmSummary(
        arm=runs[0].arm, seeds=len(runs), improvement_mean=statistics.fmean(imps),
        improvement_sd=statistics.stdev(imps) if len(imps) > 1 else 0.0,
        keeps_mean=statistics.fmean(r.keeps for r in runs),
        status_rates={k: v / total for k, v in sorted(statuses.items())},
        reach_median=statistics.median(got) if len(got) * 2 > len(runs) else None, reached=len(got),
        cpu_s_per_keep=sum(r.cpu_s for r in runs) / keeps if keeps else None,
        own_surface_share=sum(r.own_surface[1] for r in runs) / diffs if diffs else None,
    )


def mean_curve(runs: list[RunFigures], direction: str) -> tuple[list[float], list[float]]:
    """Mean and sd over seeds of the relative improvement after each trial."""
    per_trial = list(zip(*[[gain(b, r.baseline, direction) / abs(r.baseline) if (b is not None and r.baseline) else 0.0
                            for b in r.curve] for r in runs]))
    means = [statistics.fmean(xs) for xs in per_trial]
    sds = [statistics.stdev(xs) if len(xs) > 1 else 0.0 for xs in per_trial]
    return means, sds
