"""Each running trial holds a uid of its own (actors/trial_uid.py): two holders never share one,
a uid comes back when its holder ends, even by SIGKILL, and a uid with an account is never used."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actors.trial_uid import NoFreeUid, trial_uid, uid_range

FREE = range(852_516_352, 852_516_355)  # far above any account here


def test_two_holders_get_two_uids_and_a_released_one_comes_back(tmp_path):
    with trial_uid(FREE, tmp_path) as a, trial_uid(FREE, tmp_path) as b:
        assert a != b and {a, b} <= set(FREE)
    with trial_uid(FREE, tmp_path) as again:
        assert again == a


def test_a_full_range_is_a_clear_error(tmp_path):
    with trial_uid(FREE[:1], tmp_path):
        with pytest.raises(NoFreeUid, match="AUTORECIPE_TRIAL_UIDS"):
            with trial_uid(FREE[:1], tmp_path):
                pass


def test_a_uid_held_by_another_process_is_skipped_and_freed_when_it_is_killed(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from actors.trial_uid import trial_uid\n"
         f"with trial_uid(range({FREE.start}, {FREE.start + 1}), __import__('pathlib').Path({str(tmp_path)!r})):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == "held"
        with trial_uid(FREE, tmp_path) as uid:
            assert uid == FREE.start + 1
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 5
    while True:  # the kernel drops the flock with the process
        try:
            with trial_uid(FREE[:1], tmp_path) as uid:
                assert uid == FREE.start
                break
        except NoFreeUid:
            assert time.monotonic() < deadline, "a SIGKILLed holder kept its uid"
            time.sleep(0.05)


def test_a_uid_with_an_account_is_never_taken(tmp_path):
    known = pwd.getpwnam("root").pw_uid
    with pytest.raises(NoFreeUid):
        with trial_uid(range(known, known + 1), tmp_path):
            pass


def test_the_range_comes_from_the_environment_or_is_refused_by_name():
    assert uid_range("70000-70009") == range(70000, 70010)
    assert uid_range("") == range(61184, 65520)
    for bad in ("70000", "a-b", "9-1", "0-10"):
        with pytest.raises(ValueError, match="AUTORECIPE_TRIAL_UIDS"):
            uid_range(bad)


def test_the_locks_fall_back_to_the_temp_folder_where_run_is_not_writable(tmp_path, monkeypatch):
    from actors import trial_uid as module

    monkeypatch.setattr(module, "LOCKS", Path("/proc/autorecipe-trial-uids"))  # mkdir fails there
    monkeypatch.setattr(module, "FALLBACK_LOCKS", tmp_path / "fallback")
    with trial_uid(FREE) as uid:
        assert (tmp_path / "fallback" / str(uid)).exists()
