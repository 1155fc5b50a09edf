"""Environment variants by option: the roster controls (one generalist, ten identical
generalists) and dryrun's trial length, recorded with the run and rebuilt from it."""

from __future__ import annotations

import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from environments import registry
from events import RunDir, RunState


def test_one_generalist_owns_the_whole_recipe_and_every_technique():
    base = registry.get("golf-mini")
    spec = registry.get("golf-mini", {"roster": "generalist"})
    assert [s.name for s in spec.specialists] == ["generalist"]
    assert spec.specialists[0].surface.files == base.recipe_files and not spec.specialists[0].surface.regions
    assert {t.name for t in spec.techniques} == {t.name for t in base.techniques}
    assert {t.specialist for t in spec.techniques} == {"generalist"}
    assert all(s.brief in spec.specialists[0].brief for s in base.specialists)


def test_ten_identical_generalists_differ_only_in_name():
    spec = registry.get("airbench-mini", {"roster": "generalists"})
    names = [s.name for s in spec.specialists]
    assert names == [f"gen{c}" for c in "abcdefghij"]
    assert len({(s.surface, s.brief) for s in spec.specialists}) == 1
    assert len(spec.techniques) == 10 * len(registry.get("airbench-mini").techniques)


def test_unknown_options_and_rosters_are_named():
    with pytest.raises(ValueError, match="unknown option colour; it takes roster"):
        registry.get("golf-mini", {"colour": "red"})
    with pytest.raises(ValueError, match="roster='crowd': one of specialists, generalist, generalists"):
        registry.get("chat-mini", {"roster": "crowd"})


def test_dryrun_trials_take_the_delay_asked_for():
    spec = registry.get("dryrun", {"delay_s": "15"})
    assert {t.env["DRYRUN_DELAY_S"] for t in spec.tiers.values()} == {"15"}
    assert spec.tier("micro").budgets["train"].seconds == 25


def test_a_generalist_run_records_its_roster_and_replays_to_it(tmp_path):
    config = RunConfig(env="dryrun", env_options={"roster": "generalist"}, runner="zero", fsync=False, trials=4)
    spec = registry.get("dryrun", config.env_options)
    run_local(tmp_path / "run", spec, config, {"generalist": LibraryProposer()})
    state = RunState().apply_all(RunDir(tmp_path / "run").reader().iter_records())
    assert registry.for_run(state.run.config).specialists == spec.specialists
    agents = {r.agent for r in state.trials.rows.values() if r.trial_id != "t0000"}
    assert agents == {"generalist"} and len(state.trials.rows) == 5
