"""Where a model lives and what it costs: one Endpoint per model, from a `--llm PROVIDER:MODEL`
shortcut or a section of a TOML config file.

    autorecipe run --llm openai:gpt-5                    OPENAI_API_KEY, api.openai.com
    autorecipe run --llm anthropic:claude-sonnet-4-5      ANTHROPIC_API_KEY, api.anthropic.com
    autorecipe run --llm ollama:qwen2.5-coder:14b         a local Ollama, no key
    autorecipe run --llm vllm:Qwen/Qwen3-8B               a local vLLM on :8000
    autorecipe run --llm-config llm.toml                  [endpoints.NAME] sections; see the README

Keys are read from the environment variable an endpoint names, when a request is sent, and are
never stored, logged or printed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from agents.llm.wire import Api


class ConfigError(ValueError):
    pass


class Price(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """US dollars per million tokens."""

    input: float = 0.0
    cached_input: float = 0.0
    output: float = 0.0


class Endpoint(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    api: Api = "openai_chat"
    base_url: str
    model: str
    api_key_env: str = ""  # the variable holding the key; empty for local servers
    max_output_tokens: int = 4096
    temperature: float | None = None
    seed: int | None = None
    stream: bool = False
    max_concurrency: int = 4
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    call_deadline_s: float = 900.0
    retries: int = 6
    retry_cap_s: float = 120.0  # a retry-after longer than this is not waited for
    max_response_bytes: int = 16 * 1024 * 1024  # a larger body (or stream) is an error exchange, never read whole
    price: Price = Price()
    extra_body: dict = {}
    # tools: search_replace (an edit tool) or whole_file (write_file); text protocol for models without
    # tool calling: text (SEARCH/REPLACE blocks) or text_whole_file; auto: chosen by the probe at start
    edit_format: Literal["search_replace", "whole_file", "text", "text_whole_file", "auto"] = "search_replace"
    context_tokens: int | None = None  # the window prompts are fitted to; the probe fills it where the server says
    session_turns: int = 16  # model calls a session may make
    session_repairs: int = 3  # unusable replies or edits a session may have before it ends as invalid_edit
    probed: dict = {}  # what the start-up probe saw (agents.llm.probe), recorded with the run's configuration

    def __post_init__(self) -> None:
        problems = endpoint_problems(self)
        if problems:
            raise ConfigError(f"endpoint {self.name}: " + "; ".join(problems))

    def api_key(self) -> str | None:
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise KeyError(f"endpoint {self.name}: the environment variable {self.api_key_env} is not set")
        return key

    def public(self) -> dict:
        """What may be recorded about this endpoint: everything but secrets (it holds none)."""
        return msgspec.to_builtins(self)


# Local servers often run on a CPU: streamed (the read timeout is then the gap between tokens, not the
# whole generation), a modest output cap, the edit protocol chosen by the probe
LOCAL = dict(stream=True, max_output_tokens=1024, read_timeout_s=120.0, edit_format="auto")
PROVIDERS: dict[str, dict] = {
    "openai": dict(api="openai_chat", base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY"),
    "openai-responses": dict(api="openai_responses", base_url="https://api.openai.com/v1",
                             api_key_env="OPENAI_API_KEY"),
    "anthropic": dict(api="anthropic_messages", base_url="https://api.anthropic.com", api_key_env="ANTHROPIC_API_KEY"),
    "ollama": dict(base_url="http://localhost:11434/v1", **LOCAL),
    "vllm": dict(base_url="http://localhost:8000/v1", **LOCAL),
    "llamacpp": dict(base_url="http://127.0.0.1:8080/v1", **LOCAL),
    "sglang": dict(base_url="http://127.0.0.1:30000/v1", **LOCAL),
    "lmstudio": dict(base_url="http://localhost:1234/v1", **LOCAL),
}


def endpoint_problems(e: "Endpoint") -> list[str]:
    """Values that would make every session fail: refused when the endpoint is read, naming
    the field, before a run starts."""
    out = []
    url = urlsplit(e.base_url) if isinstance(e.base_url, str) else None
    if url is None or url.scheme not in ("http", "https") or not url.hostname:
        out.append(f"base_url {e.base_url!r} is not an http(s) URL such as https://api.openai.com/v1")
    if not e.model.strip():
        out.append("model is empty")
    for name in ("max_concurrency", "max_output_tokens", "max_response_bytes"):
        if getattr(e, name) < 1:
            out.append(f"{name} = {getattr(e, name)} must be at least 1")
    if e.retries < 0:
        out.append(f"retries = {e.retries} must be 0 or more")
    for name in ("connect_timeout_s", "read_timeout_s", "call_deadline_s"):
        if not getattr(e, name) > 0:
            out.append(f"{name} = {getattr(e, name)} must be more than 0 seconds")
    if e.retry_cap_s < 0:
        out.append(f"retry_cap_s = {e.retry_cap_s} must be 0 or more")
    if e.temperature is not None and not 0 <= e.temperature <= 2:
        out.append(f"temperature = {e.temperature} must be between 0 and 2")
    for name in ("input", "cached_input", "output"):
        if getattr(e.price, name) < 0:
            out.append(f"price.{name} = {getattr(e.price, name)} must be 0 or more")
    if e.api_key_env and not e.api_key_env.replace("_", "").isalnum():
        out.append(f"api_key_env {e.api_key_env!r} must name an environment variable (e.g. OPENAI_API_KEY), "
                   "not hold the key itself")
    return out


def from_shortcut(text: str, base_url: str | None = None) -> Endpoint:
    provider, sep, model = text.partition(":")
    if not sep or not model:
        raise ConfigError(f"--llm {text!r}: write PROVIDER:MODEL, e.g. openai:gpt-5 or ollama:qwen2.5-coder:14b "
                          f"(providers: {', '.join(PROVIDERS)})")
    if provider not in PROVIDERS:
        raise ConfigError(f"--llm {text!r}: unknown provider {provider!r}; known: {', '.join(PROVIDERS)}, "
                          "or describe the endpoint in --llm-config")
    fields = {**PROVIDERS[provider], "name": provider, "model": model}
    if base_url:
        fields["base_url"] = base_url
    try:
        return Endpoint(**fields)
    except ConfigError as exc:
        raise ConfigError(f"--llm {text!r}: {exc}") from None


def load_config(path: str | Path) -> dict[str, Endpoint]:
    """`[endpoints.NAME]` tables, each an Endpoint's fields (`price` as an inline table).
    Errors name the file, the endpoint and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r}); "
                          "a TOML file is UTF-8") from None
    sections = data.get("endpoints")
    if not isinstance(sections, dict) or not sections:
        raise ConfigError(f"{path}: no [endpoints.NAME] section")
    out = {}
    for name, fields in sections.items():
        if not isinstance(fields, dict):
            raise ConfigError(f"{path}: [endpoints.{name}] must be a table of fields (base_url, model, ...), "
                              f"not {type(fields).__name__} {fields!r}")
        try:
            out[name] = msgspec.convert({"name": name, **fields}, Endpoint)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{path}: [endpoints.{name}]: {exc}") from None
    return out
