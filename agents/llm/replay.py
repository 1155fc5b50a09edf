"""A client that answers from a run's recorded exchanges instead of a model: no network. Each
session gets its recorded calls back in order; a request whose hash differs from the one
recorded at that point is a divergence (the prompt, the tools or the conversation changed), and
is reported with both hashes rather than answered with something else."""

from __future__ import annotations

import orjson

from agents.llm.client import Attempt, EndpointRefused, Exchange, LLMError, QuotaExhausted, cost, judged, request_hash
from agents.llm.config import Endpoint
from agents.llm.wire import Conversation, Usage, request_body
from events import LlmExchanged


class Divergence(Exception):
    pass


class ReplayClient:
    def __init__(self, recorded: list[LlmExchanged], get_blob):
        self.recorded = sorted(recorded, key=lambda e: e.call_seq)
        self.get_blob = get_blob
        self.served = 0

    async def complete(self, ep: Endpoint, conv: Conversation) -> Exchange:
        body = request_body(ep.api, ep.model, conv, ep.max_output_tokens, ep.temperature, ep.seed, ep.stream,
                            ep.extra_body)
        key = request_hash(ep.api, body)
        if self.served >= len(self.recorded):
            raise Divergence(f"call {self.served + 1} was never made in the recorded session "
                             f"({len(self.recorded)} calls recorded)")
        rec = self.recorded[self.served]
        self.served += 1
        if rec.request_hash != key:
            recorded_body = orjson.loads(self.get_blob(rec.request))
            raise Divergence(f"call {rec.call_seq}: the request differs from the recorded one "
                             f"(hash {key[:12]} vs {rec.request_hash[:12]}): {_first_difference(recorded_body, body)}")
        if rec.outcome != "ok":  # the call failed in the run: it fails again, the same way
            kind = {"quota": QuotaExhausted, "refused": EndpointRefused}.get(rec.outcome, LLMError)
            exc = kind(rec.error or "the call failed", rec.http_status)
            exc.unreachable = rec.outcome == "unreachable"
            raise exc
        response = orjson.loads(self.get_blob(rec.response)) if rec.response else None
        reply, error, server_fault = judged(ep.api, response, body) if response else (None, rec.error, False)
        usage = reply.usage if reply else Usage()
        return Exchange(api=ep.api, model=ep.model, request=body, request_hash=key, response=response, reply=reply,
                        usage=usage, cost_usd=cost(ep, usage), latency_s=rec.latency_s,
                        attempts=[Attempt(status=rec.http_status)], error=error, server_fault=server_fault)


def _first_difference(a, b, path: str = "") -> str:
    if type(a) is not type(b):
        return f"at {path or 'the top'}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            return f"at {path}: {len(a)} items recorded, {len(b)} now"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"at {path}: {str(a)[:120]!r} recorded, {str(b)[:120]!r} now"
