"""The README's "add your own environment" example works as written."""

from agents.changes import apply_edits
from autorecipe.local_trial import local_trial, prepared_data
from environments.registry import get
from environments.spec import Edit
from events import BlobStore


def test_the_example_environment_runs_and_rewards_a_better_recipe(tmp_path):
    spec = get("examples.polyfit:SPEC")
    data = prepared_data(spec, root=tmp_path / "data", log=lambda m: None)
    blobs = BlobStore(tmp_path / "blobs")
    _, base = local_trial(spec, "micro", spec.baseline_code(), blobs, tmp_path / "work", data)
    better = apply_edits(spec.baseline_code(), [Edit("fit.py", "DEGREE = 1", "DEGREE = 5")])
    _, ev = local_trial(spec, "micro", better, blobs, tmp_path / "work", data, trial_id="t1")
    assert base.verdict == ev.verdict == "valid"
    assert ev.score < base.score / 5
    broken = apply_edits(spec.baseline_code(), [Edit("fit.py", "DEGREE = 1", "DEGREE = = 1")])
    _, bad = local_trial(spec, "micro", broken, blobs, tmp_path / "work", data, trial_id="t2")
    assert bad.verdict == "preflight_crash" and "SyntaxError" in bad.feedback


def test_unknown_or_malformed_environment_names_say_what_is_wrong():
    import pytest

    with pytest.raises(KeyError, match="package.module:SPEC"):
        get("nope")
    with pytest.raises(KeyError, match="cannot load"):
        get("examples.nothing:SPEC")
    with pytest.raises(KeyError, match="not an EnvironmentSpec"):
        get("examples.polyfit:ROOT")


def test_two_preparations_racing_leave_one_complete_folder(tmp_path):
    import threading

    from environments.data import prepare_once, prepared

    started = threading.Barrier(2)

    def build(out):
        started.wait(timeout=10)  # both are building at once
        (out / "train").mkdir()
        (out / "train" / "x").write_text("x")
        return {"n": 1}

    results = []
    threads = [threading.Thread(target=lambda: results.append(prepare_once(tmp_path / "env", build, lambda m: None)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [{"n": 1}, {"n": 1}] and prepared(tmp_path / "env") == {"n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env"]
