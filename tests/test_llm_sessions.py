"""LLM specialists in the loop (the local loop; the Ray loop is the same reactor): sessions that
edit and submit, repairs that end in invalid_edit, a quota that stops one agent, and keys that
appear nowhere."""

from pathlib import Path

import msgspec
import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.library import LibraryProposer
from agents.llm.config import Endpoint
from agents.llm.session import Limits, LLMProposer
from autorecipe.verify import verify_run
from environments import registry
from events import RunDir, RunState
from tests.fake_llm_server import FakeLLM
from tests.llm_responders import climber, never_submits

SPEC = registry.get("dryrun")


def _endpoint(fake, api="openai_chat", **kw):
    base = fake.base_url.removesuffix("/v1") if api == "anthropic_messages" else fake.base_url
    return Endpoint(name="fake", api=api, base_url=base, model="fake-model", retries=1, **kw)


def _run(path: Path, proposers: dict, trials: int = 6):
    config = RunConfig(env="dryrun", runner="zero", fsync=False, trials=trials, agents=list(proposers))
    run_local(path, SPEC, config, proposers, executors=1)
    audit = verify_run(path)  # every run here passes replay --verify, its verdicts re-derived
    assert audit.divergences == [] and audit.verdicts_checked >= 1, audit.divergences
    records = list(RunDir(path).reader().iter_records())
    return records, RunState().apply_all(records)


@pytest.mark.parametrize("api", ["openai_chat", "openai_responses", "anthropic_messages"])
def test_llm_specialists_propose_and_their_trials_are_judged(tmp_path, api):
    with FakeLLM(responder=climber) as fake:
        ep = _endpoint(fake, api, stream=api == "anthropic_messages")
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(ep), "beta": LLMProposer(ep)})
    rows = [r for r in st.trials.rows.values() if r.trial_id != "t0000"]
    assert len(rows) == 6 and all(r.phase == "evaluated" for r in rows)
    assert st.trials.best.score < st.trials.rows["t0000"].score
    exchanges = [r.event for r in records if r.type == "llm.exchanged"]
    assert len(exchanges) == 3 * 6  # edit, check, submit
    assert all(e.usage.input_tokens > 0 and e.request_hash for e in exchanges)
    sessions = [r.event for r in records if r.type == "agent.session_ended"]
    assert {s.outcome for s in sessions} == {"submitted"}
    assert st.ledger.total.llm_calls == 18


def test_past_the_repair_limit_a_session_is_a_labelled_invalid_edit(tmp_path):
    with FakeLLM(responder=never_submits) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake), limits=Limits(repairs=2))}, trials=2)
        second = fake.requests[1].body["messages"]
    rows = [r for r in st.trials.rows.values() if r.trial_id != "t0000"]
    assert [r.status for r in rows] == ["invalid_edit", "invalid_edit"]
    assert "repairs" in rows[0].feedback
    tool_errors = [m["content"] for m in second if m["role"] == "tool"]
    assert tool_errors and tool_errors[0].startswith("ERROR")
    third_turn = [m["content"] for m in fake.requests[2].body["messages"] if m["role"] == "tool"]
    assert any("closest lines" in t and "A = 0.0" in t for t in third_turn)  # the nearest lines, to correct with


def test_a_quota_error_stops_that_agent_and_the_others_go_on(tmp_path):
    quota = {"status": 429, "body": {"error": {"type": "insufficient_quota", "message": "You exceeded your quota"}}}
    with FakeLLM(script={"alpha": [quota]}, responder=climber) as fake:
        ep = _endpoint(fake)
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(ep), "beta": LLMProposer(ep)}, trials=3)
    ended = [r.event for r in records if r.type == "agent.session_ended" and r.event.agent == "alpha"]
    assert [e.outcome for e in ended] == ["quota"] and "quota" in ended[0].detail
    assert {r.agent for r in st.trials.rows.values() if r.trial_id != "t0000"} == {"beta"}
    assert st.run.stopped == "trial_budget"


def test_an_api_key_appears_nowhere_in_the_run(tmp_path, monkeypatch, capsys):
    secret = "sk-test-DO-NOT-LEAK-4242"
    monkeypatch.setenv("FAKE_LLM_KEY", secret)
    with FakeLLM(responder=climber) as fake:
        ep = _endpoint(fake, api_key_env="FAKE_LLM_KEY")
        _run(tmp_path / "r", {"alpha": LLMProposer(ep), "beta": LibraryProposer()}, trials=3)
        assert all(r.had_key for r in fake.requests)
    for f in (tmp_path / "r").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    assert secret not in msgspec.json.encode(ep).decode()


def test_truncated_replies_are_the_models_to_repair_and_past_the_limit_an_invalid_edit(tmp_path):
    cut = [{"truncated": True, "text": "SEARCH: A = 0.0 REPL"}] * 4
    with FakeLLM(script={"alpha": cut}, responder=climber) as fake:
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake))}, trials=2)
    first, second = (st.trials.rows[t] for t in ("t0001", "t0002"))
    assert first.status == "invalid_edit" and "repairs" in first.feedback and "cut off" in first.feedback
    assert second.status in ("keep", "discard")  # the next session, with a working model, goes on


def test_a_reply_that_is_not_one_is_the_servers_failure_not_an_invalid_edit_of_the_model(tmp_path):
    """A broken server (a web page with HTTP 200, a body of the wrong shape) used to be repaired
    as if the model had erred, and past the repair limit became an invalid_edit trial: a broken
    proxy spent the whole trial budget in seconds, and the endpoint_failing stop never came."""
    with FakeLLM(script={"alpha": [{"malformed": True}]}, responder=climber) as fake:
        ep = _endpoint(fake)
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(ep), "beta": LLMProposer(ep)}, trials=3)
    ended = [r.event for r in records if r.type == "agent.session_ended" and r.event.agent == "alpha"]
    assert ended[0].outcome == "error" and "is not a openai_chat reply" in ended[0].detail, ended[0]
    assert ended[0].turns == 1  # no repair was asked for
    assert "invalid_edit" not in {r.status for r in st.trials.rows.values()}
    errors = [r.event.error for r in records if r.type == "llm.exchanged" and r.event.error]
    assert errors and "expected shape" in errors[0]  # the answer is recorded, for the audit


def test_whole_file_endpoints_get_a_write_file_tool(tmp_path):
    def writer(tag, api, body):
        if body["messages"][-1]["role"] == "tool":
            return {"tool_calls": [{"name": "submit", "arguments": {"hypothesis": "A at its optimum"}}]}
        text = body["messages"][1]["content"]
        program = text[text.index("```python\n") + 10:text.rindex("```")].rstrip("\n") + "\n"
        return {"tool_calls": [{"name": "write_file", "arguments": {
            "path": "knobs.py", "content": program.replace("A = 0.0", "A = 3.0")}}]}

    with FakeLLM(responder=writer) as fake:
        _, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake, edit_format="whole_file"))}, trials=1)
        names = [t["function"]["name"] for t in fake.requests[0].body["tools"]]
    assert "write_file" in names and "edit" not in names
    assert st.trials.rows["t0001"].status == "keep" and st.trials.rows["t0001"].score == 6.0


def _widener(tag, api, body):
    """Too wide first (the size rule blocks it), checks, narrows after the failed check, checks, submits."""
    results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    last = results[-1] if results else ""
    if not results:
        return {"tool_calls": [{"name": "edit", "arguments": {"path": "knobs.py", "search": "WIDTH = 32",
                                                               "replace": "WIDTH = 64"}}]}
    if last.startswith("applied"):
        return {"tool_calls": [{"name": "check", "arguments": {}}]}
    if last.startswith("not ready"):
        return {"tool_calls": [{"name": "edit", "arguments": {"path": "knobs.py", "search": "WIDTH = 64",
                                                               "replace": "WIDTH = 36"}}]}
    return {"tool_calls": [{"name": "submit", "arguments": {"hypothesis": "WIDTH 36 fits the cap and lowers 64/WIDTH"}}]}


def test_check_runs_the_preflight_and_says_what_passed_and_what_failed(tmp_path):
    with FakeLLM(responder=_widener) as fake:
        _, st = _run(tmp_path / "r", {"alpha": LLMProposer(_endpoint(fake))}, trials=1)
        replies = [m["content"] for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    failed, passed = (r for r in replies if r.startswith(("not ready", "ok")))
    assert failed.startswith("not ready: 1 of 5 checks failed")
    assert "FAIL artifact_bytes: WIDTH x PRECISION x 100 = 64 x 16 x 100 = 102,400 bytes" in failed
    assert all(f"PASS {n}:" in failed for n in ("syntax", "surface", "compiles", "harness_names"))
    assert passed.startswith("ok: all 5 checks passed") and "PASS artifact_bytes" in passed
    assert st.trials.rows["t0001"].status == "keep"  # the trial it spent was the one that fits


def _cost_run(tmp_path, monkeypatch, price: str, *args):
    """`autorecipe run --cost-usd ...` on dryrun against the fake server, the loop stepped locally
    (launch swapped for run_local: the CLI's parsing and RunConfig are what is under test)."""
    from types import SimpleNamespace

    from click.testing import CliRunner

    from autorecipe import cli_run
    from autorecipe.cli import main
    from autorecipe.launch import default_proposers

    def local_launch(run_dir, config, **kw):
        run_local(run_dir, SPEC, config, default_proposers(config, ["alpha", "beta"]), executors=1)
        return SimpleNamespace(state=RunState().apply_all(RunDir(run_dir).reader().iter_records()), run_dir=run_dir)

    monkeypatch.setattr(cli_run, "launch", local_launch)
    with FakeLLM(responder=climber) as fake:
        cfg = tmp_path / "llm.toml"
        cfg.write_text(f'[endpoints.fake]\nbase_url = "{fake.base_url}"\nmodel = "fake-model"\nretries = 1\n{price}\n')
        result = CliRunner().invoke(main, ["run", str(tmp_path / "r"), "--env", "dryrun", "--runner", "zero",
                                           "--llm-config", str(cfg), "--llm", "fake", "--trials", "6", *args])
    return result


def test_run_cost_usd_stops_the_run_when_the_priced_llm_spend_reaches_it(tmp_path, monkeypatch):
    # $1,000 per million tokens: the fake's first call (hundreds of tokens) alone passes $0.05
    result = _cost_run(tmp_path, monkeypatch, "price = { input = 1000.0, output = 1000.0 }", "--cost-usd", "0.05")
    assert result.exit_code == 0, result.output
    records = list(RunDir(tmp_path / "r").reader().iter_records())
    st = RunState().apply_all(records)
    assert RunConfig.from_dict(records[0].event.config).cost_usd == 0.05
    stop = next(r.event for r in records if r.type == "run.stop_requested")
    assert stop.reason == "cost_budget" and stop.detail.startswith("LLM spend $") and "reached $0.05" in stop.detail
    assert st.run.stopped == "cost_budget" and st.ledger.total.usd >= 0.05
    assert len(st.trials.rows) - 1 < 6  # stopped before the trial budget


def test_run_cost_usd_without_a_priced_endpoint_is_refused_and_help_says_how_cost_is_summed(tmp_path, monkeypatch):
    result = _cost_run(tmp_path, monkeypatch, "", "--cost-usd", "1")
    assert result.exit_code == 2 and "no endpoint of this run has a price" in result.output
    assert not (tmp_path / "r").exists()
    from click.testing import CliRunner

    from autorecipe.cli import main

    text = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    assert "--cost-usd" in text and "(llm.exchanged), priced from its usage by the endpoint's price table" in text


def test_a_refused_key_stops_each_agent_once_and_the_run_ends(tmp_path):
    """Every specialist's key revoked: each session ends `refused` (not `error`, which is retried
    with back-off for ever), the agents stop, and the supervisor ends the run saying why."""
    refused = {"status": 401, "body": {"error": {"message": "Incorrect API key provided"}}}
    with FakeLLM(script={"alpha": [refused], "beta": [refused]}, responder=climber) as fake:
        ep = _endpoint(fake)
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(ep), "beta": LLMProposer(ep)}, trials=3)
        calls = len(fake.requests)
    ended = [r.event for r in records if r.type == "agent.session_ended"]
    assert sorted((e.agent, e.outcome) for e in ended) == [("alpha", "refused"), ("beta", "refused")]
    assert all("HTTP 401" in e.detail and "--resume" in e.detail for e in ended)
    assert calls == 2 and list(st.trials.rows) == ["t0000"]
    assert st.run.stopped == "error"
    stop = next(r.event for r in records if r.type == "run.stop_requested")
    assert "no specialist can act" in stop.detail and "API key" in stop.detail


def test_a_session_that_failed_on_a_long_retry_after_waits_that_long(tmp_path):
    """The server asked for an hour: the agent's next session is not due in the back-off's
    30 s, where it would only be told again."""
    import time

    from actors.log_client import LocalLog
    from actors.specialist import FIRST_BACKOFF_S, Specialist
    from agents.proposer import Outcome
    from events import EventStore

    log = LocalLog(EventStore(tmp_path / "log", fsync=False), RunDir(tmp_path).blobs())
    agent = Specialist(log, SPEC, "alpha", LibraryProposer())
    agent.outcome_of(Outcome(None, "error", "HTTP 429", retry_after_s=3600.0))
    assert agent.retry_at - time.monotonic() > 3500
    agent.outcome_of(Outcome(None, "error", "HTTP 503"))
    assert FIRST_BACKOFF_S <= agent.retry_at - time.monotonic() <= 2 * FIRST_BACKOFF_S + 1


def test_an_endpoint_that_fails_every_session_stops_its_specialist_after_hours_of_backoff(tmp_path):
    """A server answering 500 to every call (after the client's own retries) is waited out on the
    back-off, but not for ever: after FAILING_SESSIONS in a row the agent stops, and a session
    that got through resets the count."""
    from actors.log_client import LocalLog
    from actors.specialist import FAILING_SESSIONS, MAX_BACKOFF_S, Specialist
    from agents.proposer import STOPS_FOR_GOOD, Outcome
    from events import EventStore

    log = LocalLog(EventStore(tmp_path / "log", fsync=False), RunDir(tmp_path).blobs())
    agent = Specialist(log, SPEC, "alpha", LibraryProposer())
    for _ in range(FAILING_SESSIONS - 1):
        assert agent.outcome_of(Outcome(None, "error", "HTTP 500 after 5 attempts")).outcome == "error"
    assert agent.outcome_of(Outcome(None, "exhausted")).outcome == "exhausted"  # one got through
    waited = 0.0
    for i in range(FAILING_SESSIONS):
        ended = agent.outcome_of(Outcome(None, "error", "HTTP 500 after 5 attempts"))
        if i < FAILING_SESSIONS - 1:
            assert ended.outcome == "error" and not agent.stopped
            waited += agent.backoff
    assert ended.outcome == "endpoint_failing" and ended.outcome in STOPS_FOR_GOOD and agent.stopped
    assert "HTTP 500" in ended.detail and "--resume" in ended.detail
    assert 3600 < waited <= FAILING_SESSIONS * MAX_BACKOFF_S  # hours of waiting first, not minutes
