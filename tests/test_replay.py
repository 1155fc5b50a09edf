"""Replay equals the live fold: for any sequence of appends, any batching, any process."""

import os
import subprocess
import sys
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import (
    AgentSessionStarted,
    BudgetCharged,
    EventStore,
    LlmExchanged,
    LogReader,
    NewEvent,
    RunState,
    RunStopRequested,
    TrialCancelled,
    TrialLost,
    TrialRetried,
    Usage,
    WrongExpectedVersion,
    replay,
)
from events.schema import BlobRef
from events.synthetic import generate, write
from tests.conftest import claimed, evaluated, executed, proposed, run_started

TRIALS = [f"t{i}" for i in range(6)]
BLOB = BlobRef(sha256="0" * 64, size=1)
scores = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(0.5, 3.0))
verdicts = st.sampled_from(["valid", "valid", "valid", "crash", "size_blocked", "harness_abort", "invalid_edit"])


@st.composite
def an_event(draw):
    tid = draw(st.sampled_from(TRIALS))
    attempt = draw(st.integers(1, 3))
    kind = draw(st.integers(0, 11))
    if kind == 0:
        ev = run_started(draw(st.sampled_from(["minimize", "maximize"])), draw(st.sampled_from([0.0, 0.01])))
        return ev, "run"
    if kind == 1:
        return proposed(tid, draw(st.one_of(st.none(), st.sampled_from(TRIALS))), draw(st.sampled_from(["a", "b"]))), f"trial/{tid}"
    if kind == 2:
        return claimed(tid, attempt), f"trial/{tid}"
    if kind == 3:
        return executed(tid, attempt, draw(st.floats(0, 100))), f"trial/{tid}"
    if kind in (4, 5):
        return evaluated(tid, draw(scores), draw(verdicts), attempt), f"trial/{tid}"
    if kind == 6:
        return TrialLost(trial_id=tid, attempt=attempt, reason="x"), f"trial/{tid}"
    if kind == 7:
        return TrialRetried(trial_id=tid, attempt=attempt, reason="x"), f"trial/{tid}"
    if kind == 8:
        return TrialCancelled(trial_id=tid, reason="x"), f"trial/{tid}"
    if kind == 9:
        return LlmExchanged(session_id="s", agent=draw(st.sampled_from(["a", "b"])), call_seq=0, provider="p",
                            model="m", request=BLOB, request_hash="h", response=None,
                            usage=Usage(input_tokens=draw(st.integers(0, 10**6))), cost_usd=draw(st.floats(0, 10))), "agent/a"
    if kind == 10:
        return BudgetCharged(resource=draw(st.sampled_from(["cpu_s", "gpu_s", "tokens", "usd"])),
                             amount=draw(st.floats(0, 1e6)), agent=draw(st.one_of(st.none(), st.just("a")))), "budget"
    if draw(st.booleans()):
        return AgentSessionStarted(session_id="s", agent="a", proposer="llm"), "agent/a"
    return RunStopRequested(reason="user"), "run"


@st.composite
def a_history(draw):
    """Batches of appends; some re-send an earlier batch, some carry a (possibly stale) version."""
    batches, sent = [], []
    for _ in range(draw(st.integers(1, 25))):
        if sent and draw(st.integers(0, 5)) == 0:
            batches.append(draw(st.sampled_from(sent)))
            continue
        batch = []
        for _ in range(draw(st.integers(1, 8))):
            ev, stream = draw(an_event())
            expected = draw(st.one_of(st.none(), st.none(), st.integers(-1, 4)))
            batch.append(NewEvent(event=ev, stream=stream, event_id=f"id{len(sent)}-{len(batch)}",
                                  producer="p", expected_version=expected, wall_time_ns=5))
        batches.append(batch)
        sent.append(batch)
    return batches


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=a_history(), page=st.integers(1, 9))
def test_replayed_state_equals_incremental_state(history, page):
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(os.path.join(tmp, "log"), segment_bytes=1500, fsync=False)
        live = RunState()
        for batch in history:
            try:
                result = store.append(batch)
            except WrongExpectedVersion:
                continue
            for record in result.committed:
                live.apply(record)
        store.close()

        from_disk = RunState().apply_all(LogReader(os.path.join(tmp, "log")).iter_records())
        assert from_disk.canonical_bytes() == live.canonical_bytes()
        assert from_disk.digest() == live.digest()

        paged, reader, nxt = RunState(), LogReader(os.path.join(tmp, "log")), 0
        while True:
            records, nxt = reader.read(nxt, limit=page)
            if not records:
                break
            for r in records:
                paged.apply(r)
                paged.apply(r)  # at-least-once delivery changes nothing
        assert paged.digest() == live.digest()


def test_replay_until_equals_the_prefix(tmp_path):
    with EventStore(tmp_path / "log") as store:
        events = list(generate(trials=40, seed=3))
        cut = len(events) // 2
        write(store.append, iter(events[:cut]), batch=17)
        mid = RunState().apply_all(LogReader(tmp_path / "log").iter_records()).digest()
        write(store.append, iter(events[cut:]), batch=17)
    assert replay(tmp_path, until=cut).digest() == mid
    assert replay(tmp_path).digest() != mid


def test_digest_is_the_same_in_another_process(tmp_path):
    with EventStore(tmp_path / "log") as store:
        write(store.append, generate(trials=60, seed=11), batch=50)
    here = replay(tmp_path).digest()
    code = "import sys; from events import replay; print(replay(sys.argv[1]).digest())"
    for hashseed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": hashseed}, check=True)
        assert out.stdout.strip() == here


def test_the_same_seed_writes_the_same_log(tmp_path):
    for name in ("a", "b"):
        with EventStore(tmp_path / name / "log") as store:
            write(store.append, generate(trials=30, seed=5), batch=10)
    assert replay(tmp_path / "a").digest() == replay(tmp_path / "b").digest()
    seg = "log/segment-00000000000000000000.log"
    assert (tmp_path / "a" / seg).read_bytes() == (tmp_path / "b" / seg).read_bytes()


def test_an_event_type_from_a_newer_version_is_skipped_by_replay(tmp_path):
    from events import Event

    class TrialPruned(Event, frozen=True, tag="trial.pruned"):
        trial_id: str

    with EventStore(tmp_path / "log") as store:
        events = list(generate(trials=10, seed=4))
        write(store.append, iter(events[:20]))
        store.append([NewEvent(event=TrialPruned(trial_id="t000001"), stream="future/t000001",
                               event_id="from-the-future", producer="newer")])
        write(store.append, iter(events[20:]))
    with EventStore(tmp_path / "log") as store:  # recovery indexes it like any other
        assert store.offset_of("from-the-future") == 20
    records = list(LogReader(tmp_path / "log").iter_records())
    assert records[20].type == "trial.pruned" and records[20].event.type == "trial.pruned"
    state = replay(tmp_path)
    assert state.applied == len(events) + 1
    without = RunState().apply_all(r for r in records if r.offset != 20)
    assert without.snapshot().trials == state.snapshot().trials


def test_replay_through_the_folded_views_equals_the_typed_fold(tmp_path):
    """replay() decodes only the fields RunState reads (events/projections/folded.py): the state
    must be the one a fold of the whole typed records gives, for every event type."""
    with EventStore(tmp_path / "log", fsync=False) as store:
        write(store.append, generate(trials=80, seed=9), batch=33)
        store.append([NewEvent(event=ev, stream=stream, event_id=f"extra-{i}", producer="test")
                      for i, (ev, stream) in enumerate([
                          (TrialCancelled(trial_id="t000003", reason="x"), "trial/t000003"),
                          (BudgetCharged(resource="tokens", amount=12.0, agent="opt"), "budget"),
                          (BudgetCharged(resource="cpu_s", amount=3.5), "budget"),
                          (RunStopRequested(reason="user", in_flight="cancel"), "run")])])
    typed = RunState().apply_all(LogReader(tmp_path / "log").iter_records())
    assert replay(tmp_path).canonical_bytes() == typed.canonical_bytes()
    assert replay(tmp_path, until=200).digest() == RunState().apply_all(
        LogReader(tmp_path / "log").iter_records(0, 200)).digest()


def _careful_fold(run_dir, until=None) -> str:
    """What replay's fused loop must match: the careful reader, record by record, from offset 0."""
    try:
        return RunState().apply_all(LogReader(run_dir / "log").iter_records(0, until)).digest()
    except Exception as exc:  # noqa: BLE001 - the same error, with the same message, is the point
        return f"{type(exc).__name__}: {exc}"


def _replayed(run_dir, until=None) -> str:
    try:
        return replay(run_dir, until).digest()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


def test_the_fused_replay_gives_the_careful_readers_state_and_errors_on_damaged_logs(tmp_path):
    """replay() folds the frames that pass every check in one loop and hands the rest to the
    careful reader: torn tails, flipped bytes, missing segments and `until` anywhere must give
    the same state, or the same CorruptLog, as the careful reader alone."""
    import random
    import shutil

    from events.segments import list_segments

    rng = random.Random(3)
    events = list(generate(trials=40, seed=2))
    for segment_bytes in (1 << 30, 20_000, 5_000):
        clean = tmp_path / f"clean-{segment_bytes}"
        with EventStore(clean / "log", segment_bytes=segment_bytes, fsync=False) as store:
            write(store.append, iter(events), batch=50)
        for case in range(24):
            run = tmp_path / f"run-{segment_bytes}-{case}"
            shutil.copytree(clean, run)
            segments = [p for _, p in list_segments(run / "log")]
            victim = rng.choice(segments)
            data = bytearray(victim.read_bytes())
            if case % 4 == 0:
                data = data[:rng.randrange(16, len(data))]  # a torn tail (or a cut-short older segment)
            elif case % 4 == 1:
                data[rng.randrange(16, len(data))] ^= 0xFF  # a rotted byte
            elif case % 4 == 2 and len(segments) > 1:
                victim.unlink()  # a missing segment
            if victim.exists():
                victim.write_bytes(bytes(data))
            for until in (None, rng.randrange(0, len(events) + 5), -1):
                assert _replayed(run, until) == _careful_fold(run, until), (segment_bytes, case, until)
