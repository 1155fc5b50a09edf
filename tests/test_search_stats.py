"""The search benchmark's measurements: per-run figures from a real (in-process) run's state, and
the pure comparisons over seeds."""

from __future__ import annotations

import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from benchmarks.search_stats import RunFigures, compare, figures, mean_curve, summarize, trials_to_reach
from environments import registry
from events import RunDir, RunState


def _run(arm, seed, baseline, curve, keeps=1, statuses=None, cpu_s=10.0):
    from collections import Counter

    return RunFigures(arm=arm, seed=seed, baseline=baseline, curve=curve, trials=len(curve), keeps=keeps,
                      statuses=Counter(statuses or {"keep": keeps, "discard": len(curve) - keeps}), cpu_s=cpu_s)


def test_figures_follow_the_best_so_far_and_pad_to_the_budget(tmp_path):
    spec = registry.get("dryrun")
    run_local(tmp_path / "run", spec, RunConfig(env="dryrun", runner="zero", fsync=False, trials=5),
              {s.name: LibraryProposer() for s in spec.specialists})
    state = RunState().apply_all(RunDir(tmp_path / "run").reader().iter_records())
    fig = figures(state, "lineage", 0, 8, "minimize", {"alpha": (3, 3), "beta": (2, 1)})
    assert fig.trials == 5 and len(fig.curve) == 8 and fig.curve[5:] == [fig.curve[4]] * 3
    assert all(b <= a for a, b in zip(fig.curve, fig.curve[1:]))  # never gets worse
    assert fig.baseline == state.trials.rows["t0000"].score and fig.curve[-1] <= fig.baseline
    assert fig.keeps == sum(1 for r in state.trials.rows.values() if r.status == "keep" and r.trial_id != "t0000")
    assert fig.own_surface == (5, 4)


def test_trials_to_reach_and_relative_improvement():
    run = _run("lineage", 0, 2.0, [2.0, 1.9, 1.9, 1.5])
    assert run.improvement("minimize") == pytest.approx(0.25)
    assert trials_to_reach(run, 0.05, "minimize") == 2 and trials_to_reach(run, 0.25, "minimize") == 4
    assert trials_to_reach(run, 0.3, "minimize") is None
    up = _run("lineage", 0, 0.10, [0.10, 0.12])
    assert up.improvement("maximize") == pytest.approx(0.2) and trials_to_reach(up, 0.1, "maximize") == 2


def test_compare_says_which_arm_improves_more_and_how_surely():
    diff, p = compare([0.30, 0.31, 0.29, 0.32, 0.30], [0.10, 0.12, 0.11, 0.09, 0.10])
    assert diff == pytest.approx(0.2) and p < 0.01
    assert compare([0.1, 0.12, 0.11], [0.3, 0.31, 0.29])[1] > 0.9
    assert compare([0.2, 0.2], [0.2, 0.2]) == (0.0, 1.0)


def test_summary_pools_statuses_and_cpu_per_keep_over_seeds():
    runs = [_run("no_lineage", 0, 2.0, [2.0, 1.8], keeps=1, statuses={"keep": 1, "crash": 1}, cpu_s=30),
            _run("no_lineage", 1, 2.0, [2.0, 2.0], keeps=0, statuses={"discard": 2}, cpu_s=10)]
    s = summarize(runs, "minimize", target=0.05)
    assert s.seeds == 2 and s.improvement_mean == pytest.approx(0.05)
    assert s.status_rates == {"crash": 0.25, "discard": 0.5, "keep": 0.25}
    assert s.cpu_s_per_keep == 40 and s.reached == 1 and s.reach_median is None  # half the runs never got there
    means, sds = mean_curve(runs, "minimize")
    assert means == pytest.approx([0.0, 0.05]) and sds[1] > 0
