"""Kill the writer at random points, many times; every acknowledged event must survive once."""

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from events import EventStore, Record, TrialProposed
from events.envelope import encode_record
from events.segments import FRAME_OVERHEAD, HEADER_SIZE, encode_frame, list_segments
from events.store import read_committed
from tests.conftest import read_all

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 60


def run_and_kill(log_dir: Path, tag: str, seed: int, lifetime: float) -> list[tuple[str, int, int, int]]:
    proc = subprocess.Popen([sys.executable, str(WRITER), str(log_dir), tag, str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    buf = b""
    deadline = None
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], 0.01)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if deadline is None and b"open" in buf:
                deadline = time.monotonic() + lifetime  # start the clock once recovery is done
        if deadline is not None and time.monotonic() >= deadline:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rest = proc.stdout.read()
    buf += rest
    acks = []
    for line in buf.split(b"\n")[:-1] if not buf.endswith(b"\n") else buf.split(b"\n"):
        parts = line.split()
        if parts and parts[0] == b"ack":
            acks.append((parts[1].decode(), int(parts[2]), int(parts[3]), int(parts[4])))
    return acks


def drop_unsynced_tail(log_dir: Path, acked: int, rng: random.Random) -> None:
    """Simulate a power cut: bytes past the last acknowledged frame may or may not have reached
    the disk, so cut the newest segment somewhere in that region."""
    path = list_segments(log_dir)[-1][1]
    base = list_segments(log_dir)[-1][0]
    buf = path.read_bytes()
    pos, offset = HEADER_SIZE, base
    while offset < acked and pos < len(buf):
        pos += FRAME_OVERHEAD + int.from_bytes(buf[pos:pos + 4], "little")
        offset += 1
    if offset < acked:
        return
    if len(buf) - pos >= 2:  # killed between write and acknowledgement: tear what it wrote
        with open(path, "r+b") as f:
            f.truncate(rng.randint(pos + 1, len(buf) - 1))
    else:  # killed while idle: tear a write of the next record as it would have begun
        record = Record(offset=offset, stream="trial/x", stream_version=0, event_id="torn", producer="p",
                        event=TrialProposed(trial_id="torn", agent="a", surface="a", parent_id=None, hypothesis="h"))
        frame = encode_frame(offset, encode_record(record))
        with open(path, "ab") as f:
            f.write(frame[: rng.randint(1, len(frame) - 1)])


@pytest.mark.slow
@pytest.mark.faults
def test_every_acknowledged_event_survives_sigkill(tmp_path):
    rng = random.Random(1234)
    log_dir = tmp_path / "log"
    acked: dict[str, int] = {}  # event id -> offset it was acknowledged at
    torn = 0
    for round_ in range(KILLS):
        tag = f"w{round_}"
        for who, first, count, offset in run_and_kill(log_dir, tag, round_, rng.uniform(0.0, 0.25)):
            for k in range(count):
                acked[f"{who}-{first + k}"] = offset + k
        if round_ % 2 == 1:
            # bytes past COMMITTED were never synced (it moves only after the fsync); bytes below it
            # were, even when the kill came before the writer heard its acknowledgement
            drop_unsynced_tail(log_dir, max(max(acked.values(), default=-1) + 1, read_committed(log_dir) or 0), rng)
        with EventStore(log_dir, segment_bytes=1 << 20) as store:
            torn += store.recovered_tail is not None
            records = read_all(store, page=5000)
            offsets = [r.offset for r in records]
            assert offsets == list(range(len(records))), "offsets are not contiguous"
            ids = [r.event_id for r in records]
            assert len(ids) == len(set(ids)), "an event is stored twice"
            at = dict(zip(ids, offsets))
            missing = [i for i in acked if i not in at]
            assert not missing, f"round {round_}: acknowledged events lost: {missing[:5]}"
            assert all(at[i] == o for i, o in acked.items()), "an acknowledged event moved"
            for r in records:  # whole events only: each decodes into its full payload
                assert r.event.trial_id == r.event_id
    assert len(acked) > 1000
    assert torn >= 10, "recovery never had a torn tail to cut: the test did not test it"
    print(f"{len(acked)} acknowledged events over {KILLS} kills, {torn} torn tails cut")
