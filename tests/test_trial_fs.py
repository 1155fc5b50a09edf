"""A trial attempt's out/ and tmp/ on a filesystem of their own (actors/trial_fs.py): its size
bounds what they hold, however it is held, and it leaves nothing mounted behind."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from shutil import disk_usage

import pytest

from actors import trial_fs
from actors.scratch import clear_work_dirs

pytestmark = pytest.mark.skipif(not trial_fs.available(), reason="needs root, loop devices and mkfs.ext4")

CAP = 32 * 1024**2
MiB = 1024**2


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "t1-a1"
    for sub in ("out", "tmp"):
        (work / sub).mkdir(parents=True)
    yield work
    trial_fs.release(work)


def mounts_under(path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def test_out_and_tmp_share_one_filesystem_the_size_of_the_cap(work):
    with trial_fs.own_filesystem(work, CAP, os.getuid()) as fs:
        assert fs is not None
        assert os.path.ismount(work / "out") and os.path.ismount(work / "tmp")
        assert os.stat(work / "out").st_dev == os.stat(work / "tmp").st_dev == os.stat(fs.mount).st_dev
        (work / "out" / "a").write_bytes(b"x" * 4 * MiB)
        assert 4 * MiB <= disk_usage(fs.mount).used - fs.base < 5 * MiB
        with pytest.raises(OSError) as full:
            with open(work / "tmp" / "b", "wb") as f:
                for _ in range(trial_fs.image_bytes(CAP) // MiB + 1):
                    f.write(b"y" * MiB)
                    f.flush()
                    os.fsync(f.fileno())
        assert full.value.errno == 28  # ENOSPC: the bound is the filesystem's, not a walk's
    assert not mounts_under(work.parent), mounts_under(work.parent)
    assert sorted(p.name for p in work.parent.iterdir()) == ["t1-a1"]  # no image, no mount point left
    assert list((work / "out").iterdir()) == []  # the work dir's own out/ was never written


def test_a_file_held_only_in_a_socket_is_counted(work):
    """Unlinked, its one descriptor in a socket's queue: on no name and in no /proc/PID/fd, yet
    it takes the filesystem's blocks, and statvfs counts them."""
    with trial_fs.own_filesystem(work, CAP, os.getuid()) as fs:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        fd = os.open(work / "tmp" / "hidden", os.O_CREAT | os.O_RDWR, 0o600)
        os.posix_fallocate(fd, 0, 24 * MiB)
        socket.send_fds(a, [b"x"], [fd])
        os.close(fd)
        os.unlink(work / "tmp" / "hidden")
        assert list((work / "tmp").iterdir()) == []
        assert disk_usage(fs.mount).used - fs.base >= 24 * MiB
        a.close()
        b.close()


def test_keep_copies_what_they_held_into_the_work_dir(work):
    with trial_fs.own_filesystem(work, CAP, os.getuid(), keep=True):
        (work / "out" / "model.pt").write_bytes(b"weights")
        (work / "tmp" / "sub").mkdir()
        (work / "tmp" / "sub" / "log").write_text("hi")
    assert not mounts_under(work.parent)
    assert (work / "out" / "model.pt").read_bytes() == b"weights"
    assert (work / "tmp" / "sub" / "log").read_text() == "hi"


def test_what_a_killed_attempt_left_mounted_is_cleared_when_the_executor_starts(work):
    """An executor killed mid-trial leaves the mounts and the image; the next incarnation's
    clearing of its scratch folder takes them all away."""
    cm = trial_fs.own_filesystem(work, CAP, os.getuid())
    cm.__enter__()  # never exited: the process that entered it is gone
    (work / "out" / "f").write_bytes(b"x")
    assert mounts_under(work.parent)
    clear_work_dirs(work.parent)
    assert not mounts_under(work.parent), mounts_under(work.parent)
    assert list(work.parent.iterdir()) == []


def test_no_cap_or_a_failure_to_make_one_leaves_the_walk_alone(work, monkeypatch):
    with trial_fs.own_filesystem(work, None, os.getuid()) as fs:
        assert fs is None and not os.path.ismount(work / "out")

    def refuse(argv):
        raise OSError(f"{argv[0]} exited 1: no loop device")

    monkeypatch.setattr(trial_fs, "_tool", refuse)
    monkeypatch.setattr(trial_fs, "_broken", None)
    monkeypatch.setattr(trial_fs, "_warned", False)
    monkeypatch.setattr(trial_fs, "_made_one", False)  # the first try in a process: the machine cannot
    said = []
    for _ in range(2):
        with trial_fs.own_filesystem(work, CAP, os.getuid(), warn=said.append) as fs:
            assert fs is None and not os.path.ismount(work / "out")
    assert len(said) == 1 and "no loop device" in said[0] and "disk cap" in said[0], said  # once, not a trial
    assert not trial_fs.available()  # not tried again in this process
    assert sorted(p.name for p in work.parent.iterdir()) == ["t1-a1"]


def test_a_machine_without_mkfs_says_so_once(work, monkeypatch):
    import shutil

    real = shutil.which
    monkeypatch.setattr(trial_fs.shutil, "which", lambda tool: None if tool == "mkfs.ext4" else real(tool))
    monkeypatch.setattr(trial_fs, "_warned", False)
    said = []
    for _ in range(2):
        with trial_fs.own_filesystem(work, CAP, os.getuid(), warn=said.append) as fs:
            assert fs is None
    assert len(said) == 1 and "no mkfs.ext4 on PATH" in said[0], said


def test_once_one_was_made_a_failure_is_the_attempts_not_a_weaker_cap(work, monkeypatch):
    """A bind or a mount that fails once, after others worked here, must not leave every later
    trial with the walk alone (files held in a socket then passed the cap): the attempt fails,
    to be run again, and the next one gets its filesystem."""
    with trial_fs.own_filesystem(work, CAP, os.getuid()):
        pass
    real = trial_fs._bind
    calls = iter([True])

    def bind_fails_once(source, target):
        if next(calls, False):
            raise OSError(16, "bind: busy")
        real(source, target)

    monkeypatch.setattr(trial_fs, "_bind", bind_fails_once)
    said = []
    with pytest.raises(OSError, match="could not give t1-a1 a filesystem of its own"):
        with trial_fs.own_filesystem(work, CAP, os.getuid(), warn=said.append):
            pass
    assert not mounts_under(work.parent) and said == [] and trial_fs.available()
    with trial_fs.own_filesystem(work, CAP, os.getuid()) as fs:
        assert fs is not None and os.path.ismount(work / "tmp")


def test_a_fresh_folder_keeps_nothing_set_on_the_one_before(work):
    """Emptied in place, tmp/ kept its extended attributes and times for the next phase."""
    with trial_fs.own_filesystem(work, CAP, os.getuid()):
        os.setxattr(work / "tmp", "user.carry", b"window 17")
        os.utime(work / "tmp", ns=(1, 1234567890123456789))
        (work / "tmp" / "f").write_bytes(b"x")
        trial_fs.fresh(work, "tmp", os.getuid())
        assert list((work / "tmp").iterdir()) == []
        assert "user.carry" not in os.listxattr(work / "tmp")
        assert os.stat(work / "tmp").st_mtime_ns != 1234567890123456789
        assert os.path.ismount(work / "tmp") and len(mounts_under(work)) == 3  # .fs, out, tmp: the old binding went


def test_keep_leaves_out_what_is_no_file_and_still_unmounts(work):
    with trial_fs.own_filesystem(work, CAP, os.getuid(), keep=True, warn=print):
        os.mkfifo(work / "tmp" / "fifo")
        socket.socket(socket.AF_UNIX).bind(str(work / "tmp" / "sock"))
        (work / "out" / "model.pt").write_bytes(b"weights")
    assert not mounts_under(work.parent)
    assert (work / "out" / "model.pt").read_bytes() == b"weights"
    assert sorted(p.name for p in (work / "tmp").iterdir()) == []
    assert sorted(p.name for p in work.parent.iterdir()) == ["t1-a1"]


def test_removing_a_runs_scratch_folder_detaches_what_is_mounted_in_it(work):
    """A run that ends while trials run kills its executors and removes its scratch folder; the
    attempts' mounts and loop devices stayed until a reboot."""
    from actors.scratch import clear

    cm = trial_fs.own_filesystem(work, CAP, os.getuid())
    cm.__enter__()
    (work / "out" / "f").write_bytes(b"x")
    clear(work.parent)
    assert not mounts_under(work.parent), mounts_under(work.parent)
    assert not work.parent.exists()


def test_a_socket_cycle_does_not_keep_the_filesystem_after_the_attempt(work):
    """A file sent, with both ends of a socket pair, into that pair: nothing frees it but the
    kernel's collector of socket cycles, which runs when some unix socket is closed; until then
    the unmounted filesystem and its loop device lived on."""
    with trial_fs.own_filesystem(work, CAP, os.getuid()):
        image = str(trial_fs._image(work))
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        fd = os.open(work / "tmp" / "held", os.O_CREAT | os.O_RDWR, 0o600)
        os.posix_fallocate(fd, 0, 8 * MiB)
        socket.send_fds(a, [b"x"], [fd, a.fileno(), b.fileno()])
        socket.send_fds(b, [b"x"], [a.fileno(), b.fileno()])
        os.close(fd)
        os.unlink(work / "tmp" / "held")
        os.close(a.detach())
        os.close(b.detach())
    deadline = time.monotonic() + 20  # the collector runs on a kernel work queue
    while image in (loops := subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout):
        assert time.monotonic() < deadline, loops
        time.sleep(0.05)


def test_a_scratch_disk_smaller_than_the_cap_is_said_once(work, monkeypatch):
    import shutil

    monkeypatch.setattr(trial_fs, "_warned_room", False)
    said = []
    huge = 1024**4  # 1 TiB: more than this disk has free; the image is sparse, so it is still made
    assert shutil.disk_usage(work.parent).free < trial_fs.image_bytes(huge)
    for _ in range(2):
        with trial_fs.own_filesystem(work, huge, os.getuid(), warn=said.append) as fs:
            assert fs is not None
    assert len(said) == 1 and "AUTORECIPE_SCRATCH" in said[0] and "GiB free" in said[0], said
