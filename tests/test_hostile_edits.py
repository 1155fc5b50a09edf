"""A hostile proposer names paths outside the recipe in its edits: `../x`, an absolute path, a
harness or data file, a path through a symlink of an upstream checkout. Edits apply only to the
recipe's own files (agents/changes.py), and staging writes nothing outside recipe/ whatever the
code's keys say (actors/trial_runner.stage). And the names the trial gives its outputs must
still fit the event that records them. None of these needs the sandbox."""

from __future__ import annotations

import dataclasses
import os

import pytest

from actors.trial_runner import TrialPaths, stage
from agents.changes import EditError, make_change
from environments import registry
from environments.spec import Edit

BAD = ["../x.py", "/etc/passwd", "harness/golf_eval.py", "recipe/../data/train_000.bin", "./train_gpt_mini.py",
       "train_gpt_mini.py/", "..", ""]


@pytest.mark.parametrize("path", BAD)
def test_an_edit_or_whole_file_naming_a_path_outside_the_recipe_is_refused(path):
    spec = registry.get("golf-mini")
    code = spec.baseline_code()
    for edit in (Edit(path, "", "import os\n"), Edit(path, "x", "y")):
        with pytest.raises(EditError, match="no such recipe file"):
            make_change(code, [edit])


@pytest.mark.parametrize("key", ["../escaped.py", "/tmp/escaped-abs.py", "sub/../../escaped.py", "link/escaped.py"])
def test_staging_writes_nothing_outside_recipe_whatever_the_keys(tmp_path, key):
    tree = tmp_path / "tree"
    tree.mkdir()
    os.symlink(tmp_path / "outside", tree / "link")  # an upstream checkout's symlink, pointing out
    (tmp_path / "outside").mkdir()
    spec = dataclasses.replace(registry.get("dryrun"), recipe_tree=tree)
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="leaves the recipe folder"):
        stage(spec, {key: b"pwned = 1\n"}, TrialPaths(data=data, scratch=tmp_path / "scratch"), "t-a1")
    assert not list((tmp_path / "outside").iterdir())
    assert not (tmp_path / "scratch" / "escaped.py").exists() and not (tmp_path / "escaped.py").exists()


def test_an_output_named_in_bytes_that_are_not_utf8_leaves_an_event_that_can_be_written(tmp_path):
    """A wildcard output pattern (airbench96's run_seed*.jsonl) matches any name the recipe picks;
    one that is not UTF-8 made the TrialExecuted event unencodable, an executor failure (the
    attempt lost and run again) instead of the recipe's missing output."""
    import msgspec

    from actors.trial_runner import harvest
    from environments.spec import Phase
    from events import BlobStore, TrialExecuted

    spec = dataclasses.replace(registry.get("dryrun"), outputs=("run_seed*.jsonl",))
    work, carried = tmp_path / "work", tmp_path / "carried"
    (work / "out").mkdir(parents=True)
    carried.mkdir()
    with open(os.path.join(os.fsencode(work / "out"), b"run_seed\xff.jsonl"), "wb") as f:
        f.write(b"{}\n")
    (work / "out" / "run_seed0.jsonl").write_bytes(b"{}\n")
    got = harvest(spec, Phase("run", ("{python}",)), work, carried, BlobStore(tmp_path / "blobs", fsync=False))
    assert list(got) == ["out/run_seed0.jsonl"]
    msgspec.msgpack.encode(TrialExecuted(trial_id="t", attempt=1, executor="x", phases=[], outputs=got))


def test_an_output_a_phase_declares_is_not_replaced_by_a_later_phase():
    """golf-mini's pack phase (harness code only) makes code.xz; its eval phase runs recipe code in
    an out/ it can write. A code.xz the eval phase left there was recorded over the packed one."""
    from actors.trial_runner import record_outputs
    from environments.spec import Phase

    outputs, final = {}, set()
    record_outputs(outputs, {"out/model.bin": "smoke's"}, Phase("smoke", ()), final)  # not declared: replaceable
    record_outputs(outputs, {"out/model.bin": "train's"}, Phase("train", (), outputs=("model.bin",)), final)
    record_outputs(outputs, {"out/code.xz": "packed"}, Phase("pack", (), outputs=("code.xz",)), final)
    record_outputs(outputs, {"out/code.xz": "forged", "out/model.bin": "forged", "out/extra": "new"},
                   Phase("eval", ()), final)
    assert outputs == {"out/model.bin": "train's", "out/code.xz": "packed", "out/extra": "new"}
