"""Random truncations and bit flips: a damaged log yields a prefix of what was written, or a
clear refusal; never a damaged event."""

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import CorruptLog, EventStore, LogReader
from events.envelope import encode_record
from events.segments import list_segments
from events.synthetic import generate, write
from tests.conftest import read_all

_pristine = None


def pristine() -> tuple[str, list[bytes]]:
    """One log of ~600 events in several segments, written once per test session."""
    global _pristine
    if _pristine is None:
        root = tempfile.mkdtemp(prefix="pristine-")
        with EventStore(os.path.join(root, "log"), segment_bytes=64 * 1024, fsync=False) as store:
            write(store.append, generate(trials=60, seed=9), batch=25)
        originals = [encode_record(r) for r in LogReader(os.path.join(root, "log")).iter_records()]
        _pristine = (root, originals)
    return _pristine


damage = st.lists(st.tuples(st.sampled_from(["flip", "truncate"]), st.floats(0, 1), st.integers(0, 7)),
                  min_size=1, max_size=3)


@pytest.mark.fuzz
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=damage, which=st.floats(0, 1))
def test_damaged_logs_give_a_prefix_or_a_refusal(tmp_path_factory, damage, which):
    root, originals = pristine()
    work = tmp_path_factory.mktemp("damaged")
    shutil.copytree(os.path.join(root, "log"), work / "log")
    segments = list_segments(work / "log")
    path = segments[min(int(which * len(segments)), len(segments) - 1)][1]
    data = bytearray(path.read_bytes())
    for kind, where, bit in damage:
        if not data:
            break
        at = min(int(where * len(data)), len(data) - 1)
        if kind == "flip":
            data[at] ^= 1 << bit
        else:
            del data[at:]
    path.write_bytes(bytes(data))

    for read in (lambda: list(LogReader(work / "log").iter_records()), lambda: _open_and_read(work / "log")):
        try:
            got = read()
        except CorruptLog as exc:
            assert str(work) in str(exc) and "byte" in str(exc)
            continue
        encoded = [encode_record(r) for r in got]
        assert encoded == originals[: len(encoded)], "a damaged event was returned"


def _open_and_read(log_dir):
    with EventStore(log_dir, fsync=False) as store:
        return read_all(store)
