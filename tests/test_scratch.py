"""Where trials' work dirs go: per run id (never per run directory's basename), under $TMPDIR
unless AUTORECIPE_SCRATCH says otherwise, and cleared of what a killed attempt left."""

import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from actors.scratch import run_scratch, scratch_dir, scratch_root
from agents.library import LibraryProposer
from environments import registry


def test_scratch_is_per_run_id_under_tmpdir_or_the_override(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTORECIPE_SCRATCH", raising=False)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again, as a fresh process does
    assert scratch_root() == tmp_path / "tmp" / "autorecipe-work"
    assert scratch_dir("20261201-a", "executor/3") == tmp_path / "tmp" / "autorecipe-work" / "20261201-a" / "executor-3"
    assert scratch_dir("run-a", "executor/0") != scratch_dir("run-b", "executor/0")
    monkeypatch.setenv("AUTORECIPE_SCRATCH", str(tmp_path / "mine"))
    assert run_scratch("r1") == tmp_path / "mine" / "r1"
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            run_scratch(bad)


def test_an_executor_clears_what_a_killed_attempt_of_it_left(tmp_path):
    spec = registry.get("dryrun")
    stale = tmp_path / "scratch" / "executor-0" / "t0003-a1"
    stale.mkdir(parents=True)
    (stale / "big.bin").write_bytes(b"x" * 1000)
    mine = tmp_path / "scratch" / "executor-0" / "notes"  # not a work dir: left alone
    mine.mkdir()
    run_local(tmp_path / "run", spec, RunConfig(env="dryrun", runner="zero", fsync=False, trials=1),
              {"alpha": LibraryProposer()}, scratch=tmp_path / "scratch")
    assert not stale.exists() and mine.is_dir()


def test_clearing_removes_a_work_dir_nested_deeper_than_pythons_recursion_limit(tmp_path):
    """An executor that starts clears what a killed attempt left: a trial's 3,000 nested folders
    made rmtree raise RecursionError, and the executor failed at every start."""
    import os

    from actors.scratch import clear_work_dirs

    fd = os.open(tmp_path, os.O_RDONLY)
    for name in ["t1-a1", "out", *["d"] * 3000]:
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    clear_work_dirs(tmp_path)
    assert not (tmp_path / "t1-a1").exists()
