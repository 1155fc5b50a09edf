import errno
import os

import pytest

from events import (
    NO_STREAM,
    CorruptLog,
    EventStore,
    LogLocked,
    LogWriteFailed,
    WrongExpectedVersion,
)
from events.envelope import Record, encode_record
from events.segments import FRAME_OVERHEAD, HEADER_SIZE, encode_frame, list_segments
from tests.conftest import claimed, lifecycle, new, proposed, read_all


def all_records(store):
    return read_all(store, page=7)


def test_append_assigns_gap_free_offsets_and_stream_versions(store):
    a = store.append(lifecycle("t1", 1.0))
    b = store.append(lifecycle("t2", 0.9, parent="t1"))
    assert [k.offset for k in a.acks + b.acks] == list(range(8))
    assert [k.stream_version for k in a.acks] == [0, 1, 2, 3]
    assert [r.offset for r in all_records(store)] == list(range(8))
    assert store.stream_version("trial/t1") == 3 and store.stream_version("nope") == -1


def test_resending_a_batch_stores_nothing_twice(store):
    batch = lifecycle("t1", 1.0)
    first = store.append(batch)
    again = store.append(batch)
    assert store.next_offset == 4
    assert [a.offset for a in again.acks] == [a.offset for a in first.acks]
    assert [a.stream_version for a in again.acks] == [a.stream_version for a in first.acks]
    assert all(a.duplicate for a in again.acks) and again.committed == []
    # a batch that repeats an id inside itself stores it once, too
    ev = new(proposed("t9"), "trial/t9")
    res = store.append([ev, ev])
    assert [a.duplicate for a in res.acks] == [False, True] and store.next_offset == 5


def test_duplicates_survive_reopen(tmp_path):
    batch = lifecycle("t1", 1.0)
    with EventStore(tmp_path / "log") as s:
        s.append(batch)
    with EventStore(tmp_path / "log") as s:
        res = s.append(batch)
        assert all(a.duplicate for a in res.acks) and s.next_offset == 4


def test_stale_expected_version_is_refused_naming_the_stream(store):
    store.append([new(proposed("t1"), "trial/t1", NO_STREAM)])
    store.append([new(claimed("t1"), "trial/t1", 0, producer="x0")])
    with pytest.raises(WrongExpectedVersion, match=r"stream 'trial/t1': expected version 0, but it is at 1"):
        store.append([new(claimed("t1"), "trial/t1", 0, producer="x1")])
    assert store.next_offset == 2
    with pytest.raises(WrongExpectedVersion, match="trial/t2"):
        store.append([new(proposed("t2"), "trial/t2", 5)])


def test_a_refused_batch_stores_none_of_its_events(store):
    good = new(proposed("a"), "trial/a", NO_STREAM)
    bad = new(claimed("b"), "trial/b", 3)
    with pytest.raises(WrongExpectedVersion):
        store.append([good, bad])
    assert store.next_offset == 0 and store.offset_of(good.event_id) is None


def test_group_commit_accepts_and_refuses_batches_independently(store):
    r = store.append_many([lifecycle("a", 1.0), [new(claimed("zz"), "trial/zz", 4)], lifecycle("b", 2.0)])
    assert isinstance(r[1], WrongExpectedVersion)
    assert [a.offset for a in r[0].acks] == [0, 1, 2, 3] and [a.offset for a in r[2].acks] == [4, 5, 6, 7]


def test_expected_versions_chain_within_a_batch(store):
    res = store.append(lifecycle("t", 1.0))  # expects -1, 0, 1, 2 in one batch
    assert [a.stream_version for a in res.acks] == [0, 1, 2, 3]


def test_reads_filter_by_stream_prefix_and_type(store):
    store.append(lifecycle("t1", 1.0) + lifecycle("t2", 2.0) + [new(proposed("x"), "agent/opt")])
    page, nxt = store.read(0, stream_prefix="trial/t2")
    assert [r.stream for r in page] == ["trial/t2"] * 4 and nxt == 9
    page, _ = store.read(0, types=["trial.evaluated"])
    assert [r.event.trial_id for r in page] == ["t1", "t2"]
    page, nxt = store.read(3, limit=2)
    assert [r.offset for r in page] == [3, 4] and nxt == 5


def test_segments_roll_and_reads_cross_them(tmp_path):
    with EventStore(tmp_path / "log", segment_bytes=2048) as s:
        for i in range(40):
            s.append(lifecycle(f"t{i}", float(i)))
        assert len(list_segments(s.log_dir)) > 5
        assert [r.offset for r in all_records(s)] == list(range(160))
    with EventStore(tmp_path / "log", segment_bytes=2048) as s:  # recovery walks every segment
        assert s.next_offset == 160 and s.stream_version("trial/t39") == 3
        s.append(lifecycle("t40", 1.0))
        assert s.next_offset == 164


def test_one_writer_at_a_time(tmp_path):
    with EventStore(tmp_path / "log"):
        with pytest.raises(LogLocked):
            EventStore(tmp_path / "log")


def _segment(tmp_path):
    return list_segments(tmp_path / "log")[-1][1]


def _tear_next_write(tmp_path, offset: int, keep: int) -> bytes:
    """What a crash mid-append leaves: the first `keep` bytes of a frame that was never
    acknowledged (COMMITTED never moved past it)."""
    record = Record(offset=offset, stream="trial/x", stream_version=0, event_id=f"torn{offset}-{keep}", producer="p",
                    event=proposed("torn"))
    torn = encode_frame(offset, encode_record(record))[:keep]
    with open(_segment(tmp_path), "ab") as f:
        f.write(torn)
    return torn


def test_torn_final_record_is_cut_and_kept_aside(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0))
    torn = _tear_next_write(tmp_path, 4, 30)
    with EventStore(tmp_path / "log") as s:
        assert s.next_offset == 4
        assert s.recovered_tail.read_bytes() == torn
        s.append(lifecycle("t2", 1.0))
        assert [r.offset for r in all_records(s)] == list(range(8))


def test_a_second_recovery_at_the_same_offset_keeps_the_first_torn_bytes(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0))
    first = _tear_next_write(tmp_path, 4, 30)
    with EventStore(tmp_path / "log") as s:
        kept_first = s.recovered_tail
    second = _tear_next_write(tmp_path, 4, 12)
    with EventStore(tmp_path / "log") as s:
        kept_second = s.recovered_tail
    assert kept_first != kept_second
    assert kept_first.read_bytes() == first and kept_second.read_bytes() == second


def test_damage_to_the_last_acknowledged_record_is_refused_not_cut(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0))
    path = _segment(tmp_path)
    whole = bytearray(path.read_bytes())
    whole[-5] ^= 0x04  # a bit flip inside the last record, which COMMITTED says was acknowledged
    path.write_bytes(bytes(whole))
    with pytest.raises(CorruptLog) as info:
        EventStore(tmp_path / "log")
    assert "acknowledged" in str(info.value) and "event offset 3" in str(info.value)
    assert path.read_bytes() == bytes(whole) and list(path.parent.glob("*.torn-*")) == []
    path.write_bytes(bytes(whole[:-5]))  # cut short instead: the same loss, the same refusal
    with pytest.raises(CorruptLog):
        EventStore(tmp_path / "log")


def test_a_log_cut_at_a_frame_boundary_below_committed_is_refused(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0) + lifecycle("t2", 1.0))
    path = _segment(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole[:_frame_start(whole, 4)])  # four whole records left of eight
    with pytest.raises(CorruptLog) as info:
        EventStore(tmp_path / "log")
    assert "ends at offset 4" in str(info.value) and "says 8" in str(info.value)


def test_a_refused_log_releases_its_lock(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0))
    path = _segment(tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[:-5])
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(CorruptLog):
            EventStore(tmp_path / "log")
    assert len(os.listdir("/proc/self/fd")) == before  # no fd kept per failed open
    path.write_bytes(good)
    with EventStore(tmp_path / "log") as s:  # the lock was released: this process can open it again
        assert s.next_offset == 4


def _frame_start(buf: bytes, index: int) -> int:
    pos = HEADER_SIZE
    for _ in range(index):
        pos += FRAME_OVERHEAD + int.from_bytes(buf[pos:pos + 4], "little")
    return pos


@pytest.mark.parametrize("which", ["payload", "length", "crc", "offset"])
def test_flipped_bit_followed_by_valid_records_refuses_to_open(tmp_path, which):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0) + lifecycle("t2", 2.0))
    path = _segment(tmp_path)
    buf = bytearray(path.read_bytes())
    start = _frame_start(bytes(buf), 2)
    at = {"length": start + 1, "crc": start + 5, "offset": start + 8, "payload": start + FRAME_OVERHEAD + 10}[which]
    buf[at] ^= 0x10
    path.write_bytes(bytes(buf))
    with pytest.raises(CorruptLog) as info:
        EventStore(tmp_path / "log")
    msg = str(info.value)
    assert path.name in msg and f"byte {start}" in msg and "event offset 2" in msg
    assert path.read_bytes() == bytes(buf)  # no byte deleted
    assert list(path.parent.glob("*.torn-*")) == []


def test_corruption_in_a_sealed_segment_is_refused(tmp_path):
    with EventStore(tmp_path / "log", segment_bytes=1024) as s:
        for i in range(10):
            s.append(lifecycle(f"t{i}", 1.0))
    first = list_segments(tmp_path / "log")[0][1]
    buf = bytearray(first.read_bytes())
    buf[-3] ^= 1  # the last frame of a segment that has successors
    first.write_bytes(bytes(buf))
    with pytest.raises(CorruptLog, match=first.name):
        EventStore(tmp_path / "log", segment_bytes=1024)


def test_a_missing_segment_is_refused(tmp_path):
    with EventStore(tmp_path / "log", segment_bytes=1024) as s:
        for i in range(10):
            s.append(lifecycle(f"t{i}", 1.0))
    segs = list_segments(tmp_path / "log")
    segs[1][1].unlink()
    with pytest.raises(CorruptLog, match="segment starts at"):
        EventStore(tmp_path / "log", segment_bytes=1024)


@pytest.mark.faults
def test_disk_full_refuses_the_batch_and_keeps_what_was_acknowledged(tmp_path, monkeypatch):
    s = EventStore(tmp_path / "log")
    s.append(lifecycle("t1", 1.0))
    real_write = os.write
    calls = {"n": 0}

    def full(fd, data):
        calls["n"] += 1
        real_write(fd, bytes(data)[: len(data) // 2])  # half lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(LogWriteFailed, match="No space left"):
        s.append(lifecycle("t2", 2.0))
    monkeypatch.setattr(os, "write", real_write)
    assert s.next_offset == 4
    s.append(lifecycle("t3", 3.0))  # the partial batch was cut off; appends go on
    s.close()
    with EventStore(tmp_path / "log") as again:
        recs = all_records(again)
        assert [r.offset for r in recs] == list(range(8))
        assert {r.event.trial_id for r in recs} == {"t1", "t3"}


@pytest.mark.faults
def test_failed_fsync_poisons_the_store_until_reopened(tmp_path, monkeypatch):
    s = EventStore(tmp_path / "log")
    monkeypatch.setattr(os, "fdatasync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(LogWriteFailed, match="fsync failed"):
        s.append(lifecycle("t1", 1.0))
    monkeypatch.undo()
    with pytest.raises(LogWriteFailed, match="reopen"):
        s.append(lifecycle("t2", 1.0))
    s.close()


def test_a_refused_batch_in_a_group_leaves_the_indexes_as_they_were(store):
    store.append(lifecycle("a", 1.0))
    before = (dict(store._ids), dict(store._versions))
    fresh = new(proposed("c"), "trial/c", NO_STREAM)
    r = store.append_many([[fresh, new(claimed("a"), "trial/a", 0)], [new(proposed("d"), "trial/d")]])
    assert isinstance(r[0], WrongExpectedVersion) and [a.offset for a in r[1].acks] == [4]
    assert store.offset_of(fresh.event_id) is None and store.stream_version("trial/c") == -1
    assert store.stream_version("trial/a") == before[1]["trial/a"] and store.stream_version("trial/d") == 0


def test_an_append_that_fails_to_encode_stores_nothing_and_indexes_nothing(store):
    store.append(lifecycle("a", 1.0))
    before = (dict(store._ids), dict(store._versions))
    broken = new(proposed("b", parent=object()), "trial/b")  # not encodable
    with pytest.raises(TypeError):
        store.append([new(proposed("c"), "trial/c"), new(claimed("a"), "trial/a"), broken])
    assert (dict(store._ids), dict(store._versions)) == before and store.next_offset == 4
    assert [a.offset for a in store.append([new(proposed("c"), "trial/c")]).acks] == [4]


def test_acks_follow_the_batch_order_with_duplicates_in_between(store):
    a, b = new(proposed("a"), "trial/a"), new(proposed("b"), "trial/b")
    store.append([a])
    res = store.append([a, b, b, new(proposed("c"), "trial/c"), a])
    assert [(k.event_id, k.offset, k.duplicate) for k in res.acks] == [
        (a.event_id, 0, True), (b.event_id, 1, False), (b.event_id, 1, True),
        (res.committed[1].event_id, 2, False), (a.event_id, 0, True)]


def test_an_event_that_fails_halfway_through_planning_leaves_no_id_behind(store):
    good = new(proposed("a"), "trial/a")
    odd = new(proposed("b"), ["not", "a", "stream"])  # unhashable: fails after its id was looked up
    with pytest.raises(TypeError):
        store.append([good, odd])
    assert store.offset_of(good.event_id) is None and store.offset_of(odd.event_id) is None
    res = store.append([good, new(proposed("b"), "trial/b", event_id=odd.event_id)])
    assert [(a.offset, a.duplicate) for a in res.acks] == [(0, False), (1, False)]


def test_a_refused_batch_with_repeated_ids_leaves_the_indexes_as_they_were(store):
    # the repeats take the event-by-event path, the refusal then undoes what it entered
    stored = lifecycle("a", 1.0)
    store.append(stored)
    before = (dict(store._ids), dict(store._versions))
    c = new(proposed("c"), "trial/c", NO_STREAM)
    with pytest.raises(WrongExpectedVersion, match="trial/a"):
        store.append([c, stored[0], c, new(claimed("a"), "trial/a", 0)])
    assert (dict(store._ids), dict(store._versions)) == before and store.next_offset == 4
    res = store.append([c, stored[1], c])
    assert [(k.offset, k.duplicate) for k in res.acks] == [(4, False), (1, True), (4, True)]
