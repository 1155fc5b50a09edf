"""What real servers and proxies send that the happy path does not: billing errors at other
statuses, Retry-After as an HTTP date, x-should-retry, a 200 whose body is an error, a stream
request answered with plain JSON, a stream cut before its end, tool-call arguments as an object.
Each step copies a real server's answer; the source is cited at the step."""

import asyncio
import email.utils
import json
import time

import pytest

from agents.llm.client import LLMClient, LLMError, QuotaExhausted
from tests.fake_llm_server import FakeLLM
from tests.test_llm_client import conv, ep

# Anthropic answers an empty prepaid balance with HTTP 400, not 429 (anthropics/claude-code#4684 and
# many duplicates quote this body); OpenRouter with HTTP 402 (https://openrouter.ai/docs/api/errors)
ANTHROPIC_NO_CREDIT = {"status": 400, "body": {"type": "error", "error": {
    "type": "invalid_request_error", "message": "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits."}}}
OPENROUTER_NO_CREDIT = {"status": 402, "body": {"error": {
    "code": 402, "message": "Insufficient credits. Add more using https://openrouter.ai/credits"}}}


@pytest.mark.parametrize("step,api", [(ANTHROPIC_NO_CREDIT, "anthropic_messages"),
                                      (OPENROUTER_NO_CREDIT, "openai_chat")], ids=["anthropic_400", "openrouter_402"])
def test_an_empty_balance_is_quota_at_whatever_status_the_provider_uses(step, api):
    with FakeLLM({"alpha": [step, {"text": "never reached"}]}) as fake:
        with pytest.raises(QuotaExhausted) as info:
            asyncio.run(LLMClient().complete(ep(fake, api), conv()))
        assert info.value.exchange.outcome == "quota" and len(fake.requests) == 1


def test_retry_after_as_an_http_date_is_waited_for():
    """RFC 9110 §10.2.3: Retry-After is delay-seconds or an HTTP-date; the reference (§1.4) says
    honour both. Backoff alone would come back after at most 0.5 s."""
    when = email.utils.formatdate(time.time() + 2.5, usegmt=True)  # whole seconds: 1.5 to 2.5 s ahead
    script = {"alpha": [{"status": 503, "headers": {"retry-after": when}, "body": {"error": {"message": "busy"}}},
                        {"text": "ok"}]}
    with FakeLLM(script) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert ex.reply.text == "ok" and ex.attempts[0].waited_s >= 1.0
        assert fake.requests[1].at - fake.requests[0].at >= 1.0


def test_retry_after_as_a_date_past_the_cap_gives_up_at_once():
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    script = {"alpha": [{"status": 529, "headers": {"retry-after": when}, "body": {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}}, {"text": "never reached"}]}
    with FakeLLM(script) as fake:
        with pytest.raises(LLMError, match="longer than"):
            asyncio.run(LLMClient().complete(ep(fake, "anthropic_messages", retry_cap_s=60), conv()))
        assert len(fake.requests) == 1


def test_x_should_retry_overrides_the_status():
    """The OpenAI and Anthropic SDKs obey `x-should-retry` before the status (openai-python
    `_base_client.py` `_should_retry`); the reference (§1.4) says honour it."""
    script = {"alpha": [{"status": 500, "headers": {"x-should-retry": "false"}}, {"text": "never reached"}]}
    with FakeLLM(script) as fake:
        with pytest.raises(LLMError, match="HTTP 500"):
            asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert len(fake.requests) == 1
    script = {"alpha": [{"status": 400, "headers": {"x-should-retry": "true", "retry-after": "0"}}, {"text": "ok"}]}
    with FakeLLM(script) as fake:
        assert asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv())).reply.text == "ok"


def test_a_200_whose_body_is_an_error_is_classified_by_its_code():
    """OpenRouter: once the model started, errors come with status 200 and the error object in the
    body (https://openrouter.ai/docs/api/errors). A 502 in it is a server that is down: retried, not
    handed to the model as a reply to repair (which would end the session as invalid_edit)."""
    down = {"raw": json.dumps({"error": {"code": 502, "message": "Provider returned error"}})}
    with FakeLLM({"alpha": [down, {"text": "ok"}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert ex.reply.text == "ok" and len(ex.attempts) == 2
        assert "Provider returned error" in ex.attempts[0].error
    broke = {"raw": json.dumps({"error": {"code": 402, "message": "Insufficient credits"}})}
    with FakeLLM({"alpha": [broke, {"text": "never reached"}]}) as fake:
        with pytest.raises(QuotaExhausted):
            asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))


CHAT_BODY = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
             "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                 "role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                     "name": "edit", "arguments": {"path": "a.py"}}}]}}],
             "usage": {"prompt_tokens": 50, "completion_tokens": 7}}


def test_tool_call_arguments_sent_as_an_object_are_taken_as_their_json():
    """llama.cpp's server sent `arguments` as a JSON object for a while (ggml-org/llama.cpp#20198,
    then the --tool-args-object flag, #20202); Anthropic sends objects too. The call is good: it
    must not be thrown away as a malformed reply."""
    with FakeLLM({"alpha": [{"raw": json.dumps(CHAT_BODY)}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert ex.error is None and json.loads(ex.reply.tool_calls[0].arguments) == {"path": "a.py"}
        assert ex.usage.input == 50


def test_a_stream_request_answered_with_plain_json_is_read_as_that_json():
    """A server or proxy that does not stream (or reports an error before streaming, with status
    200) answers application/json. It is an answer, recorded, not a transport error retried."""
    body = {**CHAT_BODY, "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "plain"}}]}
    with FakeLLM({"alpha": [{"raw": json.dumps(body)}] * 8}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat", stream=True, retries=2), conv()))
        assert ex.reply.text == "plain" and len(fake.requests) == 1 and ex.response["body"]["model"] == "m"


def _anthropic_events(stop: bool):
    """Anthropic's event sequence (https://docs.anthropic.com/en/api/messages-streaming), cut
    before message_delta / message_stop unless `stop`."""
    ev = [("message_start", {"type": "message_start", "message": {
              "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "stop_reason": None,
              "usage": {"input_tokens": 20, "output_tokens": 1}}}),
          ("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}}),
          ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": "half a rep"}})]
    if stop:
        ev += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                  "usage": {"output_tokens": 4}}),
               ("message_stop", {"type": "message_stop"})]
    return [(n, json.dumps(e)) for n, e in ev]


def test_an_anthropic_stream_cut_before_message_stop_is_an_error_not_a_reply():
    """As a Chat stream without [DONE]: text cut mid-way must not be applied as an edit."""
    with FakeLLM({"alpha": [{"raw_events": _anthropic_events(stop=False)},
                            {"raw_events": _anthropic_events(stop=True)}]}) as fake:
        e = ep(fake, "anthropic_messages", stream=True)
        cut = asyncio.run(LLMClient().complete(e, conv()))
        assert cut.reply is None and "message_stop" in cut.error
        whole = asyncio.run(LLMClient().complete(e, conv()))
        assert whole.reply.text == "half a rep" and whole.reply.finish == "stop" and whole.usage.output == 4


def test_an_overload_reported_inside_an_anthropic_stream_is_retried_not_sent_to_the_model():
    """Anthropic: "an error can occur after returning a 200 response"; the docs' example is
    `event: error` with an overloaded_error (https://docs.anthropic.com/en/api/messages-streaming).
    Handed to the model it cost a repair and, repeated, ended the session as invalid_edit."""
    overloaded = [("message_start", _anthropic_events(stop=True)[0][1]),
                  ("error", json.dumps({"type": "error", "error": {"type": "overloaded_error",
                                                                    "message": "Overloaded"}}))]
    with FakeLLM({"alpha": [{"raw_events": overloaded}, {"raw_events": _anthropic_events(stop=True)}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "anthropic_messages", stream=True), conv()))
        assert ex.reply.text == "half a rep" and [a.status for a in ex.attempts] == [529, 200]
        assert "Overloaded" in ex.attempts[0].error


def test_a_provider_error_inside_a_chat_stream_is_retried_and_a_parse_failure_is_not():
    """OpenRouter sends a mid-stream failure as a chunk with an `error` field and finish_reason
    "error" (https://openrouter.ai/docs/api/reference/streaming, errors during streaming): the
    provider went away, so the call is tried again. llama.cpp's "Failed to parse" in a stream is
    the model's output at fault: it goes back to the model (test_llm_protocols)."""
    chunk = {"id": "gen-1", "object": "chat.completion.chunk", "model": "m", "provider": "openai",
             "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
             "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
    start = {"id": "gen-1", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": {"content": "Let me"}}]}
    events = [(None, json.dumps(start)), (None, json.dumps(chunk))]
    with FakeLLM({"alpha": [{"raw_events": events}, {"text": "ok"}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat", stream=True), conv()))
        assert ex.reply.text == "ok" and len(fake.requests) == 2
        assert "Provider disconnected" in ex.attempts[0].error


def test_a_stream_whose_event_never_ends_is_cut_at_the_byte_cap():
    """max_response_bytes holds for streams as for bodies: a server whose event never ends (one
    data line, or events separated by single newlines, so the parser never dispatches) costs at
    most the cap, not the whole stream held in the SSE parser's buffer."""
    import tracemalloc

    endless = {"huge": 30_000_000, "declare_length": False, "content_type": "text/event-stream"}
    with FakeLLM({"alpha": [endless]}) as fake:
        e = ep(fake, "openai_chat", stream=True, max_response_bytes=1 << 20)
        tracemalloc.start()
        try:
            ex = asyncio.run(LLMClient().complete(e, conv()))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert ex.reply is None and "larger than" in ex.error
        assert peak < 12 << 20  # the cap and change, not 30 MB (read whole, it peaked near 90 MB)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_anthropic_thinking_blocks_go_back_with_their_tool_calls(tmp_path, stream):
    """With extended thinking on (extra_body), Anthropic refuses a tool-use turn sent back without
    its signed thinking block, HTTP 400: every session failed at its second call."""
    from agents.llm.session import LLMProposer
    from tests.llm_responders import climber
    from tests.test_llm_sessions import _endpoint, _run

    def thinker(tag, api, body):
        return {**climber(tag, api, body), "thinking": "The knob should move one step."}

    with FakeLLM(responder=thinker) as fake:
        e = _endpoint(fake, "anthropic_messages", stream=stream,
                      extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}})
        records, st = _run(tmp_path / "r", {"alpha": LLMProposer(e)}, trials=1)
        second = fake.requests[1].body["messages"][1]["content"]
    assert [s.event.outcome for s in records if s.type == "agent.session_ended"] == ["submitted"]
    assert second[0]["type"] == "thinking" and second[0]["signature"].startswith("sig-")
    assert second[0]["thinking"] == "The knob should move one step."


@pytest.mark.parametrize("status", [301, 307, 308])
def test_a_redirect_fails_clearly_naming_where_it_points_and_is_not_retried(status):
    """httpx does not follow redirects by default. A base URL on http:// behind an https redirect, or
    a path a server redirects (Starlette's redirect_slashes answers 307), came back as a 3xx taken
    for an answer: an empty 'reply' the model was asked to repair, the session ending invalid_edit."""
    moved = {"status": status, "headers": {"location": "https://llm.example.org/v1/chat/completions"}, "body": {}}
    with FakeLLM({"alpha": [moved, {"text": "never reached"}]}) as fake:
        with pytest.raises(LLMError, match=rf"HTTP {status}.*https://llm.example.org/v1") as info:
            asyncio.run(LLMClient().complete(ep(fake, "openai_chat"), conv()))
        assert len(fake.requests) == 1 and info.value.exchange.outcome == "failed"


def test_a_body_that_fails_to_decode_is_a_recorded_failure_not_an_escaped_exception():
    """httpx raises DecodingError (a RequestError, not a TransportError: httpx's exception
    hierarchy, https://www.python-httpx.org/exceptions/) for a body that does not match its
    content-encoding. It escaped the client unrecorded and counted as the proposer crashing."""
    bad = {"raw": b"this is not gzip", "headers": {"content-encoding": "gzip"}}
    with FakeLLM({"alpha": [bad, bad]}) as fake:
        with pytest.raises(LLMError, match="DecodingError") as info:
            asyncio.run(LLMClient().complete(ep(fake, "openai_chat", retries=1), conv()))
        assert info.value.exchange is not None and len(info.value.exchange.attempts) == 2


def test_the_probe_names_a_redirect_instead_of_saying_no_model_list():
    import httpx

    from agents.llm.config import Endpoint
    from agents.llm.probe import ProbeError, probe

    def https_only(request):  # a proxy in front of the server: plain http goes to https
        return httpx.Response(301, headers={"location": str(request.url).replace("http://", "https://")})

    e = Endpoint(name="proxy", base_url="http://llm.example.org/v1", model="m")
    with pytest.raises(ProbeError, match=r"redirects \(HTTP 301\) to https://llm.example.org/v1/models"):
        probe(e, transport=httpx.MockTransport(https_only))


def _chunk(calls):
    return (None, json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m",
                              "choices": [{"index": 0, "delta": {"tool_calls": calls}}]}))


@pytest.mark.parametrize("shape", ["ollama_index_0", "gemini_no_index", "spec"])
def test_streamed_tool_calls_stay_apart_however_the_server_indexes_them(shape):
    """OpenAI streams each call under its own `index`, the id on its first delta. Ollama labels
    every call of a turn index 0 (vercel/ai#14277); Gemini's compatible endpoint omits `index`
    (openai/openai-python#2806). Keyed on index alone, two calls merged into one named
    "editcheck" with arguments '{...}{}', a malformed call the model was asked to repair."""
    a = {"id": "call_a", "type": "function", "function": {"name": "edit", "arguments": '{"path": "a.py"}'}}
    b = {"id": "call_b", "type": "function", "function": {"name": "check", "arguments": "{}"}}
    if shape == "ollama_index_0":
        events = [_chunk([{**a, "index": 0}]), _chunk([{**b, "index": 0}])]
    elif shape == "gemini_no_index":
        events = [_chunk([a]), _chunk([b])]
    else:  # the id and name first, the arguments after, under the same index
        events = [_chunk([{**a, "index": 0, "function": {"name": "edit", "arguments": ""}}]),
                  _chunk([{"index": 0, "function": {"arguments": '{"path": "a.py"}'}}]),
                  _chunk([{**b, "index": 1}])]
    events += [(None, json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m",
                                  "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
               (None, "[DONE]")]
    with FakeLLM({"alpha": [{"raw_events": events}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat", stream=True), conv()))
    assert [(c.id, c.name, json.loads(c.arguments)) for c in ex.reply.tool_calls] == [
        ("call_a", "edit", {"path": "a.py"}), ("call_b", "check", {})]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_failed_responses_answer_is_classified_by_its_error_code(stream):
    """A Responses answer with status "failed" carries error.code (server_error,
    rate_limit_exceeded, invalid_prompt, ...: the Response object's `error`,
    https://platform.openai.com/docs/api-reference/responses/object). A server_error is the server
    failing: retried, not handed to the model as a reply that "called no tool"."""
    failed = {"id": "resp_1", "object": "response", "status": "failed", "model": "m", "output": [],
              "error": {"code": "server_error", "message": "The model failed to generate a response."},
              "usage": None}
    step = ({"raw_events": [("response.failed", json.dumps({"type": "response.failed", "response": failed}))]}
            if stream else {"raw": json.dumps(failed)})
    with FakeLLM({"alpha": [step, {"text": "ok"}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_responses", stream=stream), conv()))
        assert ex.reply.text == "ok" and len(fake.requests) == 2 and "failed to generate" in ex.attempts[0].error
    refused = {**failed, "error": {"code": "invalid_prompt", "message": "Invalid prompt."}}
    step = ({"raw_events": [("response.failed", json.dumps({"type": "response.failed", "response": refused}))]}
            if stream else {"raw": json.dumps(refused)})
    with FakeLLM({"alpha": [step, {"text": "never reached"}]}) as fake:
        with pytest.raises(LLMError, match="Invalid prompt"):
            asyncio.run(LLMClient().complete(ep(fake, "openai_responses", stream=stream), conv()))
        assert len(fake.requests) == 1


def test_the_probe_sees_tools_on_a_llama_cpp_that_sends_arguments_as_an_object():
    """The same llama.cpp build (ggml-org/llama.cpp#20198) answered the start-up probe's ping with
    object arguments: the reply was thrown away and the run fell back to the text protocol."""
    import httpx

    from agents.llm.config import Endpoint
    from agents.llm.probe import probe

    def llama(request):
        path = request.url.path
        if path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "m", "meta": {"n_ctx": 8192}}]})
        if path.endswith("/props"):
            return httpx.Response(200, json={"default_generation_settings": {"n_ctx": 8192}})
        call = {"id": "c1", "type": "function", "function": {"name": "ping", "arguments": {"word": "hi"}}}
        return httpx.Response(200, json={"object": "chat.completion", "model": "m", "choices": [{
            "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
                                                                   "tool_calls": [call]}}]})

    e = Endpoint(name="local", base_url="http://127.0.0.1:8080/v1", model="m", edit_format="auto")
    assert probe(e, transport=httpx.MockTransport(llama)).edit_format == "search_replace"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_a_200_with_nothing_in_it_is_the_server_failing_and_is_retried(stream):
    """A proxy whose upstream failed before answering can pass on 200 with an empty body
    (coder/aibridge#56: "returning a 200 OK with a blank body"). There is no reply for the model to
    repair: it was one, and repeated, the session ended as invalid_edit."""
    empty = {"raw_events": []} if stream else {"raw": b""}
    with FakeLLM({"alpha": [empty, {"text": "ok"}]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat", stream=stream), conv()))
        assert ex.reply.text == "ok" and len(fake.requests) == 2 and "empty" in ex.attempts[0].error


def test_a_stream_of_keepalive_comments_alone_ends_at_the_call_deadline():
    """Bytes every 0.2 s reset the read timeout; only the call deadline ends it: recorded as a
    failed call with the time spent, no hang."""
    with FakeLLM({"alpha": [{"keepalive_s": 0.2}] * 3}) as fake:
        e = ep(fake, "openai_chat", stream=True, read_timeout_s=1.0, call_deadline_s=2.0)
        started = time.monotonic()
        with pytest.raises(LLMError, match="call deadline") as info:
            asyncio.run(LLMClient().complete(e, conv()))
        assert time.monotonic() - started < 15  # 2 s, with slack for a busy machine
        assert info.value.exchange.outcome == "failed" and info.value.exchange.latency_s >= 2.0


MISTRAL_CONTENT = [{"type": "thinking", "thinking": [{"type": "text", "text": "One knob, one step."}]},
                   {"type": "text", "text": "I will move A."}]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_chat_content_sent_as_a_list_of_blocks_is_read_for_its_text(stream):
    """Mistral's reasoning models (Magistral, mistral-large-2512+) send `content` as a list of
    blocks, thinking then text, plain and in stream deltas (https://docs.mistral.ai/capabilities/
    reasoning; NousResearch/hermes-agent#4748). Taken for a string, the reply, tool calls and all,
    was discarded."""
    call = {"id": "call_1", "type": "function", "function": {"name": "edit", "arguments": '{"path": "a.py"}'}}
    if stream:
        def chunk(delta, finish=None):
            return (None, json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m",
                                      "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
        step = {"raw_events": [chunk({"role": "assistant", "content": MISTRAL_CONTENT[:1]}),
                               chunk({"content": MISTRAL_CONTENT[1:]}),
                               chunk({"tool_calls": [{**call, "index": 0}]}), chunk({}, "tool_calls"),
                               (None, "[DONE]")]}
    else:
        step = {"raw": json.dumps({"id": "c", "object": "chat.completion", "model": "m", "choices": [{
            "index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": MISTRAL_CONTENT, "tool_calls": [call]}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4}})}
    with FakeLLM({"alpha": [step]}) as fake:
        ex = asyncio.run(LLMClient().complete(ep(fake, "openai_chat", stream=stream), conv()))
    assert ex.error is None and ex.reply.text == "I will move A." and ex.reply.tool_calls[0].name == "edit"
