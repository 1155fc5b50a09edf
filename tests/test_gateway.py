"""The gateway against a real uvicorn on loopback: catch-up and resume exactly once, live
delivery, filters, tables, blobs, tokens."""

import asyncio
import contextlib
import time

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from events import EventStore, RunDir
from events.consumer import Unauthorized, follow
from events.gateway import create_app
from events.phase_logs import MAX_TAIL_CHARS
from events.schema import EVENT_TYPES
from tests.conftest import evaluated, executed, lifecycle, new, proposed, run_started
from tests.gateway_server import Served


def _write_run(path, trials: int, store: EventStore | None = None):
    own = store is None
    store = store or EventStore(path / "log", fsync=False)
    batch = [new(run_started(), "run", -1)]
    for i in range(trials):
        batch += lifecycle(f"t{i:06d}", 3.0 - i * 1e-6, f"t{i - 1:06d}" if i else None)
        if len(batch) >= 1000:
            store.append(batch)
            batch = []
    if batch:
        store.append(batch)
    if own:
        store.close()
    return path


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    return _write_run(tmp_path_factory.mktemp("big"), 25_000)  # 100,001 events


def test_a_consumer_dropped_mid_catch_up_resumes_and_gets_each_event_once_in_order(big_run):
    app = create_app(big_run)
    seen, reconnects = [], []
    served = Served(app).__enter__()
    port = served.port

    async def consume():
        nonlocal served
        records = follow(served.url, 0, on_reconnect=lambda e, d: reconnects.append(d))
        async with contextlib.aclosing(records):
            async for rec in records:
                seen.append(rec["offset"])
                if len(seen) == 50_000:  # the server goes away mid-catch-up, and comes back
                    served.stop()
                    served = Served(create_app(big_run), port=port).__enter__()
                if len(seen) == 100_001:
                    return

    try:
        asyncio.run(asyncio.wait_for(consume(), 180))
    finally:
        served.stop()
    assert reconnects, "the connection was never dropped"
    assert seen == list(range(100_001))


def test_live_appends_arrive_within_100_ms(tmp_path):
    run = _write_run(tmp_path / "r", 10)
    store = EventStore(run / "log", fsync=True)
    latencies = []
    with Served(create_app(run)) as served:
        async def consume():
            sent = {}

            async def writer():
                await asyncio.sleep(0.3)
                for i in range(10):
                    sent[store.next_offset] = time.monotonic()
                    store.append(lifecycle(f"live{i}", 1.0)[:1])
                    await asyncio.sleep(0.05)

            task = asyncio.create_task(writer())
            async with contextlib.aclosing(follow(served.url, 41)) as records:
                async for rec in records:
                    latencies.append(time.monotonic() - sent[rec["offset"]])
                    if len(latencies) == 10:
                        break
            await task

        asyncio.run(asyncio.wait_for(consume(), 30))
    store.close()
    assert len(latencies) == 10 and max(latencies) < 0.1, latencies


def test_pull_filters_tables_and_schema(tmp_path):
    run = _write_run(tmp_path / "r", 30)
    with Served(create_app(run)) as served:
        c = httpx.Client(base_url=served.url)
        r = c.get("/events", params={"from": 0, "limit": 5})
        assert r.status_code == 200 and len(r.text.splitlines()) == 5 and r.headers["x-next-offset"] == "5"
        r = c.get("/events", params={"type": "trial.evaluated", "limit": 1000})
        lines = r.text.splitlines()
        assert len(lines) == 30 and all('"trial.evaluated"' in line for line in lines)
        assert c.get("/events", params={"from": "x"}).status_code == 400
        assert len(c.get("/trials").json()) == 30
        top = c.get("/leaderboard").json()
        assert top["best"] == "t000029" and top["top"][0]["trial_id"] == "t000029"
        tree = c.get("/lineage").json()
        assert tree[0]["trial_id"] == "t000000" and tree[-1]["depth"] == 29
        assert c.get("/trials/t000003").json()["status"] == "keep"
        assert c.get("/trials/nope").status_code == 404
        schema = c.get("/schema/events").json()
        assert "TrialEvaluated" in schema["$defs"] and len(schema["oneOf"]) == len(EVENT_TYPES)
        assert "/events/stream" in c.get("/openapi.json").json()["paths"]


def test_a_trial_comes_with_the_bounded_safely_decoded_tail_of_each_phase_log(tmp_path):
    run = tmp_path / "r"
    blobs = RunDir(run).blobs()
    train = b"".join(b"step %d\n" % i for i in range(100)) + b"bad \xff\xfe bytes \x1b[31mred\x00\n\n"
    outputs = {"logs/train": blobs.put(train), "logs/eval": blobs.put(b"x" * (MAX_TAIL_CHARS + 10)),
               "artifact.bin": blobs.put(b"\x00\x01")}
    done = msgspec.structs.replace(executed("t1"), outputs=outputs)
    with EventStore(run / "log", fsync=False) as store:
        store.append([new(run_started(), "run", -1), *lifecycle("t1", 1.0)[:2], new(done, "trial/t1", 1),
                      new(evaluated("t1", 1.0), "trial/t1", 2), new(proposed("t2", "t1"), "trial/t2", -1)])
    with Served(create_app(run)) as served:
        c = httpx.Client(base_url=served.url)
        tails = c.get("/trials/t1").json()["log_tails"]
        assert sorted(tails) == ["logs/eval", "logs/train"]  # logs only, not other outputs
        lines = tails["logs/train"].splitlines()
        assert len(lines) == 40 and lines[0] == "step 61"  # the default, trailing blank lines not counted
        assert lines[-1] == "bad \ufffd\ufffd bytes \ufffd[31mred\ufffd"  # undecodable and control bytes
        assert len(tails["logs/eval"]) == MAX_TAIL_CHARS  # one huge line is cut too
        assert c.get("/trials/t1", params={"log_lines": 2}).json()["log_tails"]["logs/train"].splitlines() == [
            "step 99", lines[-1]]
        assert len(c.get("/trials/t1", params={"log_lines": 10**9}).json()["log_tails"]["logs/train"]
                   .splitlines()) == 101  # capped, and the log has only 101 lines
        assert c.get("/trials/t1", params={"log_lines": 0}).json()["log_tails"]["logs/train"] == ""
        assert c.get("/trials/t1", params={"log_lines": -1}).status_code == 400
        assert c.get("/trials/t2").json()["log_tails"] == {}  # proposed, not executed yet
        described = c.get("/openapi.json").json()["paths"]["/trials/{trial_id}"]["get"]
        assert described["parameters"][0]["name"] == "log_lines" and "log_tails" in described["summary"]


def test_blob_requests_are_path_safe(tmp_path):
    run = _write_run(tmp_path / "r", 1)
    ref = RunDir(run).blobs().put(b"hello")
    with Served(create_app(run)) as served:
        c = httpx.Client(base_url=served.url)
        assert c.get(f"/blobs/{ref.sha256}").content == b"hello"
        assert c.get("/blobs/" + "0" * 64).status_code == 404
        for bad in ("..%2F..%2Fetc%2Fpasswd", "ABC", "../log/LOCK"):
            assert c.get(f"/blobs/{bad}").status_code in (400, 404)


def test_a_token_is_required_when_set_and_for_non_loopback_binds(tmp_path):
    run = _write_run(tmp_path / "r", 1)
    with Served(create_app(run, token="s3cret")) as served:
        assert httpx.get(served.url + "/trials").status_code == 401
        assert httpx.get(served.url + "/trials", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(served.url + "/trials", headers={"authorization": "Bearer s3cret"}).status_code == 200

        async def no_token():
            async for _ in follow(served.url, 0, reconnect=False):
                pass

        with pytest.raises(Unauthorized):
            asyncio.run(no_token())
    from autorecipe.cli import main

    result = CliRunner().invoke(main, ["serve", str(run), "--host", "0.0.0.0"], env={"AUTORECIPE_TOKEN": ""})
    assert result.exit_code != 0 and "--token" in result.output
