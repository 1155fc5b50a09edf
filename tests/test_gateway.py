"""The gateway against a real uvicorn on loopback: catch-up and resume exactly once, live
delivery, filters, tables, blobs, tokens."""

import asyncio
import contextlib
import threading
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


def test_once_connected_a_consumer_outlasts_its_first_connection_limit_while_the_server_is_away(tmp_path):
    """The limit is for the first connection only: a server gone for longer than it, then back with
    more events, is followed without end, as `autorecipe stream` promises."""
    run = _write_run(tmp_path / "r", 10)  # 41 events
    served = Served(create_app(run)).__enter__()
    port, seen = served.port, []

    def come_back():
        time.sleep(2.0)  # far past first_connect_s
        store = EventStore(run / "log", fsync=False)
        store.append(lifecycle("late", 1.0))
        store.close()
        nonlocal served
        served = Served(create_app(run), port=port).__enter__()

    returning = threading.Thread(target=come_back)

    async def consume():
        async with contextlib.aclosing(follow(served.url, 0, first_connect_s=0.3)) as records:
            async for rec in records:
                seen.append(rec["offset"])
                if len(seen) == 41:  # caught up: the server goes away
                    served.stop()
                    returning.start()
                if len(seen) == 45:
                    return

    try:
        asyncio.run(asyncio.wait_for(consume(), 60))
    finally:
        returning.join(timeout=30)
        served.stop()
    assert seen == list(range(45))


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
    # typically within 100 ms (BENCHMARKS.md has the figures); a loaded machine delays one now and
    # then (0.16 s seen with two other jobs on both cores), so the cap on each has slack
    assert len(latencies) == 10 and sorted(latencies)[5] < 0.1 and max(latencies) < 1.0, latencies


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


def test_clients_hanging_up_as_their_waits_time_out_never_freeze_the_feed(tmp_path):
    """Hundreds of waits cancelled exactly at their timeout (a client hanging up as its ping
    wait ends): with an asyncio.Condition this left the lock held on Python 3.11, and the feed
    stopped at that offset for good."""
    from events.gateway import RunFeed

    run = _write_run(tmp_path / "r", 3)
    store = EventStore(run / "log", fsync=False)

    async def main():
        feed = RunFeed(run)
        feed.end = feed.committed()
        feed.fold()
        watcher = asyncio.create_task(feed.watch())
        loop = asyncio.get_running_loop()
        for round_ in range(300):
            timeout = 0.001 * (1 + round_ % 4)
            waiters = [asyncio.create_task(feed.wait_past(feed.end, timeout)) for _ in range(8)]
            for i, w in enumerate(waiters):  # hung up exactly at, just before and just after the timeout
                loop.call_later(timeout * (0.9, 1.0, 1.1, 2.0)[i % 4], w.cancel)
            if round_ % 3 == 0:  # the log grows under them, so growth and timeouts race
                store.append(lifecycle(f"x{round_}", 1.0)[:1])
            await asyncio.gather(*waiters, return_exceptions=True)
        before = feed.end
        store.append(lifecycle("last", 1.0)[:1])
        await asyncio.wait_for(feed.wait_past(before, 5), 10)
        assert feed.end == feed.state.next_offset == 3 * 4 + 1 + 100 + 1
        still = asyncio.create_task(feed.wait_past(feed.end, 5))  # a fresh waiter is woken by the next append
        await asyncio.sleep(0.05)
        store.append(lifecycle("later", 1.0)[:1])
        await asyncio.wait_for(still, 10)
        watcher.cancel()

    asyncio.run(asyncio.wait_for(main(), 60))
    store.close()


def test_streams_hung_up_at_the_ping_keep_the_tables_and_streams_advancing(tmp_path):
    run = _write_run(tmp_path / "r", 2)
    store = EventStore(run / "log", fsync=False)
    app = create_app(run)
    app.state.ping_s = 0.02  # every wait ends in a timeout, and clients hang up around it
    with Served(app) as served:
        async def hang_ups():
            async with httpx.AsyncClient(base_url=served.url, timeout=5) as c:
                async def one(i):
                    async def read():
                        async with c.stream("GET", "/events/stream", params={"from": 9}) as r:
                            async for _ in r.aiter_lines():
                                pass
                    with contextlib.suppress(TimeoutError):  # hang up around the server's ping timeout
                        await asyncio.wait_for(read(), 0.015 + 0.005 * (i % 3))
                for _ in range(10):
                    await asyncio.gather(*(one(i) for i in range(20)))

        asyncio.run(asyncio.wait_for(hang_ups(), 60))
        store.append(lifecycle("after", 1.0))
        deadline = time.monotonic() + 10
        while len(httpx.get(served.url + "/trials").json()) != 3:
            assert time.monotonic() < deadline, "the tables stopped advancing"
            time.sleep(0.05)
        health = httpx.get(served.url + "/health").json()
        assert health["served_offset"] == health["committed_offset"] == 13 and not health["stale"]

        got = asyncio.run(asyncio.wait_for(_first(follow(served.url, 9, reconnect=False), 4), 10))
        assert [r["offset"] for r in got] == [9, 10, 11, 12]
    store.close()


async def _first(records, n):
    out = []
    async with contextlib.aclosing(records):
        async for rec in records:
            out.append(rec)
            if len(out) == n:
                return out


def test_health_says_a_view_is_stale_when_its_tables_stop_following_the_log(tmp_path, monkeypatch):
    import events.gateway as gw

    monkeypatch.setattr(gw, "STALE_S", 0.1)
    run = _write_run(tmp_path / "r", 2)
    app = create_app(run)
    with Served(app) as served:
        assert httpx.get(served.url + "/health").json()["stale"] is False

        def broken():
            raise OSError("disk went away")

        app.state.feed.fold = broken  # the tables freeze; the log goes on
        with EventStore(run / "log", fsync=False) as store:
            store.append(lifecycle("more", 1.0))
        time.sleep(0.5)
        h = httpx.get(served.url + "/health").json()
        assert h["stale"] is True and h["committed_offset"] == h["served_offset"] + 4 and h["behind"] == 4
        assert "disk went away" in h["watch_error"]


def test_host_allow_list_cors_token_hint_and_zero_limit(tmp_path):
    run = _write_run(tmp_path / "r", 3)
    with Served(create_app(run)) as served:
        assert httpx.get(served.url + "/trials", headers={"host": "rebind.attacker.example"}).status_code == 421
        assert httpx.get(served.url + "/trials", headers={"host": f"localhost:{served.port}"}).status_code == 200
        assert httpx.get(served.url + "/trials", headers={"host": f"[::1]:{served.port}"}).status_code == 200
        r = httpx.get(served.url + "/trials", headers={"origin": "http://my.page"})
        assert "access-control-allow-origin" not in r.headers  # no CORS unless asked for
        r = httpx.get(served.url + "/events", params={"from": 2, "limit": 0})
        assert r.status_code == 200 and r.text == "" and r.headers["x-next-offset"] == "2"
    with Served(create_app(run, token="s3cret", cors_origins=("http://my.page",))) as served:
        r = httpx.get(served.url + "/trials")
        assert r.status_code == 401 and "?token=" in r.json()["error"] and "Authorization: Bearer" in r.json()["error"]
        assert httpx.get(served.url + "/trials", params={"token": "s3cret"}).status_code == 200
        pre = httpx.options(served.url + "/trials", headers={"origin": "http://my.page",
                                                            "access-control-request-method": "GET",
                                                            "access-control-request-headers": "authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "http://my.page"
        r = httpx.get(served.url + "/trials", headers={"origin": "http://other.page", "authorization": "Bearer s3cret"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_tables_paged_sorted_filtered_and_what_the_run_state_folds(tmp_path):
    from events.synthetic import generate, write

    run = tmp_path / "r"
    with EventStore(run / "log", fsync=False) as store:
        write(store.append, generate(trials=120, seed=3, blobs=RunDir(run).blobs()))
    with Served(create_app(run)) as served:
        c = httpx.Client(base_url=served.url)
        every = c.get("/trials").json()
        r = c.get("/trials", params={"sort": "score", "limit": 10, "offset": 5})
        page = r.json()
        scored = sorted(x["score"] for x in every if x["score"] is not None)
        assert [x["score"] for x in page] == scored[5:15] and int(r.headers["x-total-count"]) == len(every)
        down = c.get("/trials", params={"sort": "score", "order": "desc", "limit": 3}).json()
        assert [x["score"] for x in down] == scored[::-1][:3]
        r = c.get("/trials", params={"status": "size_blocked", "agent": "opt", "limit": 1000})
        want = [x for x in every if x["status"] == "size_blocked" and x["agent"] == "opt"]
        assert [x["trial_id"] for x in r.json()] == [x["trial_id"] for x in want] and want
        assert int(r.headers["x-total-count"]) == len(want)
        assert [x["trial_id"] for x in c.get("/trials", params={"ids": "t000003,t000001"}).json()] == [
            "t000001", "t000003"]
        assert c.get("/trials", params={"sort": "nope"}).status_code == 400
        pts = c.get("/trials/points").json()
        assert len(pts["points"]) == sum(1 for x in every if x["status"]) and pts["baseline"]["trial_id"] == "t000000"
        agents = {a["agent"]: a for a in c.get("/agents").json()}
        assert sum(a["proposed"] for a in agents.values()) == len(every)
        assert agents["opt"]["statuses"].get("size_blocked", 0) == sum(
            1 for x in every if x["agent"] == "opt" and x["status"] == "size_blocked")
        ledger = c.get("/ledger").json()
        assert ledger["total"]["llm_calls"] > 0 and ledger["limits"]["trials"] == 120
        sessions = c.get("/sessions", params={"agent": "arch", "limit": 5}).json()
        assert 0 < len(sessions) <= 5 and all(s["agent"] == "arch" for s in sessions)
        assert sum(s["calls"] for s in sessions) == sum(len(s["exchanges"]) for s in sessions)
        info = c.get("/run").json()
        assert info["fingerprint"]["hostname"] == "synthetic" and info["status_colors"]["size_blocked"]
        assert c.get("/sessions", params={"limit": 0}).json() == []


def test_the_schema_covers_the_envelope_and_openapi_describes_every_answer(tmp_path):
    run = _write_run(tmp_path / "r", 1)
    with Served(create_app(run)) as served:
        schema = httpx.get(served.url + "/schema/events").json()
        record = schema["$defs"]["Record"]
        assert {"offset", "stream", "event"} <= set(record["required"])
        assert len(record["properties"]["event"]["oneOf"]) == len(EVENT_TYPES)
        assert "TrialProgress" in schema["$defs"]
        api = httpx.get(served.url + "/openapi.json").json()
        for path, item in api["paths"].items():
            ok = item["get"]["responses"]["200"]
            assert ok["content"] and all("schema" in m for m in ok["content"].values()), path
        assert "TrialRow" in api["components"]["schemas"]


def test_run_serve_refuses_a_busy_port_before_it_starts_anything(tmp_path):
    import socket

    from autorecipe.cli import main

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        result = CliRunner().invoke(main, ["run", str(tmp_path / "r"), "--env", "dryrun", "--runner", "zero",
                                           "--trials", "2", "--serve", str(port)])
    finally:
        holder.close()
    assert result.exit_code != 0 and f"--serve {port}" in result.output and "in use" in result.output
    assert not (tmp_path / "r").exists()  # nothing was started


def test_the_embedded_gateway_stops_cleanly_with_streams_open(tmp_path, capfd):
    from autorecipe.embedded_gateway import EmbeddedGateway, PortBusy

    run = _write_run(tmp_path / "r", 2)
    gw = EmbeddedGateway(run, 0).start()
    with pytest.raises(PortBusy, match="in use"):
        EmbeddedGateway(run, gw.port)

    async def open_streams():
        async with httpx.AsyncClient(base_url=gw.url, timeout=10) as c:
            opened = asyncio.Event()

            async def one():
                async with c.stream("GET", "/events/stream", params={"from": 0}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("id:"):
                            opened.set()

            streams = [asyncio.create_task(one()) for _ in range(3)]
            await opened.wait()
            await asyncio.to_thread(gw.stop)  # the run ends while clients follow it
            await asyncio.gather(*streams, return_exceptions=True)

    asyncio.run(asyncio.wait_for(open_streams(), 30))
    gw.stop()
    assert not gw.thread.is_alive()
    err = capfd.readouterr().err
    assert "CancelledError" not in err and "Traceback" not in err, err
    EmbeddedGateway(run, gw.port).start().stop()  # the port is free again
