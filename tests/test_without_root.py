"""What holds where the executor is not root, so trials run as its own user (a Slurm login, a
container without privileges): the staged recipe, harness and data are read-only by their modes,
so an ordinary write there fails as it does for a trial of another uid, and every work dir is
removed however its folders' modes were left. A trial still runs to its verdict, and its record
says how it was contained, so the run's console can say so.

Run as root, the test's process gives up its capabilities first (`setpriv`): uid 0 without
CAP_DAC_OVERRIDE obeys modes as any user does, and cannot make namespaces."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autorecipe.progress import Progress, weaker_containment
from events import Phase, Record, TrialExecuted

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import dataclasses, os, sys
from pathlib import Path

from actors.sandbox import isolation_available
from actors.scratch import remove_tree
from actors.trial_runner import TrialPaths, stage
from environments import registry

where = Path(sys.argv[1])
assert not isolation_available(), "this must run without the power to make namespaces"
spec = dataclasses.replace(registry.get("dryrun"), train_data=("shard.bin",))
(where / "data" / "train").mkdir(parents=True)
(where / "data" / "train" / "shard.bin").write_bytes(b"tokens")
work = stage(spec, spec.baseline_code(), TrialPaths(data=where / "data", scratch=where / "scratch"), "t-a1")

def refused(write, what):
    try:
        write()
    except PermissionError:
        return
    raise AssertionError(f"{what} was written")

refused(lambda: open(work / "harness" / "copy.py", "a").write("# pwned"), "the harness")
refused(lambda: (work / "recipe" / "knobs.py").write_text("pwned = 1"), "the recipe")
refused(lambda: (work / "recipe" / "new.py").write_text("pwned = 1"), "a new file beside the recipe")
refused(lambda: (work / "data" / "shard.bin").write_bytes(b"poisoned"), "the training data")
assert (work / "data" / "shard.bin").read_bytes() == b"tokens"
(work / "out" / "model.bin").write_bytes(b"weights")  # out/ and tmp/ are the trial's
for mode in (0o555, 0o000):  # folders a trial leaves that their owner may not write, or not even list
    locked = work / "tmp" / f"locked-{mode:o}"
    (locked / "inner").mkdir(parents=True)
    (locked / "inner" / "f").write_bytes(b"x")
    (locked / "f").write_bytes(b"x")
    os.chmod(locked / "inner", mode)
    os.chmod(locked, mode)
remove_tree(work)
assert not work.exists(), sorted(str(p) for p in work.rglob("*"))
print("held")
"""


TRIAL = r"""
import sys
from pathlib import Path

from autorecipe.local_trial import local_trial, prepared_data
from environments.registry import get
from events import BlobStore

where = Path(sys.argv[1])
spec = get("examples.polyfit:SPEC")
data = prepared_data(spec, root=where / "data", log=lambda m: None)
executed, verdict = local_trial(spec, "micro", spec.baseline_code(), BlobStore(where / "blobs"), where / "work", data)
print(verdict.verdict, sorted({(p.isolation, p.disk_bound) for p in executed.phases}))
"""


def without_privileges(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv (util-linux) cannot give up its capabilities for this test")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--", *argv]


def unprivileged(script: str, where: Path) -> str:
    where.mkdir()
    done = subprocess.run(without_privileges([sys.executable, "-c", script, str(where)]), cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_without_root_the_staged_tree_is_read_only_and_every_work_dir_is_removed(tmp_path):
    assert unprivileged(SCRIPT, tmp_path / "t") == "held"


def test_without_root_a_trial_reaches_its_verdict_and_says_how_it_was_contained(tmp_path):
    assert unprivileged(TRIAL, tmp_path / "t") == "valid [('rlimits', 'walk')]"


def phase(**kw) -> Phase:
    return Phase(name="train", exit_code=0, wall_s=1.0, cpu_s=1.0, **kw)


def test_the_console_says_once_what_containment_a_trial_ran_without():
    said: list[str] = []
    progress = Progress(10, echo=said.append)
    contained = phase(isolation="namespaces+uid 61200", cpu_clock="cgroup v1", disk_bound="filesystem")
    assert weaker_containment([contained]) == [] and weaker_containment([phase()]) == []  # older logs: unrecorded
    for i, executor in enumerate(["executor/0", "executor/0", "executor/1"]):
        progress.record(Record(offset=i, stream=f"trial/t{i}", stream_version=1, event_id=f"e{i}", producer=executor,
                               event=TrialExecuted(trial_id=f"t{i}", attempt=1, executor=executor, phases=[
                                   contained, phase(isolation="rlimits", cpu_clock="wait4", disk_bound="walk")])), None)
    assert len(said) == 1, said
    assert "executor/0 ran t0" in said[0] and all(w in said[0] for w in ("not root", "wait4", "socket")), said
