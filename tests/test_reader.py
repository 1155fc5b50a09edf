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
