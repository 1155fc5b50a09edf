"""One look at each endpoint before the first session, so a wrong URL, key or model stops the run
at once with a line naming the endpoint, instead of surfacing inside sessions minutes later.

    reachable     GET {base}/models answers (connect and read capped at a few seconds)
    key           not refused (401/403)
    model         among the ids (and aliases) the server lists
    context       llama.cpp: /props default_generation_settings.n_ctx (or /v1/models meta.n_ctx);
                  vLLM: /v1/models max_model_len; Ollama: /api/show (num_ctx, else context_length)
    tools         edit_format "auto" only: llama.cpp's chat_template_caps.supports_tools when it says
                  no; else one tiny request with a `ping` tool: a tool call back means tools work

The result resolves edit_format "auto" to search_replace (tools) or text, fills context_tokens
when the configuration left it empty, and is recorded in the run's configuration (`probed`).
"""

from __future__ import annotations

import time

import httpx
import msgspec

from agents.llm.client import _headers
from agents.llm.config import Endpoint
from agents.llm.wire import Conversation, Message, Tool, WireError, endpoint, parse_reply, request_body

PROBE_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TOOL_PROBE_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# httpx's read timeout is per read, so a body that never ends (or comes a byte a second) would
# hold the probe for ever: a whole answer must come within its timeout's read seconds, and be no
# larger than this
MAX_ANSWER_BYTES = 4 * 1024**2
PING = Tool(name="ping", description="Answer the user's request by calling this tool.",
            parameters={"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]})


class ProbeError(RuntimeError):
    pass


def where(ep: Endpoint) -> str:
    return f"endpoint {ep.name} at {ep.base_url}"


def probe(ep: Endpoint, transport: httpx.BaseTransport | None = None) -> Endpoint:
    """The endpoint with edit_format, context_tokens and probed filled in; ProbeError if unusable."""
    started = time.monotonic()
    seen: dict = {}
    with httpx.Client(timeout=PROBE_TIMEOUT, transport=transport, headers=_safe_headers(ep)) as http:
        models = _models(http, ep, seen)
        if models is not None and ep.model not in models:
            listed = ", ".join(sorted(models)[:8]) or "none"
            raise ProbeError(f"{where(ep)} does not serve model {ep.model!r}; it serves: {listed}")
        context = ep.context_tokens or _context(http, ep, seen)
        edit_format = ep.edit_format
        if edit_format == "auto":
            tools = _tools(http, ep, seen)
            seen["tools"] = tools
            edit_format = "search_replace" if tools else "text"
        elif models is None:
            _tools(http, ep, seen, tools=False)  # nothing listed the models: one tiny call shows the route works
    seen["seconds"] = round(time.monotonic() - started, 3)
    seen["edit_format"] = edit_format
    if context:
        seen["context_tokens"] = context
    return msgspec.structs.replace(ep, edit_format=edit_format, context_tokens=context, probed=seen)


def _safe_headers(ep: Endpoint) -> dict:
    try:
        return _headers(ep)
    except KeyError as exc:
        raise ProbeError(f"{where(ep)}: {exc.args[0]}") from None


def _root(ep: Endpoint) -> str:
    base = ep.base_url.rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def _fetch(http: httpx.Client, ep: Endpoint, method: str, url: str, body: dict | None = None,
           timeout: httpx.Timeout | None = None) -> httpx.Response:
    """The whole answer to one request, read within `timeout.read` seconds in all (PROBE_TIMEOUT's
    by default) and no larger than MAX_ANSWER_BYTES; ProbeError otherwise."""
    timeout = timeout or PROBE_TIMEOUT
    deadline = time.monotonic() + timeout.read
    with http.stream(method, url, json=body, timeout=timeout) as r:
        chunks, size = [], 0
        for chunk in r.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise ProbeError(f"{where(ep)}: {method} {url} answered more than {MAX_ANSWER_BYTES // 1024**2} MiB")
            if time.monotonic() > deadline:
                raise ProbeError(f"{where(ep)}: {method} {url} was still answering after {timeout.read:g} s "
                                 f"({size:,} bytes so far)")
        return httpx.Response(r.status_code, headers=r.headers, content=b"".join(chunks), request=r.request)


def _get(http: httpx.Client, ep: Endpoint, url: str, method: str = "GET", body: dict | None = None):
    try:
        r = _fetch(http, ep, method, url, body)
        if r.is_redirect:  # not followed, as the client does not: the base URL is not where the server is
            raise ProbeError(f"{where(ep)}: {method} {url} redirects (HTTP {r.status_code}) to "
                             f"{r.headers.get('location', '(no location)')}; set base_url to where it points")
        return r
    except httpx.ConnectError as exc:
        raise ProbeError(f"{where(ep)}: nothing answers ({exc}); is the server running, and is the URL right?") \
            from None
    except httpx.TimeoutException as exc:
        raise ProbeError(f"{where(ep)}: no answer to {url} within {PROBE_TIMEOUT.read:g} s ({type(exc).__name__})") \
            from None
    except httpx.HTTPError as exc:
        raise ProbeError(f"{where(ep)}: {url}: {type(exc).__name__}: {exc}") from None


def _models(http, ep: Endpoint, seen: dict) -> set[str] | None:
    """The model names the server serves; None where it does not say (no /models route)."""
    url = ep.base_url.rstrip("/") + ("/v1/models" if ep.api == "anthropic_messages" and
                                     not ep.base_url.rstrip("/").endswith("/v1") else "/models")
    r = _get(http, ep, url)
    if r.status_code in (401, 403):
        raise ProbeError(f"{where(ep)}: the key was refused (HTTP {r.status_code}) - check {ep.api_key_env or 'the key'}")
    if r.status_code == 404:
        seen["models"] = None
        return None
    if r.status_code >= 400:
        raise ProbeError(f"{where(ep)}: GET {url} answered HTTP {r.status_code}: {r.text[:200]}")
    try:
        data = r.json().get("data") or []
        names = set()
        for m in data:
            names.update(_names(m["id"], *(m.get("aliases") or [])))
            if m.get("max_model_len"):  # vLLM
                seen.setdefault("max_model_len", _window(m["max_model_len"]))
            if (m.get("meta") or {}).get("n_ctx"):  # llama.cpp
                seen.setdefault("n_ctx", _window(m["meta"]["n_ctx"]))
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        raise ProbeError(f"{where(ep)}: GET {url} did not answer a model list: {r.text[:200]}") from None
    seen["models"] = sorted(names)[:20]
    return names


def _names(*ids) -> list[str]:
    """Model names as a model list gives them: strings (an id of 7 or null is no list's)."""
    if not all(isinstance(i, str) for i in ids):
        raise TypeError(f"model ids must be strings: {ids!r}")
    return list(ids)


MAX_WINDOW = 1 << 30  # tokens: past any model's context window


def _window(value) -> int:
    """A context window a server reports, as a whole number of tokens a window can be."""
    n = int(value)
    if not 0 < n <= MAX_WINDOW:
        raise ValueError(f"a context window of {value!r} tokens")
    return n


def _context(http, ep: Endpoint, seen: dict) -> int | None:
    if seen.get("max_model_len"):
        seen["server"] = "vllm"
        return seen["max_model_len"]
    try:
        props = _fetch(http, ep, "GET", _root(ep) + "/props")
        if props.status_code == 200 and isinstance(props.json(), dict):
            p = props.json()
            n = (p.get("default_generation_settings") or {}).get("n_ctx")
            if n:
                seen["server"] = "llama.cpp"
                seen["chat_template_caps"] = p.get("chat_template_caps") or {}
                return _window(n)
        show = _fetch(http, ep, "POST", _root(ep) + "/api/show", {"model": ep.model})
        if show.status_code == 200 and isinstance(show.json(), dict):
            info = show.json()
            seen["server"] = "ollama"
            for line in (info.get("parameters") or "").splitlines():
                if line.split()[:1] == ["num_ctx"]:
                    return _window(line.split()[1])
            lengths = [v for k, v in (info.get("model_info") or {}).items() if k.endswith(".context_length")]
            return _window(lengths[0]) if lengths else None
    except (httpx.HTTPError, ProbeError, ValueError, TypeError, OverflowError, IndexError):
        pass  # the context is extra: a server that does not say is still usable
    return seen.get("n_ctx")


def _tools(http, ep: Endpoint, seen: dict, tools: bool = True) -> bool:
    caps = seen.get("chat_template_caps") or {}
    if tools and caps.get("supports_tools") is False:
        return False  # llama.cpp says its template has no tool support: it would answer in plain text
    conv = Conversation(system="You call tools.", messages=[Message(role="user", content="Call ping with word=hi.")],
                        tools=[PING] if tools else [])
    body = request_body(ep.api, ep.model, conv, 32 if tools else 1, 0.0, ep.seed, False, ep.extra_body)
    try:
        r = _fetch(http, ep, "POST", endpoint(ep.api, ep.base_url), body, TOOL_PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        raise ProbeError(f"{where(ep)}: the tool probe failed: {type(exc).__name__}: {exc}") from None
    if r.status_code in (401, 403):
        raise ProbeError(f"{where(ep)}: the key was refused (HTTP {r.status_code})")
    if r.status_code == 404:
        if "model" in r.text.lower():
            raise ProbeError(f"{where(ep)} does not serve model {ep.model!r}: {r.text[:200]}")
        raise ProbeError(f"{where(ep)}: POST {endpoint(ep.api, ep.base_url)} is not found (HTTP 404); is the base URL "
                         "right? OpenAI-compatible servers usually serve under /v1")
    if r.status_code >= 500 and not tools:
        raise ProbeError(f"{where(ep)}: POST {endpoint(ep.api, ep.base_url)} answered HTTP {r.status_code} to a "
                         f"one-token request: {r.text[:200]}; every session would fail the same way")
    if r.status_code >= 400:
        if r.status_code >= 500:  # failing `tools` outright (llama.cpp without --jinja) is not failing everything
            _tools(http, ep, seen, tools=False)
        seen["tool_probe"] = f"HTTP {r.status_code}: {r.text[:200]}"
        return False  # a server that refuses `tools` gets the text protocol
    try:
        reply = parse_reply(ep.api, r.json())
    except (WireError, ValueError) as exc:
        seen["tool_probe"] = str(exc)[:200]
        return False
    seen["tool_probe"] = "tool call" if reply.tool_calls else f"text: {reply.text[:80]!r}"
    return bool(reply.tool_calls)


def probe_all(endpoints: dict[str, Endpoint], log=lambda m: None) -> dict[str, Endpoint]:
    """agent -> probed endpoint; each distinct endpoint is probed once."""
    done: dict[str, Endpoint] = {}
    out = {}
    for agent, ep in endpoints.items():
        key = msgspec.json.encode(ep).decode()
        if key not in done:
            done[key] = probe(ep)
            p = done[key].probed
            log(f"{where(ep)}: model {ep.model} served; {p.get('server', 'server')} context "
                f"{p.get('context_tokens', 'not reported')}; edit protocol {done[key].edit_format}"
                + (f" (tools: {p['tools']})" if "tools" in p else ""))
        out[agent] = done[key]
    return out
