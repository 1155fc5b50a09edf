"""Hostile input: malformed config files, damaged event files, model servers that answer with
50 MB, binary or the wrong shape, and SSE clients that never read. Each gives a clear error
that names what is wrong and where, or is contained; never a traceback, never a damaged event,
never unbounded memory."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
import tracemalloc

import httpx
import orjson
import pytest
import yaml
from click.testing import CliRunner

from agents.llm.client import LLMClient, reply_of
from agents.llm.config import ConfigError, Endpoint, load_config
from agents.llm.wire import Conversation, Message
from autorecipe.cli import main
from events import BlobStore, EventStore, LogReader
from events.consumer import LogDamaged, follow
from events.envelope import record_to_jsonable
from events.gateway import create_app
from events.segments import list_segments
from events.synthetic import generate, write
from tests.fake_llm_server import FakeLLM
from tests.gateway_server import Served, ServedProcess

pytestmark = pytest.mark.hostile


def invoke(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def no_traceback(result) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# -- config files ---------------------------------------------------------------------------------

GOOD = '[endpoints.local]\nbase_url = "http://127.0.0.1:8080/v1"\nmodel = "q"\n'


@pytest.mark.parametrize("text, names", [
    ('[endpoints.local\nmodel = "q"\n', ["line 1"]),  # TOML syntax: the parser's line and column
    (GOOD + 'temperature = "hot"\n', ["endpoints.local", "temperature", "float"]),
    (GOOD + 'max_response_bytes = -5\nretries = "six"\n', ["endpoints.local", "retries"]),
    ('[endpoints.local]\nbase_url = "x"\n', ["endpoints.local", "model"]),  # a required field missing
    (GOOD + 'api = "openai_chatt"\n', ["endpoints.local", "api", "openai_chat"]),
    (GOOD + 'price = { input = "cheap" }\n', ["endpoints.local", "price.input"]),
    ('[endpoints]\nlocal = 5\n', ["endpoints.local", "table"]),  # was a TypeError traceback
    ('[models.local]\nmodel = "q"\n', ["[endpoints.NAME]"]),
], ids=["syntax", "type", "second-field", "missing", "enum", "nested", "not-a-table", "no-section"])
def test_a_malformed_llm_config_names_the_file_the_endpoint_and_the_field(tmp_path, text, names):
    cfg = tmp_path / "llm.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    message = str(err.value)
    assert str(cfg) in message and all(n in message for n in names), message
    # and through the command line: a usage error with the same words, before anything starts
    result = invoke("run", tmp_path / "run", "--llm-config", cfg, "--llm", "local", "--trials", "1")
    no_traceback(result)
    assert result.exit_code == 2 and str(cfg) in result.output and names[0] in result.output, result.output
    assert not (tmp_path / "run").exists()


def test_an_llm_config_without_llm_is_refused_not_silently_ignored(tmp_path):
    cfg = tmp_path / "llm.toml"
    cfg.write_text(GOOD)
    result = invoke("run", tmp_path / "run", "--llm-config", cfg, "--trials", "1")
    no_traceback(result)
    assert result.exit_code == 2 and "--llm NAME" in result.output and "local" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, names", [
    (["trial", "golf-mini", "--env-opt", "roster"], ["--env-opt", "KEY=VALUE"]),
    (["trial", "golf-mini", "--env-opt", "=x"], ["--env-opt", "KEY=VALUE"]),
    (["trial", "golf-mini", "--env-opt", "bogus=1"], ["golf-mini", "bogus", "roster"]),
    (["trial", "golf-mini", "--env-opt", "roster=nonsense"], ["roster", "nonsense"]),
    (["trial", "parameter-golf", "--env-opt", "upstream=/nonexistent/pg"], ["upstream", "/nonexistent/pg"]),
    (["trial", "parameter-golf", "--env-opt", "upstream={tmp}", "--env-opt", "gpus=many"], ["gpus", "many"]),
    (["run", "--env", "golf-mini", "--env-opt", "bogus=1"], ["bogus"]),
    (["run", "--env", "golf-mini", "--tier", "huge"], ["huge"]),
    (["run", "--env", "golf-mini", "--agents", "nobody"], ["nobody"]),
], ids=["no-equals", "no-key", "unknown", "bad-value", "missing-dir", "not-int", "run-unknown", "tier", "agent"])
def test_bad_env_options_and_run_settings_name_the_option(tmp_path, args, names):
    result = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    no_traceback(result)
    assert result.exit_code == 2 and all(n in result.output for n in names), result.output


def test_a_broken_cluster_yaml_names_the_field_or_the_line():
    """`ray up` validates cluster.yaml with Ray's own schema: the messages it gives."""
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    from tests.test_cluster_yaml import CLUSTER

    text = CLUSTER.read_text()
    config = yaml.safe_load(text)
    config["max_workers"] = "many"
    with pytest.raises(jsonschema.ValidationError) as err:
        validate_config(prepare_config(config))
    assert "max_workers" in str(err.value) and "'many' is not of type 'integer'" in str(err.value)
    broken = text.replace("max_workers:", "max_workers: [", 1)
    with pytest.raises(yaml.YAMLError) as err:
        yaml.safe_load(broken)
    assert "line" in str(err.value) and "column" in str(err.value)


# -- damaged event files --------------------------------------------------------------------------


def _synth(path, seed: int, segment_bytes: int = 64 * 1024):
    store = EventStore(path / "log", segment_bytes=segment_bytes, fsync=False)
    write(store.append, generate(trials=150, seed=seed, blobs=BlobStore(path / "blobs")), batch=50)
    store.close()
    return path


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    a, b = _synth(root / "a", 0), _synth(root / "b", 1, 40 * 1024)
    assert len(list_segments(a / "log")) >= 4
    return a, b


def _damage(kind: str, run, other) -> str:
    """Damage `run`'s log; returns the name of the segment the error must name."""
    segs = list_segments(run / "log")
    if kind == "garbage":
        path = segs[1][1]
        buf = bytearray(path.read_bytes())
        middle = len(buf) // 2
        buf[middle:middle + 64] = b"\xde\xad\xbe\xef" * 16
        path.write_bytes(bytes(buf))
        return path.name
    if kind == "truncated":  # a segment cut short, with segments after it
        path = segs[1][1]
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path.name
    if kind == "foreign-header":  # another run's segment under this run's name
        shutil.copy(list_segments(other / "log")[0][1], segs[2][1])
        return segs[2][1].name
    if kind == "foreign-extra":  # another run's segment added beside this run's
        mine = {b for b, _ in segs}
        base, path = next((b, p) for b, p in list_segments(other / "log")[1:] if b not in mine and b < segs[-1][0])
        shutil.copy(path, run / "log" / path.name)
        return path.name
    raise ValueError(kind)


DAMAGE = ["garbage", "truncated", "foreign-header", "foreign-extra"]


@pytest.fixture(params=DAMAGE)
def damaged(request, clean_runs, tmp_path):
    a, b = clean_runs
    run = tmp_path / "run"
    shutil.copytree(a, run)
    seg = _damage(request.param, run, b)
    return run, seg, [record_to_jsonable(r) for r in LogReader(a / "log").iter_records()]


def test_the_cli_reports_damage_with_segment_and_byte_never_a_traceback(damaged):
    run, seg, _ = damaged
    for args in (["replay", run], ["show", run, "t000001"], ["log", run], ["export", run, "--tsv"]):
        result = invoke(*args)
        no_traceback(result)
        assert result.exit_code == 2, (args, result.output)
        assert seg in result.output and "at byte" in result.output and "event offset" in result.output, \
            (args, result.output)


def test_the_gateway_serves_the_events_before_damage_then_names_it(damaged):
    run, seg, clean = damaged
    with Served(create_app(run)) as served:  # starts: the damage does not stop the tables
        c = httpx.Client(base_url=served.url, timeout=30)
        got, at = [], 0
        while True:
            r = c.get("/events", params={"from": at, "limit": 10_000})
            if r.status_code != 200:
                break
            page = [orjson.loads(line) for line in r.text.splitlines()]
            assert page, f"an empty page at {at} and no error: the damage was never reported"
            got += page
            at = int(r.headers["x-next-offset"])
        assert r.status_code == 500, r.text
        err = r.json()
        assert err["segment"] == seg or seg in err["error"], err
        assert err["offset"] == at and isinstance(err["byte"], int) and "at byte" in err["error"]
        assert got == clean[:at], "a record before the damage differs from the undamaged log"
        assert c.get("/leaderboard").json()["log_damage"]["offset"] == at

        streamed = []

        async def consume():
            with pytest.raises(LogDamaged) as exc:
                async for rec in follow(served.url, 0):
                    streamed.append(rec)
            return exc.value.detail

        detail = asyncio.run(asyncio.wait_for(consume(), 60))
        assert streamed == clean[:at] and detail["offset"] == at and detail["byte"] == err["byte"]


def test_garbage_after_the_last_frame_is_a_torn_tail_not_a_damaged_event(clean_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(clean_runs[0], run)
    last = list_segments(run / "log")[-1][1]
    with open(last, "ab") as f:
        f.write(b"\x00\xff" * 100)
    clean = [record_to_jsonable(r) for r in LogReader(clean_runs[0] / "log").iter_records()]
    assert [record_to_jsonable(r) for r in LogReader(run / "log").iter_records()] == clean
    result = invoke("replay", run)
    assert result.exit_code == 0, result.output


# -- model servers that answer with too much, binary, or the wrong shape ---------------------------


def _ep(fake, api="openai_chat", **kw) -> Endpoint:
    base = fake.base_url if api != "anthropic_messages" else fake.base_url.removesuffix("/v1")
    return Endpoint(name="fake", api=api, base_url=base, model="m", retries=0, **kw)


def _conv() -> Conversation:
    return Conversation(system="You are the specialist `alpha`.", messages=[Message(role="user", content="hi")])


def _complete(fake, **kw):
    return asyncio.run(LLMClient().complete(_ep(fake, **kw), _conv()))


def _recorded_like_the_specialist(ex) -> None:
    """What actors/specialist.py stores: the response as JSON; replay re-derives the same error."""
    data = orjson.dumps(ex.response)
    assert ex.reply is None and ex.error
    with pytest.raises(ValueError) as err:
        reply_of(ex.api, orjson.loads(data))
    assert str(err.value) == ex.error


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "close-delimited"])
def test_a_50_mb_reply_is_an_error_exchange_read_no_further_than_the_cap(declare_length):
    with FakeLLM({"alpha": [{"huge": 50_000_000, "declare_length": declare_length}] * 2}) as fake:
        tracemalloc.start()
        try:
            ex = _complete(fake)  # the default cap, 16 MB
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            small = _complete(fake, max_response_bytes=1_000_000)
            _, peak_small = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    for e, cap in ((ex, 16 * 1024 * 1024), (small, 1_000_000)):
        _recorded_like_the_specialist(e)
        assert f"larger than {cap:,} bytes" in e.error and e.response["limit"] == cap
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB for a 16 MB cap"
    assert peak_small < 8e6, f"peak {peak_small / 1e6:.0f} MB for a 1 MB cap"


def test_a_streamed_reply_past_the_cap_is_cut_off():
    events = [(None, orjson.dumps({"choices": [{"delta": {"content": "x" * 10_000}}]}).decode())] * 200
    with FakeLLM({"alpha": [{"raw_events": events}]}) as fake:
        ex = _complete(fake, stream=True, max_response_bytes=500_000)
    _recorded_like_the_specialist(ex)
    assert "larger than 500,000 bytes" in ex.error


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("raw", [b"\x00\x01\x02\xff\xfe binary \x00", b'{"choices": "\xff\xfe\x00"}',
                                 b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"], ids=["nul", "bad-utf8-json", "png"])
def test_a_binary_reply_is_an_error_exchange(raw, stream):
    step = {"raw": raw} if not stream else {"raw": b"data: " + raw + b"\n\n", "content_type": "text/event-stream"}
    with FakeLLM({"alpha": [step]}) as fake:
        ex = _complete(fake, stream=stream)
    _recorded_like_the_specialist(ex)


CHAT_SHAPES = [
    [], "just a string", None, {"choices": []}, {"choices": [{}]}, {"choices": [{"message": {"content": 5}}]},
    {"choices": [{"message": {"content": "ok", "tool_calls": [{"id": "c", "function": {"name": 7}}]}}]},
    {"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": "many"}},
    {"choices": [{"message": {"content": "ok"}}], "usage": [1, 2]},
    {"choices": [{"message": {"content": ["a", "list"]}}]},
]


@pytest.mark.parametrize("body", CHAT_SHAPES, ids=[f"chat{i}" for i in range(len(CHAT_SHAPES))])
def test_json_of_the_wrong_shape_is_an_error_exchange(body):
    with FakeLLM({"alpha": [{"raw": orjson.dumps(body)}]}) as fake:
        ex = _complete(fake)
    _recorded_like_the_specialist(ex)


@pytest.mark.parametrize("api, events", [
    ("openai_chat", [(None, '{"choices": [{"delta": {"content": 5}}]}'), (None, "[DONE]")]),
    ("openai_chat", [(None, '{"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": 3}}]}}]}')]),
    ("anthropic_messages", [("content_block_delta", '{"type": "content_block_delta", "index": 4, '
                                                    '"delta": {"type": "text_delta", "text": "x"}}')]),
    ("anthropic_messages", [("message_start", '{"type": "message_start", "message": 5}')]),
    ("openai_responses", [("response.completed", '{"type": "response.completed", "response": {"output": 3}}')]),
    ("openai_responses", [("x", '[1, 2, 3]')]),
], ids=["chat-int-text", "chat-int-name", "anthropic-unknown-block", "anthropic-bad-start", "responses-bad-output",
        "responses-list"])
def test_a_stream_of_the_wrong_shape_is_an_error_exchange(api, events):
    with FakeLLM({"alpha": [{"raw_events": events}]}) as fake:
        ex = asyncio.run(LLMClient().complete(_ep(fake, api, stream=True), _conv()))
    _recorded_like_the_specialist(ex)


# -- SSE clients that never read ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("big")
    store = EventStore(path / "log", fsync=False)
    n = write(store.append, generate(trials=6_000, seed=3), batch=1000)
    store.close()
    return path, n


def test_sse_clients_that_never_read_do_not_grow_the_servers_memory(big_run):
    path, n = big_run
    assert n > 50_000
    with ServedProcess(path) as served:
        before = served.rss_mb()
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", served.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /events/stream?from=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
            socks.append(s)
        samples = []
        try:
            for _ in range(8):
                time.sleep(0.5)
                samples.append(served.rss_mb())
            # meanwhile a normal client is served: a page of events, and a stream to the end
            r = httpx.get(served.url + "/events", params={"from": 0, "limit": 100}, timeout=10)
            assert r.status_code == 200 and len(r.text.splitlines()) == 100

            async def follow_all():
                count = 0
                async with contextlib.aclosing(follow(served.url, n - 2_000)) as records:
                    async for rec in records:
                        count += 1
                        if rec["offset"] == n - 1:
                            return count

            t = time.monotonic()
            assert asyncio.run(asyncio.wait_for(follow_all(), 30)) == 2_000
            follow_s = time.monotonic() - t
            samples.append(served.rss_mb())
        finally:
            for s in socks:
                s.close()
    growth = max(samples) - before
    print(f"\nserver RSS {before:.0f} MB -> max {max(samples):.0f} MB with 20 stalled readers of {n:,} events; "
          f"a normal reader got 2,000 events in {follow_s:.2f} s")
    assert growth < 100, samples
