"""The gateway against what its users do to it: a follower parked at the end, run directories
changed or damaged while it serves them (a segment lost or moved away, COMMITTED replaced,
cut short or damaged), and requests no client should send. Each must be said in JSON and
/health, never served around, never a busy loop, a 500 in plain text or a traceback."""

import asyncio
import contextlib
import os
import shutil
import time

import httpx
import orjson
import pytest
from click.testing import CliRunner

from autorecipe.cli import main
from events import EventStore
from events.consumer import LogDamaged, follow
from events.gateway import create_app
from events.segments import list_segments
from events.store import COMMITTED
from tests.conftest import lifecycle, new, run_started
from tests.gateway_server import Served


def write_run(path, trials: int, segment_bytes: int = 16 * 1024):
    with EventStore(path / "log", segment_bytes=segment_bytes, fsync=False) as store:
        store.append([new(run_started(), "run", -1)])
        for i in range(trials):
            store.append(lifecycle(f"t{i:04d}", 3.0 - i * 1e-3))
    return path


def offsets_until_error(url: str, start: int = 0):
    """Offsets /events gives from `start`, page by page, and the answer that ended it."""
    got, at = [], start
    with httpx.Client(base_url=url, timeout=30) as c:
        while True:
            r = c.get("/events", params={"from": at})
            lines = r.text.splitlines() if r.status_code == 200 else []
            if r.status_code != 200 or not lines:
                return got, r
            got += [orjson.loads(line)["offset"] for line in lines]
            at = int(r.headers["x-next-offset"])


def until(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def test_a_follower_at_the_end_sleeps_until_the_log_grows(tmp_path):
    run = write_run(tmp_path / "r", 5)
    app = create_app(run)
    feed = app.state.feed
    reads = []
    real_read = feed.read
    feed.read = lambda *a, **k: reads.append(a[0]) or real_read(*a, **k)
    with Served(app) as served:
        async def park():
            got = []
            with contextlib.suppress(TimeoutError):
                async with httpx.AsyncClient(timeout=None) as c:
                    async with c.stream("GET", served.url + "/events/stream", params={"from": 21}) as r:
                        async def lines():
                            async for line in r.aiter_lines():
                                if line.startswith("id:"):
                                    got.append(int(line[3:]))
                        await asyncio.wait_for(lines(), 1.5)
            return got

        cpu = time.process_time()
        assert asyncio.run(park()) == []
        # Before: the stream re-read the end about 36,000 times a second, a core's worth of CPU.
        assert len(reads) < 50, f"{len(reads)} reads in 1.5 s by one follower with nothing to read"
        assert time.process_time() - cpu < 1.0


@pytest.mark.parametrize("loss", ["last-segment", "every-segment", "cut-short"])
def test_a_log_that_ends_before_committed_is_reported_not_served_as_complete(tmp_path, loss):
    run = write_run(tmp_path / "r", 60)
    committed = int.from_bytes((run / "log" / COMMITTED).read_bytes()[:8], "little")
    segs = list_segments(run / "log")
    assert len(segs) >= 3
    if loss == "last-segment":
        segs[-1][1].unlink()
        end = segs[-1][0]
    elif loss == "every-segment":
        for _, p in segs:
            p.unlink()
        end = 0
    else:
        p = segs[-1][1]
        p.write_bytes(p.read_bytes()[:-100])  # the last frame cut: the log ends at the one before
        end = committed - 1
    with Served(create_app(run)) as served:
        got, last = offsets_until_error(served.url)
        assert got == list(range(end))
        assert last.status_code == 500 and last.headers["content-type"] == "application/json", last.text
        assert last.json()["offset"] == end and f"says {committed} events were acknowledged" in last.json()["error"]
        health = httpx.get(served.url + "/health").json()
        assert health["log_damage"]["offset"] == end and health["committed_offset"] == committed

        streamed = []

        async def consume():
            with pytest.raises(LogDamaged) as exc:
                async for rec in follow(served.url, 0, reconnect=False):
                    streamed.append(rec["offset"])
            return exc.value.detail

        detail = asyncio.run(asyncio.wait_for(consume(), 30))  # before: it waited for ever
        assert streamed == list(range(end)) and detail["offset"] == end


def test_a_segment_moved_away_while_served_is_named_as_the_gap_it_leaves(tmp_path):
    run = write_run(tmp_path / "r", 1100)  # more events than the feed keeps in memory: reads go to the files
    segs = list_segments(run / "log")
    with Served(create_app(run)) as served:
        first, _ = offsets_until_error(served.url)
        assert len(first) == 4401
        moved = segs[1]
        shutil.move(moved[1], tmp_path / moved[1].name)  # what a CorruptLog message tells a user to do
        got, last = offsets_until_error(served.url, 0)
        assert got == list(range(moved[0]))
        assert last.status_code == 500 and last.json()["offset"] == moved[0], last.text
        assert "a segment is missing" in last.json()["error"]


def test_a_committed_put_in_place_of_the_one_opened_is_followed(tmp_path):
    run = write_run(tmp_path / "r", 10)
    with Served(create_app(run)) as served:
        until(lambda: httpx.get(served.url + "/health").json()["served_offset"] == 41)
        # a mirror refreshed by copy and rename: a new file (a new inode) under the same name
        with EventStore(tmp_path / "mirror" / "log", fsync=False) as other:
            other.append([new(run_started(), "run", -1), *lifecycle("x", 1.0)])
        for _, seg in list_segments(run / "log"):
            seg.unlink()
        for _, seg in list_segments(tmp_path / "mirror" / "log"):
            shutil.copy(seg, run / "log" / seg.name)
        os.rename(_copy_committed(tmp_path / "mirror" / "log", run / "log"), run / "log" / COMMITTED)
        until(lambda: httpx.get(served.url + "/health").json()["committed_offset"] == 5)

    run = write_run(tmp_path / "r2", 10)
    with Served(create_app(run)) as served:
        until(lambda: httpx.get(served.url + "/health").json()["served_offset"] == 41)
        (run / "log" / COMMITTED).unlink()  # as a DamagedWitness message says to; the writer reopens
        with EventStore(run / "log", fsync=False) as store:
            store.append(lifecycle("more", 1.0))
        until(lambda: httpx.get(served.url + "/health").json()["served_offset"] == 45)
        assert len(httpx.get(served.url + "/trials").json()) == 11


def _copy_committed(src, dst_dir):
    tmp = dst_dir / (COMMITTED + ".new")
    shutil.copy(src / COMMITTED, tmp)
    return tmp


@pytest.mark.parametrize("content", [b"41\n", b"\xff" * 8])
def test_a_committed_that_holds_no_offset_or_an_impossible_one_serves_what_the_segments_hold(tmp_path, content):
    run = write_run(tmp_path / "r", 10)
    (run / "log" / COMMITTED).write_bytes(content)
    with Served(create_app(run)) as served:
        health = httpx.get(served.url + "/health").json()
        assert health["served_offset"] == health["committed_offset"] == 41
        assert ("witness_damage" in health) == (content == b"\xff" * 8)
        assert len(httpx.get(served.url + "/trials").json()) == 10


def test_serve_refuses_a_committed_it_cannot_read_in_one_line(tmp_path):
    run = write_run(tmp_path / "r", 3)
    (run / "log" / COMMITTED).unlink()
    (run / "log" / COMMITTED).mkdir()
    result = CliRunner().invoke(main, ["serve", str(run), "--port", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert COMMITTED in result.output and len(result.output.strip().splitlines()) == 1


def test_a_token_that_cannot_travel_in_a_header_is_refused_and_odd_bytes_get_401(tmp_path):
    run = write_run(tmp_path / "r", 3)
    for args in (["serve", str(run), "--port", "0", "--token", "pässwort"],
                 ["stream", "http://127.0.0.1:9", "--token", "pässwort"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "printable ASCII" in result.output, result.output
    with Served(create_app(run, token="s3cret")) as served:
        for kw in ({"params": {"token": "é"}}, {"headers": {"authorization": b"Bearer \xe9"}}):
            r = httpx.get(served.url + "/trials", **kw)
            assert r.status_code == 401 and "bearer token" in r.json()["error"], r.text
        assert httpx.get(served.url + "/trials", params={"token": "s3cret"}).status_code == 200


def test_requests_no_client_should_send_get_a_json_4xx_naming_what(tmp_path):
    run = write_run(tmp_path / "r", 3)
    with Served(create_app(run)) as served:
        c = httpx.Client(base_url=served.url, timeout=10)
        for last_id in ("²".encode(), b"9" * 4301, b"-3", b"1_0"):
            r = c.get("/events/stream", headers={"last-event-id": last_id})
            assert r.status_code == 400 and "Last-Event-ID" in r.json()["error"], (last_id, r.text)
        for query in ({"from": "²"}, {"from": "9" * 4301}, {"limit": "1_0"}, {"from": "+5"}):
            r = c.get("/events", params=query)
            assert r.status_code == 400 and next(iter(query)) in r.json()["error"], (query, r.text)
        assert c.get("/events", params={"from": "-1"}).json()["error"] == "query parameter from must be >= 0"
        for order in ("DESC", "sideways"):
            r = c.get("/trials", params={"sort": "score", "order": order})
            assert r.status_code == 400 and "asc or desc" in r.json()["error"], r.text
        assert [t["trial_id"] for t in c.get("/trials", params={"order": "desc"}).json()][0] == "t0002"
        r = c.post("/trials")
        assert r.status_code == 405 and "use GET" in r.json()["error"], r.text
        r = c.get("/no/such/route")
        assert r.status_code == 404 and "/no/such/route" in r.json()["error"], r.text
