"""What holds where the executor is not root, so trials run as its own user (a Slurm login, a
container without privileges): the staged recipe, harness and data are read-only by their modes,
so an ordinary write there fails as it does for a trial of another uid, and every work dir is
removed however its folders' modes were left.

Run as root, the test's process gives up its capabilities first (`setpriv`): uid 0 without
CAP_DAC_OVERRIDE obeys modes as any user does, and cannot make namespaces."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def without_privileges(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv (util-linux) cannot give up its capabilities for this test")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--", *argv]


def test_without_root_the_staged_tree_is_read_only_and_every_work_dir_is_removed(tmp_path):
    where = tmp_path / "t"
    where.mkdir()
    done = subprocess.run(without_privileges([sys.executable, "-c", SCRIPT, str(where)]), cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "held", done.stdout + done.stderr
