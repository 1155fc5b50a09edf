"""Edit protocols, probes and failure paths against the fake server (what a real server cannot
produce on demand): the text protocol parsed strictly, stream errors and missing terminators,
a server's parse failure handed back to the model, failed calls recorded and replayed, prompts
fitted to a small window, session failures on the terminal."""

import asyncio
import socket

import httpx
import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.lineage_view import build_view
from agents.llm import text_protocol
from agents.llm.client import LLMClient
from agents.llm.config import Endpoint, from_shortcut
from agents.llm.probe import ProbeError, probe
from agents.llm.session import LLMProposer, user_prompt
from agents.llm.verify import verify_llm_sessions
from agents.llm.wire import Conversation, Message
from agents.proposer import Context
from autorecipe.progress import Progress
from environments import registry
from events import AgentSessionEnded, Record, RunDir, RunState
from tests.fake_llm_server import FakeLLM

SPEC = registry.get("dryrun")
BLOCK = "HYPOTHESIS: A toward 3 lowers the loss\nknobs.py\n<<<<<<< SEARCH\nA = 0.0\n=======\nA = 1.0\n>>>>>>> REPLACE\n"


def _ep(fake, **kw):
    return Endpoint(name="fake", base_url=fake.base_url, model="fake-model", **{"retries": 1, **kw})


def _run(path, proposers, trials=2):
    config = RunConfig(env="dryrun", runner="zero", fsync=False, trials=trials, agents=list(proposers), proposer="llm",
                       llm={a: p.endpoint.public() for a, p in proposers.items()})
    run_local(path, SPEC, config, proposers, executors=1)
    records = list(RunDir(path).reader().iter_records())
    return records, RunState().apply_all(records)


# -- the text protocol ------------------------------------------------------------------------------


def test_blocks_parse_with_the_path_hypothesis_and_delta():
    r = text_protocol.parse("HYPOTHESIS: raise A\nEXPECTED_DELTA: -0.5\n```\n" + BLOCK.split("\n", 1)[1] + "```",
                            ["knobs.py"], whole=False)
    assert (r.hypothesis, r.expected_delta) == ("raise A", -0.5)
    assert [(e.path, e.search, e.replace) for e in r.edits] == [("knobs.py", "A = 0.0\n", "A = 1.0\n")]


def test_line_numbers_copied_from_the_view_are_dropped_only_when_every_line_has_one():
    text = "a.py\n<<<<<<< SEARCH\n   12| A = 0.0\n=======\n   12| A = 1.0\n>>>>>>> REPLACE\n"
    assert text_protocol.parse(text, ["a.py", "b.py"], False).edits[0].search == "A = 0.0\n"
    mixed = "a.py\n<<<<<<< SEARCH\n   12| A = 0.0\nB = 1\n=======\nx\n>>>>>>> REPLACE\n"
    assert "12|" in text_protocol.parse(mixed, ["a.py", "b.py"], False).edits[0].search


@pytest.mark.parametrize("text, says", [
    ("I think A should be larger.", "no edit"),
    ("knobs.py\n<<<<<<< SEARCH\nA = 0.0\n", "never followed by ======="),
    ("knobs.py\n<<<<<<< SEARCH\nA = 0.0\n=======\nA = 1.0\n", "never closed"),
    ("=======\nA = 1.0\n>>>>>>> REPLACE\n", "before any <<<<<<< SEARCH"),
    ("knobs.py\n<<<<<<< SEARCH\nA\n<<<<<<< SEARCH\n", "expected ======="),
], ids=["prose", "no-divider", "cut-off", "divider-first", "nested"])
def test_malformed_replies_are_format_errors_that_say_where(text, says):
    with pytest.raises(text_protocol.FormatError, match=says):
        text_protocol.parse(text, ["knobs.py"], whole=False)


def test_with_several_files_the_block_must_name_one():
    with pytest.raises(text_protocol.FormatError, match="must name the file"):
        text_protocol.parse("here:\n<<<<<<< SEARCH\nA\n=======\nB\n>>>>>>> REPLACE\n", ["a.py", "b.py"], False)


def test_whole_file_replies_need_a_closed_fence_naming_the_file():
    r = text_protocol.parse("HYPOTHESIS: x\n```python knobs.py\nA = 3.0\n```\n", ["knobs.py"], whole=True)
    assert r.edits[0].whole and r.edits[0].replace == "A = 3.0\n"
    with pytest.raises(text_protocol.FormatError, match="never closed"):
        text_protocol.parse("```python knobs.py\nA = 3.0\n", ["knobs.py"], whole=True)


def _texter(replies):
    replies = list(replies)

    def respond(tag, api, body):
        assert "tools" not in body  # the text protocol sends no tool definitions
        return {"text": replies.pop(0) if replies else BLOCK}
    return respond


def test_a_text_protocol_session_submits_after_a_repair_and_replays(tmp_path):
    bad = "knobs.py\n<<<<<<< SEARCH\nA = 9.9\n=======\nA = 1.0\n>>>>>>> REPLACE\n"  # SEARCH not in the file
    with FakeLLM(responder=_texter([bad])) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_ep(fake, edit_format="text"))}, trials=1)
        second = fake.requests[1].body["messages"]
    assert st.trials.rows["t0001"].status == "keep" and st.trials.rows["t0001"].hypothesis.startswith("A toward 3")
    assert second[-1]["role"] == "user" and second[-1]["content"].startswith("ERROR: the SEARCH text is not in")
    checks = verify_llm_sessions(tmp_path / "r")
    assert [c.ok for c in checks] == [True] and checks[0].calls == 2
    from click.testing import CliRunner

    from autorecipe.cli import main

    shown = CliRunner().invoke(main, ["show", str(tmp_path / "r"), "t0001", "--session"])
    assert shown.exit_code == 0, shown.output
    text = shown.output
    for part in ("── call 1  ok  HTTP 200", "── call 2", "[user]", "ERROR: the SEARCH text is not in", "[assistant (stop)]",
                 "<<<<<<< SEARCH", "tokens in", "ended      submitted after 2 turn(s)"):
        assert part in text, (part, text)
    assert text.count("[system]") == 1  # each message once, not again with every call


def test_a_text_protocol_session_past_the_repairs_is_invalid_edit(tmp_path):
    with FakeLLM(responder=_texter(["no idea"] * 10)) as fake:
        _, st = _run(tmp_path / "r", {"alpha": LLMProposer(_ep(fake, edit_format="text"))}, trials=1)
    row = st.trials.rows["t0001"]
    assert row.status == "invalid_edit" and "the reply has no edit" in row.feedback


# -- what a real server does that the old client missed --------------------------------------------


def _complete(fake, **kw):
    conv = Conversation(system="You are the specialist `alpha`.", messages=[Message(role="user", content="hi")])
    return asyncio.run(LLMClient().complete(_ep(fake, **kw), conv))


def test_an_error_inside_a_stream_is_an_error_not_an_empty_reply():
    events = [(None, '{"choices": [{"delta": {"content": "<tool_call>"}}]}'),
              (None, '{"error": {"code": 500, "message": "Failed to parse input at pos 12", "type": "server_error"}}')]
    with FakeLLM({"alpha": [{"raw_events": events}]}) as fake:
        ex = _complete(fake, stream=True)
    assert ex.reply is None and "Failed to parse input at pos 12" in ex.error


def test_a_stream_without_done_is_an_error():
    events = [(None, '{"choices": [{"delta": {"content": "half a rep"}}]}')]
    with FakeLLM({"alpha": [{"raw_events": events}]}) as fake:
        ex = _complete(fake, stream=True)
    assert ex.reply is None and "[DONE]" in ex.error


def test_a_parse_failure_http_500_goes_back_to_the_model_unretried():
    step = {"status": 500, "body": {"error": {"code": 500, "message": "Failed to parse input at pos 40: <tool_call>",
                                              "type": "server_error"}}}
    with FakeLLM({"alpha": [step]}) as fake:
        ex = _complete(fake, retries=3)
        assert len(fake.requests) == 1  # not retried as if the server were down
    assert ex.reply is None and "could not use the model's output" in ex.error and ex.outcome == "ok"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_stops_its_agent_recorded_and_replayable(tmp_path):
    dead = Endpoint(name="gone", base_url=f"http://127.0.0.1:{_closed_port()}/v1", model="m", retries=2)
    from tests.llm_responders import climber

    with FakeLLM(responder=climber) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(dead), "beta": LLMProposer(_ep(fake))}, trials=3)
    calls = [r.event for r in records if r.type == "llm.exchanged" and r.event.agent == "alpha"]
    assert [c.outcome for c in calls] == ["unreachable"] and calls[0].attempts == 3 and calls[0].response is None
    ended = [r.event for r in records if r.type == "agent.session_ended" and r.event.agent == "alpha"]
    assert [e.outcome for e in ended] == ["endpoint_down"]  # one session, then the agent stops
    assert f"endpoint gone at {dead.base_url} refused the connection" in ended[0].detail
    assert {r.agent for r in st.trials.rows.values() if r.trial_id != "t0000"} == {"beta"}
    checks = verify_llm_sessions(tmp_path / "r")
    assert checks and all(c.ok for c in checks), checks


def test_when_every_agent_lost_its_server_the_run_stops(tmp_path):
    dead = Endpoint(name="gone", base_url=f"http://127.0.0.1:{_closed_port()}/v1", model="m", retries=0)
    _, st = _run(tmp_path / "r", {"alpha": LLMProposer(dead), "beta": LLMProposer(dead)}, trials=5)
    assert st.run.stopped == "error"
    assert all(not r.agent or r.trial_id == "t0000" for r in st.trials.rows.values())


# -- the probe ---------------------------------------------------------------------------------------


def test_the_probe_names_the_endpoint_for_a_wrong_url_or_model():
    with pytest.raises(ProbeError, match=r"endpoint llamacpp at http://127.0.0.1:\d+/v1: nothing answers"):
        probe(from_shortcut("llamacpp:m", f"http://127.0.0.1:{_closed_port()}/v1"))
    with FakeLLM() as fake:
        with pytest.raises(ProbeError, match="does not serve model 'other'; it serves: fake-model"):
            probe(Endpoint(name="x", base_url=fake.base_url, model="other"))
        ok = probe(Endpoint(name="x", base_url=fake.base_url, model="fake-model", edit_format="auto"))
        assert ok.edit_format == "search_replace" and ok.probed["tools"] is True  # the fake called ping


def test_the_probe_reads_the_context_where_each_server_reports_it():
    def server(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "qwen", "max_model_len": 32768}]})
        return httpx.Response(404)

    ep = probe(Endpoint(name="v", base_url="http://vllm/v1", model="qwen"), transport=httpx.MockTransport(server))
    assert ep.context_tokens == 32768 and ep.probed["server"] == "vllm"

    def ollama(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "qwen2.5-coder:7b"}]})
        if request.url.path == "/api/show":
            return httpx.Response(200, json={"parameters": "num_ctx 8192\ntemperature 0.2",
                                             "model_info": {"qwen2.context_length": 32768}})
        return httpx.Response(404)

    ep = probe(Endpoint(name="o", base_url="http://ollama/v1", model="qwen2.5-coder:7b"),
               transport=httpx.MockTransport(ollama))
    assert ep.context_tokens == 8192 and ep.probed["server"] == "ollama"


def test_a_models_list_that_never_ends_or_drips_stops_the_probe_at_its_timeout(monkeypatch):
    """httpx's read timeout is per read: a body that never ends, or comes a byte at a time, held
    the probe (and `autorecipe run`) for ever. The whole answer must come within the timeout."""
    import itertools
    import time

    from agents.llm import probe as probing

    monkeypatch.setattr(probing, "PROBE_TIMEOUT", httpx.Timeout(1.0, connect=1.0))

    def endless():
        yield b'{"data": ['
        for _ in itertools.count():
            yield b" " * 65536

    def drip():
        yield b'{"data": ['
        while True:
            time.sleep(0.05)
            yield b" "

    for body, said in ((endless, "answered more than 4 MiB"), (drip, "was still answering after 1 s")):
        def server(request: httpx.Request, body=body) -> httpx.Response:
            return httpx.Response(200, content=body())

        started = time.monotonic()
        with pytest.raises(ProbeError, match=said):
            probe(Endpoint(name="x", base_url="http://junk/v1", model="m"), transport=httpx.MockTransport(server))
        assert time.monotonic() - started < 30


def test_a_server_that_fails_every_request_is_refused_by_the_probe_not_given_the_text_protocol():
    """An answer of 500 to the tool probe read as 'no tools here', so a server failing every call
    passed the probe, and every session then failed: the run never ended."""
    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(500, text="internal error")

    with pytest.raises(ProbeError, match="answered HTTP 500 to a one-token request"):
        probe(Endpoint(name="x", base_url="http://junk/v1", model="m", edit_format="auto"),
              transport=httpx.MockTransport(failing))

    def no_tools(request: httpx.Request) -> httpx.Response:  # llama.cpp without --jinja
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        if b'"tools"' in request.content:
            return httpx.Response(500, text="tools param requires --jinja flag")
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "hi"}}]})

    ep = probe(Endpoint(name="x", base_url="http://junk/v1", model="m", edit_format="auto"),
               transport=httpx.MockTransport(no_tools))
    assert ep.edit_format == "text" and "jinja" in ep.probed["tool_probe"]


# -- prompts that fit -------------------------------------------------------------------------------


def test_a_small_window_cuts_the_lineage_then_the_program_to_the_regions_and_says_so():
    golf = registry.get("golf-mini")
    sp = golf.specialist("opt")
    code = golf.baseline_code()
    ctx = Context(spec=golf, specialist=sp, view=build_view({}, None, "opt", golf.metric, golf.direction),
                  code_of=lambda t: code, rng=None, session=1)
    whole, cuts = user_prompt(ctx, code, None)
    assert cuts == [] and "MLP_MULT" in whole
    small, cuts = user_prompt(ctx, code, 700)
    assert any("outside your regions (opt)" in c for c in cuts)
    assert "this prompt leaves out" in small and len(small) < len(whole) / 2
    assert "MLP_MULT" not in small and "LR" in small  # arch's lines gone, opt's kept with their numbers
    assert "|" in small.split("```python", 1)[1]


# -- what the user sees -----------------------------------------------------------------------------


def test_session_failures_reach_the_terminal_grouped_by_cause():
    lines = []
    p = Progress(10, echo=lines.append)
    for i in range(3):
        ev = AgentSessionEnded(session_id=f"s{i}", agent="quant", outcome="error",
                               detail=f"llamacpp: gave up after {i + 7} attempts; last: ReadTimeout")
        p.record(Record(offset=i, stream="agent/quant", stream_version=i, event=ev, event_id=f"e{i}",
                        producer="agent/quant"), None)
    assert len(lines) == 1 and "quant: session failed (error): llamacpp: gave up" in lines[0]
    p.tick(RunState(), force=True)
    assert any("quant: 3 sessions failed (error)" in x for x in lines)


def test_every_real_task_specialist_has_a_brief_of_preamble_depth():
    from environments.upstream import airbench96, nanochat_d12, parameter_golf
    from environments.upstream.briefs import brief

    tasks = {"parameter-golf": [k for k, _ in parameter_golf.SPECIALISTS],
             "airbench96": [k for k, _ in airbench96.SPECIALISTS],
             "nanochat-d12": [k for k, *_ in nanochat_d12.SPECIALISTS]}
    for task, keys in tasks.items():
        for k in keys:
            long = brief(task, k, "SHORT.")
            assert long.startswith("SHORT. ") and "Edit radius" in long and len(long) > 400, (task, k)
    assert brief("golf-mini", "opt", "as it was") == "as it was"
    assert "16,000,000" in brief("parameter-golf", "quant", "")


def test_a_session_under_way_when_the_run_stops_ends_recorded_with_its_spend(tmp_path):
    from actors.evaluator import Evaluator
    from actors.executor import Executor
    from actors.log_client import LocalLog
    from actors.specialist import Specialist
    from actors.start import run_started
    from actors.supervisor import Supervisor
    from events import EventStore, Fingerprint
    from tests.llm_responders import climber

    store = EventStore(tmp_path / "log", fsync=False)
    log = LocalLog(store, RunDir(tmp_path).blobs())
    store.append([run_started("stop", RunConfig(env="dryrun", runner="zero", trials=5), SPEC,
                              Fingerprint(hostname="h", platform="p", python="3"))])
    supervisor = Supervisor(log, ["alpha"], SPEC.baseline_code())

    class StopsTheRun(LLMClient):
        async def complete(self, ep, conv):
            supervisor.catch_up()
            supervisor.commit(supervisor.stop("deadline", "the deadline passed during the session"))
            return await super().complete(ep, conv)

    with FakeLLM(responder=climber) as fake:
        alpha = Specialist(log, SPEC, "alpha", LLMProposer(_ep(fake), client=StopsTheRun()))
        loop = [supervisor, Executor(log, SPEC, "executor/0", None, tmp_path), Evaluator(log, SPEC, "evaluator/0", None)]
        for _ in range(5):
            for r in loop:
                r.step()
        alpha.step()
        assert len(fake.requests) == 1  # no call after the stop
    records = list(RunDir(tmp_path).reader().iter_records())
    ended = [r.event for r in records if r.type == "agent.session_ended"]
    assert [(e.agent, e.outcome) for e in ended] == [("alpha", "stopped")] and "deadline" in ended[0].detail
    st = RunState().apply_all(records)
    assert st.ledger.total.llm_calls == 1 and st.ledger.total.input_tokens > 0
    store.close()


def test_usage_the_server_did_not_report_is_recorded_as_estimated(tmp_path):
    import orjson

    from tests.llm_responders import climber

    bare = {"raw": orjson.dumps({"choices": [{"message": {"content": "thinking"}, "finish_reason": "stop"}]})}
    with FakeLLM(script={"alpha": [bare]}, responder=climber) as fake:
        records, _ = _run(tmp_path / "r", {"alpha": LLMProposer(_ep(fake))}, trials=1)
    usage = [r.event.usage for r in records if r.type == "llm.exchanged"]
    assert usage[0].estimated and usage[0].output_tokens >= 1
    assert not any(u.estimated for u in usage[1:])


def test_a_window_too_small_for_the_first_message_stops_the_agent_instead_of_spinning(tmp_path):
    from tests.llm_responders import climber

    with FakeLLM(responder=climber) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_ep(fake, context_tokens=600, max_output_tokens=256))},
                           trials=3)
        assert fake.requests == []  # nothing sent that the server would refuse or cut
    ended = [r.event for r in records if r.type == "agent.session_ended"]
    assert [e.outcome for e in ended] == ["window_too_small"] and "cannot hold the first message" in ended[0].detail
    assert st.run.stopped == "error"


def test_output_tokens_timeout_streaming_and_edit_format_on_the_command_line_reach_the_shortcut(tmp_path,
                                                                                                monkeypatch):
    from click.testing import CliRunner

    from autorecipe import cli_run
    from autorecipe.cli import main

    seen = {}

    def capture(run_dir, config, **kw):
        seen["config"] = config
        raise cli_run.LaunchError("captured")

    monkeypatch.setattr(cli_run, "launch", capture)
    args = ["run", str(tmp_path / "r"), "--env", "dryrun", "--runner", "zero", "--llm", "llamacpp:smollm2"]
    CliRunner().invoke(main, args)
    default = seen["config"].llm["alpha"]
    assert (default["stream"], default["max_output_tokens"], default["read_timeout_s"], default["edit_format"]) == \
        (True, 1024, 120.0, "auto")  # what works on a CPU server
    CliRunner().invoke(main, args + ["--llm-max-tokens", "77", "--llm-timeout", "33", "--llm-no-stream",
                                     "--llm-edit-format", "text_whole_file"])
    e = seen["config"].llm["beta"]
    assert (e["stream"], e["max_output_tokens"], e["read_timeout_s"], e["edit_format"]) == (False, 77, 33.0,
                                                                                            "text_whole_file")
