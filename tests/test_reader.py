import pytest

from events import CorruptLog, EventStore, Filter, LogReader
from events.segments import list_segments
from tests.conftest import lifecycle


def test_reader_follows_a_live_writer(tmp_path):
    store = EventStore(tmp_path / "log", segment_bytes=4096)
    reader = LogReader(tmp_path / "log")
    seen, nxt = [], 0
    for i in range(30):
        store.append(lifecycle(f"t{i}", float(i)))
        page, nxt = reader.read(nxt, limit=3)
        seen += page
    while True:
        page, nxt = reader.read(nxt, limit=50)
        if not page:
            break
        seen += page
    store.close()
    assert [r.offset for r in seen] == list(range(120))
    assert len(list_segments(tmp_path / "log")) > 1


def test_a_half_written_last_frame_is_not_yet_not_an_error(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0))
    path = list_segments(tmp_path / "log")[0][1]
    path.write_bytes(path.read_bytes()[:-7])
    reader = LogReader(tmp_path / "log")
    page, nxt = reader.read(0)
    assert [r.offset for r in page] == [0, 1, 2] and nxt == 3
    assert [r.offset for r in reader.iter_records()] == [0, 1, 2]
    assert path.read_bytes()  # readers never modify anything


def test_reader_refuses_corruption_followed_by_valid_records(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0) + lifecycle("t2", 1.0))
    path = list_segments(tmp_path / "log")[0][1]
    buf = bytearray(path.read_bytes())
    buf[60] ^= 4
    path.write_bytes(bytes(buf))
    with pytest.raises(CorruptLog, match=path.name):
        list(LogReader(tmp_path / "log").iter_records())
    with pytest.raises(CorruptLog, match=path.name):
        LogReader(tmp_path / "log").read(0)


def test_max_scan_bounds_a_narrow_filter(tmp_path):
    with EventStore(tmp_path / "log") as s:
        s.append([e for i in range(50) for e in lifecycle(f"t{i}", 1.0)])
    reader = LogReader(tmp_path / "log")
    page, nxt = reader.read(0, limit=10, where=Filter(types=["run.stopped"]), max_scan=64)
    assert page == [] and nxt == 64  # resumable where it stopped scanning
    page, nxt = reader.read(0, limit=100, where=Filter(stream_prefix="trial/t4"))
    assert {r.stream for r in page} == {"trial/t4"} | {f"trial/t4{i}" for i in range(10)} and len(page) == 44


def test_iter_records_until_and_from(tmp_path):
    with EventStore(tmp_path / "log", segment_bytes=1024) as s:
        for i in range(20):
            s.append(lifecycle(f"t{i}", 1.0))
    reader = LogReader(tmp_path / "log")
    assert [r.offset for r in reader.iter_records(33, 41)] == list(range(33, 41))
    assert reader.end_offset() == 80


def test_frames_carry_the_standard_crc32_so_older_logs_still_verify(tmp_path):
    """The checksum comes from zlib-ng when it is installed; it must be zlib's CRC-32 exactly,
    or every log written before (and by a reader without zlib-ng) would read as corrupt."""
    import zlib

    from events.segments import FRAME_HEADER, HEADER_SIZE

    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0) + lifecycle("t2", 2.0))
    buf = list_segments(tmp_path / "log")[0][1].read_bytes()
    pos, checked = HEADER_SIZE, 0
    while pos < len(buf):
        length, crc, _ = FRAME_HEADER.unpack_from(buf, pos)
        end = pos + FRAME_HEADER.size + length
        assert zlib.crc32(buf[pos + 8:end]) == crc
        pos, checked = end, checked + 1
    assert checked == 8


def test_replay_refuses_a_frame_whose_record_names_another_offset(tmp_path):
    """A frame whose CRC holds but whose record says another offset (a frame copied from
    elsewhere in the log, checksum and all, rewritten): refused at that frame, not folded."""
    from events import replay
    from events.envelope import decode_record, encode_record
    from events.segments import FRAME_HEADER, HEADER_SIZE, frame_header

    with EventStore(tmp_path / "log") as s:
        s.append(lifecycle("t1", 1.0) + lifecycle("t2", 2.0))
    path = list_segments(tmp_path / "log")[0][1]
    buf = path.read_bytes()
    pos = HEADER_SIZE
    for _ in range(5):  # to the frame of offset 5
        pos += FRAME_HEADER.size + FRAME_HEADER.unpack_from(buf, pos)[0]
    length = FRAME_HEADER.unpack_from(buf, pos)[0]
    record = decode_record(buf[pos + FRAME_HEADER.size:pos + FRAME_HEADER.size + length])
    import msgspec

    forged = encode_record(msgspec.structs.replace(record, offset=6))
    assert len(forged) == length
    path.write_bytes(buf[:pos] + frame_header(5, forged) + forged + buf[pos + FRAME_HEADER.size + length:])
    with pytest.raises(CorruptLog, match="record says offset 6") as refused:
        replay(tmp_path)
    assert refused.value.position == pos and refused.value.offset == 5
