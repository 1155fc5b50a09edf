"""`autorecipe confirm`: the Welch test itself, and a claim re-run over seeds and recorded in the
run's log (dryrun, whose seeded re-runs carry seeded noise of up to +-0.005)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from autorecipe.claims import welch
from environments import registry
from events import ClaimTested, RunDir, RunState


def test_a_clear_improvement_has_a_small_p_and_a_shifted_bar_a_larger_one():
    parent = [2.070, 2.068, 2.071, 2.069]
    trial = [2.060, 2.061, 2.059, 2.062]
    clear = welch(trial, parent, "minimize", 0.0)
    assert clear.improvement == pytest.approx(0.009) and clear.p_value < 1e-4
    near_bar = welch(trial, parent, "minimize", 0.008)
    assert clear.p_value < near_bar.p_value < 0.5
    assert welch(trial, parent, "minimize", 0.010).p_value > 0.5  # the claim is below the bar
    worse = welch(parent, trial, "minimize", 0.0)
    assert worse.improvement < 0 and worse.p_value > 0.99


def test_maximize_mirrors_minimize_and_a_noiseless_score_decides_by_the_bar():
    lo, hi = [0.160, 0.161, 0.162], [0.170, 0.171, 0.169]
    up = welch(hi, lo, "maximize", 0.005)
    down = welch([-x for x in hi], [-x for x in lo], "minimize", 0.005)
    assert up.p_value == pytest.approx(down.p_value) and up.improvement == pytest.approx(0.009)
    assert welch([1.0, 1.0], [2.0, 2.0], "minimize", 0.5).p_value == 0.0
    assert welch([1.0, 1.0], [1.2, 1.2], "minimize", 0.5).p_value == 1.0


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("confirm") / "run"
    spec = registry.get("dryrun")
    run_local(path, spec, RunConfig(env="dryrun", runner="zero", fsync=False, trials=6),
              {s.name: LibraryProposer() for s in spec.specialists})
    return path


def test_confirm_reruns_both_arms_and_records_the_claim(dry_run):
    state = RunState().apply_all(RunDir(dry_run).reader().iter_records())
    best = state.trials.best_id
    assert best and best != "t0000"
    done = subprocess.run([sys.executable, "-m", "autorecipe.cli", "confirm", str(dry_run), best, "--seeds", "4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CONFIRMED" in done.stdout
    claims = [r.event for r in RunDir(dry_run).reader().iter_records() if isinstance(r.event, ClaimTested)]
    assert len(claims) == 1
    claim = claims[0]
    assert claim.trial_id == best and claim.seeds == [1, 2, 3, 4] and claim.passed
    assert len(set(claim.trial_scores)) > 1  # the seeds did differ
    recorded = state.trials.rows[best].score
    assert all(abs(s - recorded) <= 0.005 + 1e-9 for s in claim.trial_scores)
    shown = subprocess.run([sys.executable, "-m", "autorecipe.cli", "show", str(dry_run), best],
                           capture_output=True, text=True, timeout=60)
    assert f"claim      {best} beats" in shown.stdout and "CONFIRMED" in shown.stdout


def test_a_claim_below_the_bar_is_recorded_as_not_confirmed(dry_run):
    state = RunState().apply_all(RunDir(dry_run).reader().iter_records())
    done = subprocess.run([sys.executable, "-m", "autorecipe.cli", "confirm", str(dry_run), state.trials.best_id,
                           "--seeds", "3", "--min-delta", "1000"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not confirmed" in done.stdout
    last = [r.event for r in RunDir(dry_run).reader().iter_records() if isinstance(r.event, ClaimTested)][-1]
    assert not last.passed and last.min_delta == 1000


def test_confirm_names_an_unknown_trial(dry_run):
    done = subprocess.run([sys.executable, "-m", "autorecipe.cli", "confirm", str(dry_run), "t9999"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no trial t9999" in done.stderr
