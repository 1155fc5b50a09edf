"""Per-agent statistics: what each specialist proposed, what came of it, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field

from events.projections.trials import TrialRow
from events.ranking import better, has_score
from events.schema import Direction


@dataclass(slots=True, kw_only=True)  # not a Struct, for the reason given at ledger.Spend
class AgentStats:
    agent: str
    proposed: int = 0
    evaluated: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    keeps: int = 0
    best_score: float | None = None
    realized_deltas: int = 0
    realized_delta_sum: float = 0.0
    sessions: int = 0  # spend per agent is in the ledger


class Agents:
    def __init__(self) -> None:
        self.by_agent: dict[str, AgentStats] = {}

    def of(self, agent: str) -> AgentStats:
        stats = self.by_agent.get(agent)
        if stats is None:
            stats = self.by_agent[agent] = AgentStats(agent=agent)
        return stats

    def proposed(self, row: TrialRow) -> None:
        (self.by_agent.get(row.agent) or self.of(row.agent)).proposed += 1

    def evaluated(self, row: TrialRow, direction: Direction) -> None:
        s = self.by_agent.get(row.agent) or self.of(row.agent)
        s.evaluated += 1
        status, statuses = row.status, s.statuses
        statuses[status] = statuses.get(status, 0) + 1
        if status == "keep":
            s.keeps += 1
        if row.verdict == "valid" and has_score(row.score):
            if s.best_score is None or better(row.score, s.best_score, direction):
                s.best_score = row.score
        if row.realized_delta is not None:
            s.realized_deltas += 1
            s.realized_delta_sum += row.realized_delta

    def unevaluated(self, row: TrialRow, status: str) -> None:
        """A harness abort is retried: take its verdict back out of the agent's record."""
        s = self.of(row.agent)
        s.evaluated -= 1
        s.statuses[status] -= 1
        if not s.statuses[status]:
            del s.statuses[status]
