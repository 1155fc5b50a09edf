"""The model client against the fake server on loopback: three wire formats, streamed and not,
tool calls both ways, usage and cost; retries, quota, timeouts, malformed replies; keys."""

import asyncio
import gc
import time
import weakref

import pytest

from agents.llm.client import EndpointRefused, LLMClient, LLMError, QuotaExhausted, request_hash
from agents.llm.config import ConfigError, Endpoint, Price, from_shortcut, load_config
from agents.llm.wire import APIS, Conversation, Message, Tool, ToolCall
from tests.fake_llm_server import FakeLLM

TOOLS = [Tool(name="edit", description="edit a file", parameters={"type": "object", "properties": {
    "path": {"type": "string"}}, "required": ["path"]})]
PRICE = Price(input=2.0, cached_input=0.5, output=8.0)


def ep(fake, api, stream=False, **kw) -> Endpoint:
    base = fake.base_url if api != "anthropic_messages" else fake.base_url.removesuffix("/v1")
    return Endpoint(name="fake", api=api, base_url=base, model="m", stream=stream, price=PRICE, **kw)


def conv(*messages) -> Conversation:
    return Conversation(system="You are the specialist `alpha`.", messages=list(messages) or [
        Message(role="user", content="hello")], tools=TOOLS)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("api", APIS)
def test_a_tool_calling_conversation_in_each_format(api, stream):
    script = {"alpha": [
        {"text": "Let me edit.", "tool_calls": [{"name": "edit", "arguments": {"path": "a.py"}}],
         "usage": {"input": 1000, "cached": 400, "output": 50}},
        {"text": "Done, thanks.", "usage": {"input": 1200, "cached": 1000, "output": 10}},
    ]}
    with FakeLLM(script) as fake:
        client, e = LLMClient(), ep(fake, api, stream)
        first = asyncio.run(client.complete(e, conv()))
        r = first.reply
        assert r.text == "Let me edit." and r.finish == "tool_calls"
        assert [(c.name, c.arguments.replace(" ", "")) for c in r.tool_calls] == [("edit", '{"path":"a.py"}')]
        assert (r.usage.input, r.usage.cached_input, r.usage.output) == (1000, 400, 50)
        assert first.cost_usd == pytest.approx((600 * 2.0 + 400 * 0.5 + 50 * 8.0) / 1e6)
        follow = conv(Message(role="user", content="hello"),
                      Message(role="assistant", content=r.text, tool_calls=r.tool_calls),
                      Message(role="tool", tool_call_id=r.tool_calls[0].id, content="applied"))
        second = asyncio.run(client.complete(e, follow))
        assert second.reply.text == "Done, thanks." and second.reply.finish == "stop"
        assert second.reply.usage.cached_input == 1000
        sent = fake.requests[1].body
        assert "applied" in str(sent) and r.tool_calls[0].id in str(sent)  # the tool result went back, by id
        assert bool(sent.get("stream")) == stream


def test_usage_is_estimated_when_the_server_sends_none():
    with FakeLLM({"alpha": [{"text": "x" * 400}]}) as fake:
        e = ep(fake, "openai_chat", stream=True, extra_body={"stream_options": None})  # no usage chunk asked for
        ex = asyncio.run(LLMClient().complete(e, conv()))
        assert ex.reply.usage.estimated and ex.reply.usage.output == 100


def test_429_is_retried_after_the_advertised_delay():
    script = {"alpha": [{"status": 429, "headers": {"retry-after": "1"}, "body": {"error": {"message": "slow down"}}},
                        {"text": "ok"}]}
    with FakeLLM(script) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        gap = fake.requests[1].at - fake.requests[0].at
        assert ex.reply.text == "ok" and 0.95 <= gap < 3
        assert [a.status for a in ex.attempts] == [429, 200] and ex.attempts[0].waited_s == 1.0


def test_5xx_and_timeouts_are_retried_with_backoff():
    script = {"alpha": [{"status": 500}, {"delay_s": 1.5, "text": "late"}, {"text": "ok"}]}
    with FakeLLM(script) as fake:
        e = ep(fake, "anthropic_messages", read_timeout_s=0.5)
        ex = asyncio.run(LLMClient().complete(e, conv()))
        assert ex.reply.text == "ok"
        assert ex.attempts[0].status == 500 and "Timeout" in ex.attempts[1].error


def test_quota_errors_are_never_retried():
    script = {"alpha": [{"status": 429, "body": {"error": {"type": "insufficient_quota", "message": "no money"}}},
                        {"text": "should not be reached"}]}
    with FakeLLM(script) as fake:
        with pytest.raises(QuotaExhausted, match="out of quota"):
            asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert len(fake.requests) == 1


def test_a_client_error_is_not_retried_and_says_what_came_back():
    with FakeLLM({"alpha": [{"status": 400, "body": {"error": {"message": "bad tool schema"}}}]}) as fake:
        with pytest.raises(LLMError, match="HTTP 400.*bad tool schema"):
            asyncio.run(LLMClient().complete(ep(fake, "openai_responses"), conv()))
        assert len(fake.requests) == 1


def test_a_malformed_body_is_an_exchange_with_an_error_not_an_exception():
    with FakeLLM({"alpha": [{"malformed": True}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert ex.reply is None and "expected shape" in ex.error


def test_the_key_is_sent_but_never_kept(monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-secret-123")
    with FakeLLM({"alpha": [{"text": "ok"}]}) as fake:
        e = ep(fake, "openai_chat", api_key_env="FAKE_KEY")
        ex = asyncio.run(LLMClient().complete(e, conv()))
        assert fake.requests[0].had_key
        assert "sk-secret-123" not in repr(ex) and "sk-secret-123" not in repr(e.public())


def test_the_replay_key_ignores_streaming_and_follows_content():
    a = request_hash("openai_chat", {"model": "m", "messages": [1], "stream": True, "stream_options": {}})
    assert a == request_hash("openai_chat", {"model": "m", "messages": [1]})
    assert a != request_hash("openai_chat", {"model": "m", "messages": [2]})


def test_shortcuts_and_config_files(tmp_path):
    e = from_shortcut("ollama:qwen2.5-coder:14b")
    assert (e.model, e.base_url, e.api, e.api_key_env) == ("qwen2.5-coder:14b", "http://localhost:11434/v1",
                                                           "openai_chat", "")
    assert from_shortcut("anthropic:claude").api == "anthropic_messages"
    with pytest.raises(ConfigError, match="unknown provider"):
        from_shortcut("nope:x")
    cfg = tmp_path / "llm.toml"
    cfg.write_text('[endpoints.local]\nbase_url = "http://127.0.0.1:8080/v1"\nmodel = "q"\n'
                   'price = { input = 1.0, output = 2.0 }\n')
    assert load_config(cfg)["local"].price.output == 2.0
    cfg.write_text('[endpoints.local]\nbase_url = "x"\nmodel = "q"\ntemprature = 0.2\n')
    with pytest.raises(ConfigError, match=r"endpoints.local.*temprature"):
        load_config(cfg)


def test_concurrency_per_endpoint_is_limited():
    with FakeLLM({"alpha": [{"delay_s": 0.3, "text": "x"}] * 4}) as fake:
        e = ep(fake, "openai_chat", max_concurrency=2)

        async def four():
            return await asyncio.gather(*(LLMClient().complete(e, conv()) for _ in range(4)))

        started = time.monotonic()
        asyncio.run(four())
        assert time.monotonic() - started >= 0.6  # two waves of two


def test_a_concurrency_limit_is_never_taken_from_another_endpoint_or_a_finished_loop():
    """Slots belong to one event loop and one endpoint limit: a loop that has finished leaves
    none behind (a new loop may get its id()), and the same name with another limit gets its own."""
    with FakeLLM({"alpha": [{"delay_s": 0.3, "text": "x"}] * 4}) as fake:
        wide, narrow = ep(fake, "openai_chat", max_concurrency=4), ep(fake, "openai_chat", max_concurrency=1)

        async def wide_then_narrow():
            await LLMClient().complete(wide, conv())
            started = time.monotonic()
            await asyncio.gather(*(LLMClient().complete(narrow, conv()) for _ in range(2)))
            return time.monotonic() - started

        async def one_wide():
            return asyncio.get_running_loop(), await LLMClient().complete(wide, conv())

        assert asyncio.run(wide_then_narrow()) >= 0.6  # one at a time, not the wider endpoint's four
        loop, _ = asyncio.run(one_wide())
        ref = weakref.ref(loop)
        del loop
        gc.collect()
        assert ref() is None  # a finished loop is freed, and its slots with it: none outlive it


def test_tool_call_ids_survive_each_format_round_trip():
    from agents.llm.wire import request_body

    call = ToolCall(id="call_9", name="edit", arguments='{"path": "a.py"}')
    c = conv(Message(role="user", content="hi"), Message(role="assistant", content="", tool_calls=[call]),
             Message(role="tool", tool_call_id="call_9", content="done"))
    for api in APIS:
        assert str(request_body(api, "m", c, 100)).count("call_9") == 2, api


@pytest.mark.parametrize("status, hint", [(401, "API key"), (403, "may not use this model"), (404, "no such model")])
def test_a_refused_key_or_model_is_not_retried_and_says_what_to_fix(status, hint):
    """Waiting does not fix a revoked key or a misspelt model: one request, and an error that
    names the status, the endpoint's model and what to check."""
    script = {"alpha": [{"status": status, "body": {"error": {"message": "nope"}}}, {"text": "never reached"}]}
    with FakeLLM(script) as fake:
        with pytest.raises(EndpointRefused, match=f"HTTP {status} from .*{hint}.*model .m.") as refused:
            asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert len(fake.requests) == 1
    assert refused.value.exchange.outcome == "refused"


def test_a_refusal_the_server_says_to_retry_is_retried():
    script = {"alpha": [{"status": 401, "headers": {"x-should-retry": "true"}, "body": {"error": {"message": "rotating"}}},
                        {"text": "ok"}]}
    with FakeLLM(script) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
    assert ex.reply.text == "ok" and [a.status for a in ex.attempts] == [401, 200]


def test_a_wait_past_the_cap_is_handed_on_so_the_agent_waits_as_long():
    script = {"alpha": [{"status": 429, "headers": {"retry-after": "3600"}, "body": {"error": {"message": "busy"}}},
                        {"text": "never reached"}]}
    with FakeLLM(script) as fake:
        with pytest.raises(LLMError, match="longer than 60 s") as failed:
            asyncio.run(LLMClient().complete(ep(fake, "openai_chat", retry_cap_s=60.0), conv()))
        assert len(fake.requests) == 1
    assert failed.value.retry_after_s == 3600.0
