"""Forgeries that carry work or data across what should separate them: from the unscored smoke run
into the timed seeds (through the record of outputs, SysV shared memory or the uid's keyring), and from the training
data into the scored eval phase; and a file in out/ that hangs the executor. Before the fixes each
was `valid` with a score it did not earn (figures in each docstring), or never finished."""

from __future__ import annotations

import ctypes
import os
import re
import threading
from pathlib import Path

import pytest

from actors.sandbox import isolation_available
from evaluators.verdict import log_text
from tests import forgeries as F

pytestmark = [pytest.mark.hostile,
              pytest.mark.skipif(not isolation_available(), reason="containment needs root on Linux (namespaces)")]

SLOWER = 0.6  # as tests/test_forgery.py: an honest seed takes more than this share of the baseline's CPU
HANG_S = 30  # generous for a busy machine; a hang is forever


def run(harness, env: str, edits, trial_id: str):
    h = harness(env)
    return h.trial(h.edited(edits), trial_id=trial_id)


def cpu(ev) -> float:
    return ev.metrics["cpu_s"]


@pytest.fixture(scope="module")
def honest(harness):
    return harness("airbench-mini").baseline[1]


def test_airbench_a_seed_is_scored_only_on_predictions_it_wrote(harness, honest):
    """Before: the smoke run trained all three seeds and wrote pred_0..2.npy, each seed exited at
    once, and the smoke run's files were recorded as the seeds': `valid` at 0.097 s per seed
    (baseline 0.35 s), same accuracy. Now a seed's outputs are recorded from that seed only."""
    executed, ev = run(harness, "airbench-mini", F.AIRBENCH_SMOKE_DOES_THE_SEEDS, "smoke-does-seeds")
    assert "out/pred_1.npy" not in executed.outputs, "a file the smoke run wrote was recorded as seed 1's"
    assert ev.verdict != "valid" or cpu(ev) > SLOWER * cpu(honest), ev.feedback
    assert ev.verdict == "crash" and "wrote no predictions" in ev.feedback, ev.feedback


def _shm_ids(key: int) -> list[int]:
    rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return [int(r.split()[1]) for r in rows if int(r.split()[0]) == key]


def test_airbench_sysv_shared_memory_does_not_cross_phases(harness, honest):
    """Before: the smoke run put every seed's predictions in a SysV segment, each seed read them:
    `valid` at 0.113 s per seed; the segment stayed on the machine after the trial. Now each phase
    has an IPC namespace of its own, gone (with its segments) when the phase is."""
    libc = ctypes.CDLL(None)
    for shmid in _shm_ids(F.SHM_KEY):  # a leftover from an earlier run of the attack
        libc.shmctl(shmid, 0, None)  # IPC_RMID
    try:
        executed, ev = run(harness, "airbench-mini", F.AIRBENCH_SYSV_SHM, "sysv-shm")
        left = _shm_ids(F.SHM_KEY)
    finally:
        for shmid in _shm_ids(F.SHM_KEY):
            libc.shmctl(shmid, 0, None)
    assert left == [], "the trial's shared memory segment outlived it"
    assert ev.verdict == "valid", ev.feedback
    assert cpu(ev) > SLOWER * cpu(honest), (ev.feedback, honest.feedback)
    assert ev.metrics["accuracy"] == honest.metrics["accuracy"]


def test_a_fifo_in_out_does_not_hang_the_executor(harness, honest):
    """Before: the executor's harvest of out/ opened the FIFO and waited for a writer for ever.
    Now a FIFO is skipped like any file that is not a regular one."""
    box = {}
    t = threading.Thread(target=lambda: box.update(done=run(harness, "airbench-mini", F.AIRBENCH_FIFO, "fifo")),
                         daemon=True)
    t.start()
    t.join(HANG_S)
    assert not t.is_alive(), f"the trial did not finish within {HANG_S} s: the executor hangs on a FIFO"
    executed, ev = box["done"]
    assert ev.verdict == "valid" and ev.metrics["accuracy"] == honest.metrics["accuracy"], ev.feedback


def test_golf_the_eval_phase_never_sees_the_training_data(harness):
    """Before: golf-mini's model server, in the eval phase, read data/train_000.bin and served a
    4-gram model built from it over four steps of training: `valid` at ~2.9 bits per byte, better
    than the trained baseline's ~3.6, with none of the table in the artifact. Now a judged phase
    has no data/ in view, so it is scored for its four steps (~7.6)."""
    executed, ev = run(harness, "golf-mini", F.GOLF_EVAL_TIME_NGRAM, "eval-ngram")
    assert ev.verdict == "valid" and ev.score > 5.0, ev.feedback


def _clear_keyrings(uid: int) -> None:
    """What a failed run of the keyring attack left: the uid's user keyring, cleared as that uid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setuid(uid)
            libc = ctypes.CDLL(None)
            libc.syscall(250, 7, ctypes.c_long(-4))  # keyctl(KEYCTL_CLEAR, the user keyring)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def test_airbench_the_uids_keyring_does_not_cross_phases(harness, honest):
    """Before: the smoke run added a key to its uid's keyring holding every seed's predictions and
    each seed read it: `valid` at 0.115 s per seed, and the key stayed for the next trial with that
    uid. Now the trial's processes cannot call add_key, request_key or keyctl (seccomp: ENOSYS)."""
    executed, ev = run(harness, "airbench-mini", F.AIRBENCH_KEYRING, "keyring")
    said = re.search(r"KEYRING uid=(\d+) add_key=(-?\d+)", log_text(executed, harness("airbench-mini").blobs, "smoke"))
    assert said, "the smoke run did not try"
    if int(said[2]) > 0:
        _clear_keyrings(int(said[1]))
    assert int(said[2]) == -1, "the trial added a key to its uid's keyring"
    assert ev.verdict == "valid", ev.feedback
    assert cpu(ev) > SLOWER * cpu(honest), (ev.feedback, honest.feedback)
    assert ev.metrics["accuracy"] == honest.metrics["accuracy"]
