"""What a hostile or broken model server sends, found by an adversary: arguments of the wrong
type, token counts no call can have, a wait of forever, expressions too deep for Python's parser
and model lists of the wrong shape. Each must end as a repair for the model or a failed call,
never as a log no reader can open, a crashed agent, or an agent parked for good."""

import math
import time

import httpx
import pytest

from actors.specialist import MAX_ASKED_WAIT_S, Specialist
from agents.changes import EditError, make_change
from agents.library import LibraryProposer
from agents.llm.client import LLMClient
from agents.llm.config import Endpoint
from agents.llm.probe import ProbeError, probe
from agents.llm.session import LLMProposer
from agents.llm.wire import Conversation, Message
from agents.proposer import Outcome
from environments import preflight, registry
from environments.spec import Edit
from events import EventStore, RunDir
from tests.fake_llm_server import FakeLLM
from tests.llm_responders import climber
from tests.test_llm_sessions import _endpoint, _run

SPEC = registry.get("dryrun")
EDIT = {"name": "edit", "arguments": {"path": "knobs.py", "search": "A = 0.0", "replace": "A = 3.0"}}


@pytest.mark.parametrize("args", [{"hypothesis": "h", "expected_delta": "a lot"}, {"hypothesis": "h", "notes": ["a"]},
                                  {"hypothesis": 12345}, {"hypothesis": "h", "expected_delta": True}])
def test_submit_arguments_of_the_wrong_type_are_repaired_and_never_reach_the_log(tmp_path, args):
    """Before: `expected_delta: "a lot"` went into a TrialProposed the readers then called damage,
    and the whole run (segment 0 on) could no longer be replayed or resumed."""
    script = [{"tool_calls": [EDIT]}, {"tool_calls": [{"name": "submit", "arguments": args}]}]
    with FakeLLM(script={"alpha": script}, responder=climber) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake))}, trials=1)  # replays --verify
        sent_back = [m["content"] for m in fake.requests[2].body["messages"] if m["role"] == "tool"]
    bad = next(iter(k for k in args if k != "hypothesis" or not isinstance(args[k], str)))
    assert any(t.startswith("ERROR: submit: argument") and repr(bad) in t for t in sent_back), sent_back
    proposed = [r.event for r in records if r.type == "trial.proposed"]  # the log read back, typed
    assert all(isinstance(e.expected_delta, (float, type(None))) and isinstance(e.notes, str) for e in proposed)


def test_an_edit_with_a_number_for_its_search_is_a_repair_not_a_crashed_agent(tmp_path):
    script = [{"tool_calls": [{"name": "edit", "arguments": {"path": "knobs.py", "search": 5, "replace": "x"}}]}]
    with FakeLLM(script={"alpha": script}, responder=climber) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake))}, trials=1)
        sent_back = [m["content"] for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert any("argument 'search'" in t and "Expected `str`" in t for t in sent_back), sent_back
    ended = [r.event.outcome for r in records if r.type == "agent.session_ended"]
    assert ended == ["submitted"]


@pytest.mark.parametrize("usage", [{"input": -10**12, "cached": 0, "output": 5},
                                   {"input": 2**64 - 1, "cached": 2**64 - 1, "output": 5}])
def test_token_counts_no_call_can_have_are_the_servers_failure_not_spend(usage):
    """Before: a negative count paid back the cost cap, and one past 2^64 could not be encoded, so
    the exchange was lost from the log."""
    with FakeLLM(script={"x": [{"text": "hi", "usage": usage}]}) as fake:
        ep = Endpoint(name="fake", base_url=fake.base_url, model="fake-model", retries=0)
        import asyncio

        ex = asyncio.run(LLMClient().complete(ep, Conversation(system="specialist `x`",
                                                               messages=[Message(role="user", content="hi")])))
    assert ex.reply is None and ex.server_fault and "usage" in ex.error, ex.error
    assert ex.usage.input == 0 and ex.cost_usd == 0.0


def test_a_retry_after_of_forever_is_waited_out_for_an_hour_at_most(tmp_path):
    log_dir = tmp_path / "log"
    from actors.log_client import LocalLog

    agent = Specialist(LocalLog(EventStore(log_dir, fsync=False), RunDir(tmp_path).blobs()), SPEC, "alpha",
                       LibraryProposer())
    for asked in (math.inf, 251_605_647_011.0):  # "inf"; Fri, 31 Dec 9999 23:59:59 GMT
        agent.outcome_of(Outcome(None, "error", "HTTP 429", retry_after_s=asked))
        assert agent.retry_at - time.monotonic() <= MAX_ASKED_WAIT_S + 1
    assert agent.failing == 2  # each counts toward endpoint_failing


@pytest.mark.parametrize("expression", ["1+" * 5000 + "1", "-" * 200_000 + "1", "(" * 300 + "1" + ")" * 300])
def test_an_expression_too_deep_for_the_parser_is_an_invalid_edit(expression):
    code = SPEC.baseline_code()
    try:
        make_change(code, [Edit("knobs.py", "A = 0.0", f"A = {expression}")])
    except EditError as exc:
        assert "knobs.py" in str(exc)
    check = preflight.compiles({**code, "knobs.py": f"A = {expression}\n".encode()})
    assert check.passed or "knobs.py" in check.evidence  # a verdict either way, never a RecursionError


@pytest.mark.parametrize("models", [{"data": [{"id": "m"}, {"id": 7}]}, {"data": [{"id": None}]},
                                    {"data": [{"id": "m", "max_model_len": 1e30}]},
                                    {"data": [{"id": "m", "meta": {"n_ctx": -4}}]}])
def test_a_model_list_of_the_wrong_shape_is_a_probe_error_naming_the_endpoint(models):
    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=models)
        return httpx.Response(404)

    with pytest.raises(ProbeError, match="endpoint x at http://junk/v1.*did not answer a model list"):
        probe(Endpoint(name="x", base_url="http://junk/v1", model="m"), transport=httpx.MockTransport(server))


def test_whatever_slips_past_a_proposer_is_refused_at_the_logs_door_and_the_log_stays_readable(tmp_path):
    from actors.log_client import LocalLog
    from events import InvalidEvent, NewEvent, TrialProposed, new_event_id
    from tests.conftest import proposed

    log = LocalLog(EventStore(tmp_path / "log", fsync=False), RunDir(tmp_path).blobs())
    good = proposed("t0001", None, "alpha")
    forged = TrialProposed(**{**{f: getattr(good, f) for f in good.__struct_fields__}, "expected_delta": "a lot"})
    for event in (forged, TrialProposed(**{**{f: getattr(good, f) for f in good.__struct_fields__}, "notes": ["x"]})):
        with pytest.raises(InvalidEvent, match="trial.proposed from specialist/alpha on trial/t0001"):
            log.append([NewEvent(event=event, stream="trial/t0001", event_id=new_event_id(), producer="specialist/alpha")])
    log.append([NewEvent(event=good, stream="trial/t0001", event_id=new_event_id(), producer="specialist/alpha")])
    assert [r.event for r in RunDir(tmp_path).reader().iter_records()] == [good]


def test_a_reply_of_thousands_of_tool_calls_is_one_repair_and_none_of_them_run(tmp_path):
    """Before: 20,000 read_file calls a reply grew each request by 9 MB, and the run directory by
    2.5 GB in 100 s, on a server that reported no usage."""
    from agents.llm.session import MAX_TOOL_CALLS

    reads = [{"name": "read_file", "arguments": {"path": "knobs.py"}}] * 2000
    script = [{"tool_calls": reads}]
    with FakeLLM(script={"alpha": script}, responder=climber) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake))}, trials=1)
        second = fake.requests[1].body["messages"]
    assert not any(m["role"] == "tool" for m in second)  # not one of them was run
    assert f"make at most {MAX_TOOL_CALLS}" in second[-1]["content"]
    assert sum(len(m["content"] or "") for m in second) < 50_000


def test_a_server_that_reports_no_usage_has_its_requests_counted_from_their_size():
    import asyncio

    import orjson

    bare = {"raw": orjson.dumps({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]})}
    with FakeLLM(script={"x": [bare]}) as fake:
        ep = Endpoint(name="fake", base_url=fake.base_url, model="fake-model", retries=0)
        big = "x" * 300_000
        ex = asyncio.run(LLMClient().complete(ep, Conversation(system="specialist `x`",
                                                               messages=[Message(role="user", content=big)])))
    assert ex.usage.estimated and ex.usage.input >= 300_000 // 3


@pytest.mark.parametrize("text", ["<think>" * 40_000, "\n" * 400_000 + "HYPOTHESIS: h", " \n" * 200_000])
def test_text_replies_are_parsed_in_linear_time(text):
    """`<think>.*?</think>` and `^\\s*HYPOTHESIS` with re.M were quadratic: 8 s of CPU for 20,000
    unclosed <think> tags, about 29 hours for a reply at the 16 MB cap. CPU time, so a busy
    machine does not fail it."""
    from agents.llm import text_protocol

    started = time.process_time()
    with pytest.raises(text_protocol.FormatError):
        text_protocol.parse(text, ["knobs.py"], False)
    assert time.process_time() - started < 2.0


def test_a_model_that_never_submits_stops_its_specialist_and_the_run_ends(tmp_path):
    """Before: every session ended at its turn limit with no trial, so no budget was ever spent and
    sessions (each one's calls recorded) started for ever."""
    from actors.specialist import FRUITLESS_SESSIONS
    from agents.llm.session import Limits

    def reader(tag, api, body):
        return {"tool_calls": [{"name": "read_file", "arguments": {"path": "knobs.py"}}]}

    with FakeLLM(responder=reader) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake), limits=Limits(turns=2))}, trials=3)
    ended = [r.event for r in records if r.type == "agent.session_ended"]
    assert [e.outcome for e in ended] == ["limit"] * (FRUITLESS_SESSIONS - 1) + ["no_submission"]
    assert "--resume" in ended[-1].detail and st.run.stopped
