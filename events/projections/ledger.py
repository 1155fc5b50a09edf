"""The budget ledger: compute, tokens and dollars, in total and per agent."""

from __future__ import annotations

import msgspec

from events.schema import BudgetCharged, LlmExchanged


class Spend(msgspec.Struct, kw_only=True, gc=False):
    cpu_s: float = 0.0
    gpu_s: float = 0.0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    other_tokens: int = 0
    usd: float = 0.0
    llm_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.reasoning_tokens + self.other_tokens


class Ledger:
    def __init__(self) -> None:
        self.total = Spend()
        self.by_agent: dict[str, Spend] = {}

    def _each(self, agent: str | None) -> tuple[Spend, ...]:
        if agent is None:
            return (self.total,)
        spend = self.by_agent.get(agent)
        if spend is None:
            spend = self.by_agent[agent] = Spend()
        return (self.total, spend)

    def compute(self, agent: str, cpu_s: float, gpu_s: float) -> None:
        for s in self._each(agent):
            s.cpu_s += cpu_s
            s.gpu_s += gpu_s

    def llm(self, ev: LlmExchanged) -> None:
        u = ev.usage
        for s in self._each(ev.agent):
            s.llm_calls += 1
            s.input_tokens += u.input_tokens
            s.cached_input_tokens += u.cached_input_tokens
            s.output_tokens += u.output_tokens
            s.reasoning_tokens += u.reasoning_tokens
            s.usd += ev.cost_usd

    def charged(self, ev: BudgetCharged) -> None:
        for s in self._each(ev.agent):
            if ev.resource == "tokens":
                s.other_tokens += int(ev.amount)
            else:
                setattr(s, ev.resource, getattr(s, ev.resource) + ev.amount)
