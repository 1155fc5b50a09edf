"""Hostile recipes: each is an edit to an environment's recipe, as an agent would make
it, run for real through the trial runner (sandbox) and the evaluator. Each test checks that the
attack was contained (with evidence that could have failed), that the verdict has the right
label and useful evidence, and that the executor still runs a normal trial afterwards.

Most cases use dryrun (its recipe is run by the harness in the sandbox; a trial costs ~0.1 s) with
a 5 s wall budget (a Python that starts slowly on a busy machine still finishes an honest case
well inside it), so overrunning cases are killed within 10 s; one forged-score case runs
golf-mini's micro tier for real."""

from __future__ import annotations

import dataclasses
import math
import os
import resource
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from actors import trial_fs
from actors.sandbox import NOBODY, isolation_available, pid_namespace_available
from actors.trial_uid import uid_range
from environments.dryrun import SIZE_CAP
from environments.spec import Budget, Edit, Tier
from evaluators.golf import judged_halves
from evaluators.verdict import log_text
from tests.envs import Harness, evidence

pytestmark = [pytest.mark.hostile,
              pytest.mark.skipif(not isolation_available(), reason="containment needs root on Linux (namespaces)")]

R = "knobs.py"
SECRET = "hostile-secret-7f3a91c2"
BUDGET_S = 5.0
DISK_CAP = 48 * 1024**2


@pytest.fixture(scope="module")
def h(tmp_path_factory) -> Harness:
    """dryrun with a 5 s wall budget, 32 MiB files, 48 MiB on disk, and a secret in its held-out
    folder."""
    h = Harness("dryrun", tmp_path_factory.mktemp("hostile-data"), tmp_path_factory.mktemp("hostile"))
    tier = Tier("micro", {"train": Budget(BUDGET_S, measure="wall")}, env={"DRYRUN_DELAY_S": "0"},
                limits={"size_cap": SIZE_CAP})
    h.spec = dataclasses.replace(h.spec, tiers={"micro": tier},
                                 resources=dataclasses.replace(h.spec.resources, file_bytes=32 * 1024**2,
                                                               disk_bytes=DISK_CAP))
    secret = h.data / "heldout" / "secret.txt"
    secret.write_text(SECRET)
    os.chmod(secret, 0o600)
    return h


_ids = iter(range(1000))


def hostile(h: Harness, code: str, budget_s: float | None = None, **kw):
    """Run the baseline recipe with `code` run first when the harness loads it (within `budget_s`
    of wall time, when given, for a recipe that runs until the watchdog stops it)."""
    edit = Edit(R, "# region alpha\n", textwrap.dedent(code).strip() + "\n\n# region alpha\n")
    if budget_s is not None:
        return h.trial_within(h.edited([edit]), "train", budget_s, trial_id=f"hostile{next(_ids)}", **kw)
    return h.trial(h.edited([edit]), trial_id=f"hostile{next(_ids)}", **kw)


def survives(h: Harness) -> None:
    """The executor is intact: a normal trial right after is valid, with the baseline's score."""
    executed, verdict = h.trial(h.spec.baseline_code(), trial_id=f"benign{next(_ids)}")
    assert verdict.verdict == "valid" and verdict.score == h.baseline[1].score == 15.0, verdict.feedback


def everything(h: Harness, executed) -> str:
    """Every byte the trial left in the blob store: logs, audit reports, outputs."""
    return "\n".join(h.blobs.get(ref).decode(errors="replace") for ref in executed.outputs.values())


def leftovers(h: Harness) -> list[str]:
    """Processes of a sandbox user that belong to this module's trials (their environment names
    this module's data folder), wherever they are now."""
    mark = f"AUTORECIPE_PROTECTED={h.data}".encode()
    trial_uids = set(uid_range()) | {NOBODY}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid in trial_uids and mark in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r}")
        except OSError:
            pass
    return found


def stopped_for_its_disk(phase, verdict, context=None) -> None:
    """Stopped by the disk cap (counted past it, a crash that says so), not by its budget."""
    assert phase.disk_bytes is not None and phase.disk_bytes > DISK_CAP, context or phase
    assert verdict.verdict == "crash" and "over the trial's disk cap" in verdict.feedback, verdict.feedback
    assert not phase.timed_out, phase


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_reads_held_out_data(h):
    executed, verdict = hostile(h, """
        import os
        for root in os.environ["AUTORECIPE_PROTECTED"].split(os.pathsep) + ["data", "..", "/proc/1/root/tmp"]:
            for target in (root, os.path.join(root, "secret.txt")):
                try:
                    print("LISTED", target, os.listdir(target))
                except OSError as e:
                    print("refused to list", target, type(e).__name__)
                try:
                    print("READ", target, open(target).read())
                except OSError as e:
                    print("refused to read", target, type(e).__name__)
    """)
    log = log_text(executed, h.blobs, "train")
    assert "refused to read" in log and f"{h.data}/heldout/secret.txt" in log, log
    assert SECRET not in everything(h, executed), "the held-out secret reached the trial's outputs"
    assert verdict.verdict == "disqualified" and "read held-out or protected data" in verdict.feedback
    assert f"{h.data}/heldout" in evidence(verdict)
    survives(h)


def test_writes_outside_its_work_dir(h, tmp_path):
    targets = [f"/tmp/escaped-{SECRET}", f"/var/tmp/escaped-{SECRET}", f"/dev/shm/escaped-{SECRET}",
               str(tmp_path / "escaped"), str(h.scratch / "escaped"), str(h.data / "train" / "escaped"),
               str(Path(__file__).parent / f"escaped-{SECRET}")]
    executed, verdict = hostile(h, f"""
        import os
        for target in {targets!r} + [os.path.join(os.path.dirname(os.getcwd()), "escaped-sibling")]:
            try:
                open(target, "w").write("x")
                print("wrote", target)
            except OSError as e:
                print("refused", target, type(e).__name__)
    """)
    log = log_text(executed, h.blobs, "train")
    # /tmp, /var/tmp and /dev/shm are the trial's own tmpfs: the write lands there and vanishes
    assert log.count("refused") >= len(targets) - 3, log
    for target in targets + [str(h.scratch / "escaped-sibling")]:
        assert not os.path.exists(target), f"{target} was written from inside the sandbox"
    assert verdict.verdict == "disqualified" and "wrote outside out/ and tmp/" in verdict.feedback
    assert "escaped" in evidence(verdict)
    survives(h)


def test_edits_harness_files(h):
    source = h.spec.root / "harness" / "copy.py"
    pristine = source.read_bytes()
    executed, verdict = hostile(h, f"""
        import os
        for target in ("harness/copy.py", "harness/audit.py", {str(source)!r}):
            for what, act in (("write", lambda: open(target, "a").write("\\nprint('score: 0.0')\\n")),
                              ("chmod", lambda: os.chmod(target, 0o777)),
                              ("replace", lambda: os.replace("recipe/knobs.py", target)),
                              ("unlink", lambda: os.unlink(target))):
                try:
                    act()
                    print("EDITED", what, target)
                except OSError as e:
                    print("refused", what, target, type(e).__name__)
    """)
    log = log_text(executed, h.blobs, "train")
    assert "EDITED" not in log and log.count("refused") == 12, log
    assert source.read_bytes() == pristine
    assert verdict.verdict == "disqualified" and "changed harness, recipe or data files" in verdict.feedback
    assert "harness/copy.py" in evidence(verdict)
    # the next trial is staged with the pristine harness, and is valid
    _, after = h.trial(h.spec.baseline_code(), trial_id="after-edit", keep_work=True)
    assert (h.scratch / "after-edit-a1" / "harness" / "copy.py").read_bytes() == pristine
    assert after.verdict == "valid" and after.score == 15.0


def test_opens_a_network_connection(h):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0autorecipe-hostile-{os.getpid()}")
    abstract.listen()
    abstract.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        executed, verdict = hostile(h, f"""
            import socket
            attempts = [("host loopback", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=1)),
                        ("outside tcp", lambda: socket.create_connection(("1.1.1.1", 80), timeout=1)),
                        ("outside udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53))),
                        ("host unix", lambda: socket.socket(socket.AF_UNIX).connect("\\0autorecipe-hostile-{os.getpid()}"))]
            for what, act in attempts:
                try:
                    act()
                    print("CONNECTED", what)
                except OSError as e:
                    print("refused", what, type(e).__name__)
        """)
        for server in (listener, abstract):
            with pytest.raises(TimeoutError):
                server.accept()
    finally:
        listener.close()
        abstract.close()
    log = log_text(executed, h.blobs, "train")
    assert "CONNECTED" not in log and log.count("refused") == 4, log
    assert verdict.verdict == "disqualified" and "used the network" in verdict.feedback
    assert "socket.connect" in evidence(verdict)
    survives(h)


FORK_BOMB = """
    import os, time
    top, born = os.getpid(), 0
    while True:
        try:
            child = os.fork()
        except OSError as e:
            if os.getpid() == top:
                print(f"fork refused after {born} children: {type(e).__name__}", flush=True)
                break
            time.sleep(3600)  # every other process of the bomb stays
        if child == 0:
            born = 0  # a child forks on too
        else:
            born += 1
"""


def test_forks_without_bound(h):
    executed, verdict = hostile(h, FORK_BOMB)
    log = log_text(executed, h.blobs, "train")
    assert "fork refused after" in log and "BlockingIOError" in log, log
    assert executed.phases[0].wall_s < BUDGET_S * 2, "the bomb outlived the harness"
    assert leftovers(h) == [], "processes of the fork bomb survived the trial"
    assert verdict.verdict == "disqualified" and "started another process" in verdict.feedback
    assert "os.fork" in evidence(verdict)
    survives(h)


def test_a_fork_bomb_leaves_a_trial_beside_it_its_processes(h):
    """RLIMIT_NPROC counts a uid's tasks machine-wide. When every trial ran as nobody, a bomb at
    its limit left a trial running beside it no process to exec and no thread to start; each
    trial now runs as a uid of its own."""
    bombed = []
    stays = FORK_BOMB.replace("                break\n", "                time.sleep(3600)  # and holds the limit\n")
    assert stays != FORK_BOMB
    bomb = threading.Thread(target=lambda: bombed.append(hostile(h, stays)))
    bomb.start()
    deadline = time.monotonic() + 5
    while len(leftovers(h)) < h.spec.resources.processes // 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    at_limit = len(leftovers(h))
    assert bomb.is_alive()
    executed, verdict = hostile(h, """
        import threading
        workers = [threading.Thread(target=sum, args=([1, 2],)) for _ in range(16)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print("started 16 threads", flush=True)
    """)
    beside = bomb.is_alive()
    bomb.join()
    assert at_limit >= h.spec.resources.processes // 2, "the bomb never got going"
    assert beside, "the bomb ended before the other trial did: nothing was shared"
    assert bombed and "fork refused after" in log_text(bombed[0][0], h.blobs, "train")
    assert "started 16 threads" in log_text(executed, h.blobs, "train"), verdict.feedback
    assert verdict.verdict == "valid" and verdict.score == 15.0, verdict.feedback
    survives(h)


def test_allocates_without_bound(h):
    """A 256 MiB limit for this one: a gigabyte of page faults takes longer than the wall
    budget on a busy machine."""
    spec = h.spec
    h.spec = dataclasses.replace(spec, resources=dataclasses.replace(spec.resources, memory_bytes=256 * 1024**2))
    try:
        before = peak_rss()
        executed, verdict = hostile(h, """
            blocks = []
            while True:
                blocks.append(b"\\1" * (32 * 1024**2))  # written, so resident
        """)
        limit = h.spec.resources.memory_bytes
    finally:
        h.spec = spec
    phase = executed.phases[0]
    assert phase.peak_rss_bytes <= limit + 64 * 1024**2, phase
    assert peak_rss() - before < 100 * 1024**2, "the executor's own memory grew"
    assert verdict.verdict == "crash" and "memoryerror" in evidence(verdict), verdict.feedback
    survives(h)


def test_prints_forged_score_lines(h):
    executed, verdict = hostile(h, """
        for line in ("loss: 0.0000", "score = 0.0", "val_bpb: 0.0100", "final score: -1e9"):
            print(line, flush=True)
    """)
    assert verdict.verdict == "valid" and verdict.score == h.baseline[1].score == 15.0, verdict.feedback
    forged = next(c for c in verdict.checks if c.name == "self_reported_scores_ignored")
    assert forged.measured == 3 and "the evaluator measures instead" in forged.evidence
    survives(h)


def test_sleeps_through_its_budget(h):
    t = time.monotonic()
    executed, verdict = hostile(h, """
        import time
        time.sleep(3600)
    """)
    phase = executed.phases[0]
    assert phase.timed_out and phase.signal is not None and BUDGET_S < phase.wall_s < BUDGET_S * 2.5, phase
    assert time.monotonic() - t < BUDGET_S * 3
    assert verdict.verdict == "train_budget_overrun", verdict.feedback
    assert "killed by the watchdog" in evidence(verdict) and f"{BUDGET_S:g} s wall budget" in evidence(verdict)
    survives(h)


def test_writes_a_10_gb_log(h):
    before = peak_rss()
    executed, verdict = hostile(h, """
        import sys
        print("HEAD OF THE LOG", flush=True)
        chunk = b"x" * 1024**2
        for _ in range(10 * 1024):  # 10 GiB, unless stopped first
            sys.stdout.buffer.write(chunk)
    """, budget_s=1.5)  # stopped long before the 10 GiB, however fast the pipe
    log = h.blobs.get(executed.outputs["logs/train"])
    assert log.startswith(b"HEAD OF THE LOG") and b"bytes of output dropped" in log
    assert len(log) < 1024**2 + 256 * 1024 + 200, "the stored log is not capped"
    dropped = int(log.split(b"[... ")[1].split(b" bytes")[0].replace(b",", b""))
    assert dropped > 100 * 1024**2, "it wrote less than expected: the test would prove nothing"
    assert peak_rss() - before < 100 * 1024**2, "the executor's memory grew with the log"
    assert verdict.verdict == "train_budget_overrun", verdict.feedback
    survives(h)


def test_writes_a_10_gb_log_file(h):
    executed, verdict = hostile(h, """
        chunk = b"x" * 1024**2
        with open("out/train.log", "wb") as f:
            for _ in range(10 * 1024):
                f.write(chunk)
    """, keep_work=True)
    work = h.scratch / f"{executed.trial_id}-a1"
    assert (work / "out" / "train.log").stat().st_size <= h.spec.resources.file_bytes
    assert verdict.verdict == "crash" and "file too large" in evidence(verdict), verdict.feedback
    survives(h)


@pytest.mark.parametrize("pace_s", [0.0, 0.02], ids=["burst", "steady"])
def test_fills_the_disk_with_many_files(h, pace_s):
    """Each file under the per-file limit, all of them far over the trial's disk cap: a burst is
    found when the phase ends, a steady writer a few times a second while it runs."""
    executed, verdict = hostile(h, f"""
        import time
        chunk = b"x" * 8 * 1024**2
        for i in range(40):  # 320 MiB in 8 MiB files
            with open(f"out/fill-{{i}}", "wb") as f:
                f.write(chunk)
            time.sleep({pace_s})
    """, keep_work=True)
    phase = executed.phases[0]
    held = sum(f.stat().st_size for f in (h.scratch / f"{executed.trial_id}-a1" / "out").iterdir())
    stopped_for_its_disk(phase, verdict)
    if pace_s:  # stopped while it ran: well before it wrote everything
        assert phase.signal is not None and held < DISK_CAP + 64 * 1024**2, (phase, held)
        assert "[autorecipe] stopped" in log_text(executed, h.blobs, "train")
    survives(h)


@pytest.mark.skipif(not pid_namespace_available(), reason="needs PID namespaces")
def test_a_setsid_daemon_does_not_outlive_its_trial(h):
    """A grandchild that leaves the process group (setsid, double fork) and keeps working after
    the harness exits: killed with the trial's PID namespace."""
    executed, verdict = hostile(h, """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)  # a daemon lets go of the output pipes
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, 1024)
                for i in range(100):
                    time.sleep(0.1)
                    open(f"out/daemon-{i}", "w").close()
            os._exit(0)
        time.sleep(0.3)  # the daemon is running
    """, keep_work=True)
    out = h.scratch / f"{executed.trial_id}-a1" / "out"
    written = sorted(os.listdir(out))
    time.sleep(0.5)
    assert sorted(os.listdir(out)) == written, "the daemon kept writing after its trial"
    assert leftovers(h) == []
    assert verdict.verdict == "disqualified" and "os.fork" in evidence(verdict)
    survives(h)


def test_golf_mini_ignores_forged_score_lines(harness):
    """golf-mini's score comes from the eval driver's nats over held-out bytes; a recipe that
    prints what look like final scores (the harness's own 'bits/byte' line included) changes
    nothing: the score is the one measured from the artifact. Training is deterministic, so when
    this session has the baseline's score too, the two are equal to the last bit."""
    g = harness("golf-mini")
    lines = ["harness: 16,383 bytes scored, 0.0100 bits/byte (informational)", "val_bpb: 0.0100",
             "final_int8_zlib_roundtrip val_loss:0.0100 val_bpb:0.0100", "score = 0.01"]
    forge = "".join(f"print({line!r}, flush=True)\n" for line in lines)
    executed, verdict = g.trial(g.edited([Edit("train_gpt_mini.py", "VOCAB = 257\n", f"VOCAB = 257\n{forge}")]),
                                trial_id="forged")
    result, _ = judged_halves(executed, g.blobs)  # the two eval processes' halves, added
    measured = result["nats"] / math.log(2) / result["scored_tokens"]
    assert "val_bpb: 0.0100" in log_text(executed, g.blobs, "eval:0")
    assert verdict.verdict == "valid" and verdict.score == measured and verdict.score > 1.0, verdict.feedback
    forged = next(c for c in verdict.checks if c.name == "self_reported_scores_ignored")
    assert forged.measured >= 3 * 4, forged  # three match, printed at import in smoke, train and each eval process
    if "baseline" in vars(g):  # computed already in this session: compare (same training, same bits)
        assert verdict.score == g.baseline[1].score


def test_leftovers_helper_sees_a_live_trial_process(h):
    """The leftovers check is not vacuous: it finds a trial's process while the trial runs."""
    seen: list[list[str]] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set() and not seen:
            found = leftovers(h)
            if found:
                seen.append(found)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        hostile(h, "import time\ntime.sleep(1.0)")
    finally:
        stop.set()
        watcher.join()
    assert seen, "a running trial's process was not found by leftovers()"


def test_without_a_filesystem_of_its_own_the_walk_keeps_the_cap(h, monkeypatch):
    """Where none can be made (a container without loop devices), out/ and tmp/ are the work
    dir's own folders, made afresh for each phase, and the walk keeps the cap: files it can
    name, and deleted files its processes hold open."""
    monkeypatch.setattr(trial_fs, "_broken", "simulated: no loop devices")
    monkeypatch.setattr(trial_fs, "_warned", True)
    executed, verdict = hostile(h, """
        import os, time
        held = []
        for i in range(12):
            f = open(f"tmp/fill-{i}", "wb")
            f.write(b"x" * 8 * 1024**2)
            f.flush()
            if i % 2:
                os.unlink(f.name)
            held.append(f)
            time.sleep(0.02)
        time.sleep(30)
    """)
    phase = executed.phases[0]
    stopped_for_its_disk(phase, verdict)
    assert phase.disk_bound == "walk", "the record says which bound held"
    assert not any(str(h.scratch) in line for line in open("/proc/self/mountinfo")), "nothing was to be mounted"
    survives(h)


@pytest.mark.skipif(not trial_fs.available(), reason="without a filesystem of its own (root, loop devices, "
                    "mkfs.ext4) the cap is a walk's, which cannot see a file held in a socket: RELIABILITY.md")
def test_fills_the_disk_with_files_held_only_in_a_socket(h):
    """Files in tmp/ grown with posix_fallocate, each sent to the process itself over a unix
    socket (SCM_RIGHTS) and unlinked: on no name and in no /proc/PID/fd, so no walk or look at
    its descriptors finds them, yet they take the disk (3 GB held against a 1 GiB cap, and a
    scratch filesystem filled, before out/ and tmp/ had a filesystem of their own). Now what it
    can hold is bounded by that filesystem, and it is stopped for its disk."""
    executed, verdict = hostile(h, """
        import os, socket, time
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for i in range(400):
            name = f"tmp/hide-{i}"
            fd = os.open(name, os.O_CREAT | os.O_RDWR, 0o600)
            try:
                os.posix_fallocate(fd, 0, 8 * 1024**2)
            except OSError as e:
                print("REFUSED", i, e, flush=True)
                break
            finally:
                socket.send_fds(a, [b"x"], [fd])
                os.close(fd)
                os.unlink(name)
            print("HELD", i + 1, flush=True)
        time.sleep(30)
    """)
    phase = executed.phases[0]
    log = log_text(executed, h.blobs, "train")
    held = [int(line.split()[1]) for line in log.splitlines() if line.startswith("HELD ")]
    assert held, log[-2000:]
    assert held[-1] * 8 * 1024**2 <= trial_fs.image_bytes(DISK_CAP), log[-2000:]
    stopped_for_its_disk(phase, verdict, (phase, log[-2000:]))
    assert phase.disk_bound == "filesystem", phase
    survives(h)


@pytest.mark.parametrize("own_filesystem", [True, False], ids=["own-filesystem", "walk-only"])
def test_leaves_state_on_the_tmp_folder_itself_for_the_next_repeat(h, monkeypatch, own_filesystem):
    """Extended attributes and times set on tmp/ itself, not on anything in it: with tmp/ a mount
    point emptied in place, the second repeat read them (a channel between the two cold eval
    processes). Each repeat gets a new folder, with a filesystem of its own or without."""
    if not own_filesystem:
        monkeypatch.setattr(trial_fs, "_broken", "simulated: no loop devices")
        monkeypatch.setattr(trial_fs, "_warned", True)
    tier = dataclasses.replace(h.spec.tiers["micro"], repeats={"train": 2})
    spec = h.spec
    h.spec = dataclasses.replace(h.spec, tiers={"micro": tier})
    try:
        executed, verdict = hostile(h, """
            import os
            print("MTIME", os.stat("tmp").st_mtime_ns, flush=True)
            try:
                print("SEEN BY A LATER REPEAT:", os.getxattr("tmp", "user.carry"), flush=True)
            except OSError as e:
                print("FIRST REPEAT, leaving state on the folder", e, flush=True)
                os.setxattr("tmp", "user.carry", b"window 17 was served")
                os.utime("tmp", ns=(1, 1234567890123456789))
        """)
    finally:
        h.spec = spec
    first, second = (log_text(executed, h.blobs, f"train:{r}") for r in (0, 1))
    for log in (first, second):
        assert "FIRST REPEAT" in log and "MTIME 1234567890123456789" not in log, log[-2000:]
    assert verdict.verdict == "valid", verdict.feedback


def test_fills_the_disk_with_files_it_deleted_but_holds_open(h):
    """A file deleted while held open still takes the disk, but no walk of out/ and tmp/ finds a
    name for it: 40 such files of 8 MiB, over a 48 MiB cap, then it waits. Stopped for its disk
    as a trial whose files can be seen is, not left to write until its budget runs out."""
    executed, verdict = hostile(h, """
        import os, time
        chunk = b"x" * 8 * 1024**2
        held = []
        for i in range(40):
            f = open(f"out/fill-{i}", "wb")
            os.unlink(f.name)
            f.write(chunk)
            f.flush()
            held.append(f)
            time.sleep(0.01)
        time.sleep(30)
    """)
    phase = executed.phases[0]
    stopped_for_its_disk(phase, verdict)
    survives(h)


def test_fills_the_blob_store_with_sparse_outputs(h):
    """Sparse files hold almost no blocks, but an output is read and stored whole: 12 declared
    outputs of 8 MiB each (a byte at the end of each, so none is the same blob), 96 MiB against a
    48 MiB cap, written in a burst just before it exits. Over its disk cap, and none of it stored."""
    wildcard = dataclasses.replace(h.spec, outputs=(*h.spec.outputs, "fill-*"))
    spec, h.spec = h.spec, wildcard
    try:
        executed, verdict = hostile(h, """
            for i in range(12):
                with open(f"out/fill-{i}", "wb") as f:
                    f.truncate(8 * 1024**2 - 1)
                    f.write(bytes([i]))
        """)
    finally:
        h.spec = spec
    phase = executed.phases[0]
    stored = sum(ref.size for name, ref in executed.outputs.items() if name.startswith("out/fill-"))
    assert phase.disk_bytes is not None and phase.disk_bytes > DISK_CAP, (phase, stored)
    assert verdict.verdict == "crash" and "over the trial's disk cap" in verdict.feedback, verdict.feedback
    assert stored == 0, f"{stored:,} bytes of a trial over its disk cap went into the blob store"
    survives(h)


@pytest.mark.parametrize("where", ["out", "tmp"])
def test_a_folder_tree_deeper_than_pythons_recursion_limit_is_removed(h, where):
    """3,000 nested folders: Python 3.11's rmtree recurses and raised RecursionError,
    ignore_errors or not, so the trial runner failed (the attempt lost, a free retry) and the work
    dir stayed behind. Now the verdict is the recipe's (past the disk walk's depth, so over its
    cap), and the work dir is gone."""
    executed, verdict = hostile(h, f"""
        import os
        fd = os.open("{where}", os.O_RDONLY)
        for _ in range(3000):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.close(fd)
    """)
    assert verdict.verdict == "crash" and "over the trial's disk cap" in verdict.feedback, verdict.feedback
    assert not list(h.scratch.glob(f"{executed.trial_id}-a1*")), "the work dir outlived its trial"
    survives(h)


def test_fills_the_disk_below_a_path_too_long_to_name(h):
    """Folders with 255-character names, 20 deep, make a path past PATH_MAX: a walk by path
    names cannot open them, and 56 MiB of files there went uncounted against the 48 MiB cap."""
    executed, verdict = hostile(h, """
        import os
        fd = os.open("out", os.O_RDONLY)
        for _ in range(20):
            os.mkdir("d" * 255, dir_fd=fd)
            inner = os.open("d" * 255, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        for i in range(2):  # two files: each under the 32 MiB file-size limit
            with open(os.open(f"fill{i}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                f.write(b"x" * 28 * 1024**2)
        os.close(fd)
    """)
    phase = executed.phases[0]
    assert phase.disk_bytes is not None and phase.disk_bytes > DISK_CAP, phase
    # the audit hook takes an open relative to a folder's descriptor as one outside out/ and tmp/
    # (it drops dir_fd): disqualified comes before the crash, either is the recipe's own label
    assert verdict.verdict in ("crash", "disqualified"), verdict.feedback
    survives(h)


def test_lines_written_on_the_audit_hooks_descriptor_are_the_recipes_doing_not_a_harness_abort(h):
    """The recipe holds the audit hook's descriptor too: `[0]` on it made the evaluator raise, and the
    trial a harness_abort (the infrastructure's label, hidden from the agents); with held-out data
    also read, it would have hidden the disqualification."""
    executed, verdict = hostile(h, """
        import os
        fd = int(os.environ["AUTORECIPE_REPORT_FD"])
        for line in (b"[0]", b'{"kind": 5}', b"null", b'"x"', b'{"detail": "no kind"}'):
            os.write(fd, line + b"\\n")
        try:
            open(os.path.join(os.environ["AUTORECIPE_PROTECTED"].split(os.pathsep)[0], "secret.txt")).read()
        except OSError:
            pass
    """)
    assert verdict.verdict == "disqualified" and "read held-out or protected data" in verdict.feedback, verdict.feedback
