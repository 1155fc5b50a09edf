"""What a specialist sees before it proposes: the reference system's lineage feedback
(reference-system.md §7), built from the trials projection.

The view holds the current best; the top kept trials; the root→best chain; the best's children,
failures included; recent activity with notes (harness aborts hidden: they are infrastructure,
not evidence about a recipe); the agent's own history; and a saturation nudge when the agent's
last five trials moved nothing. `render` turns it into the text an LLM reads, under the same
byte caps. With lineage off (the ablation), the view holds the current best and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.projections.lineage import chain
from events.projections.trials import EVALUATED, TrialRow
from events.ranking import ranked
from events.schema import Direction

TOP_KEPT, RECENT, CHAIN_HYPOTHESIS, RECENT_HYPOTHESIS, RECENT_NOTES = 20, 10, 100, 140, 160
LEADERBOARD_BYTES, KNOWLEDGE_BYTES = 4000, 8000
SATURATION_WINDOW, SATURATION_DELTA = 5, 0.0005


@dataclass(frozen=True)
class LineageView:
    agent: str
    metric: str
    direction: Direction
    lineage: bool
    baseline: TrialRow | None  # the run's first evaluated root, if any
    best: TrialRow | None
    top_kept: tuple[TrialRow, ...] = ()
    chain: tuple[TrialRow, ...] = ()  # root -> best
    best_children: tuple[TrialRow, ...] = ()
    recent: tuple[TrialRow, ...] = ()
    history: tuple[TrialRow, ...] = ()  # every evaluated trial, in verdict order (harness aborts hidden)
    mine: tuple[TrialRow, ...] = ()  # this agent's evaluated trials, oldest first
    in_flight: tuple[TrialRow, ...] = ()  # proposed, not yet judged (anyone's)
    saturated: bool = False


def build_view(rows: dict[str, TrialRow], best_id: str | None, agent: str, metric: str, direction: Direction,
               lineage: bool = True) -> LineageView:
    best = rows.get(best_id) if best_id else None
    if not lineage:
        return LineageView(agent=agent, metric=metric, direction=direction, lineage=False, baseline=None, best=best)
    judged = sorted((r for r in rows.values() if r.phase == EVALUATED and r.verdict != "harness_abort"),
                    key=lambda r: r.evaluated_offset)
    kept = [r for r in judged if r.status == "keep"]
    best_kept = ranked(kept, direction)
    mine = tuple(r for r in judged if r.agent == agent)
    roots = [r for r in judged if r.parent_id is None and r.verdict == "valid"]
    return LineageView(
        agent=agent, metric=metric, direction=direction, lineage=True,
        baseline=roots[0] if roots else None,
        best=best,
        top_kept=tuple(best_kept[:TOP_KEPT]),
        chain=tuple(chain(rows, best_id)) if best_id else (),
        best_children=tuple(r for r in judged if best_id and r.parent_id == best_id),
        recent=tuple(judged[-RECENT:]),
        history=tuple(judged),
        mine=mine,
        in_flight=tuple(r for r in rows.values() if r.phase != EVALUATED and r.phase != "cancelled"),
        saturated=_saturated(mine),
    )


def _saturated(mine: tuple[TrialRow, ...]) -> bool:
    last = mine[-SATURATION_WINDOW:]
    if len(last) < SATURATION_WINDOW:
        return False
    return all(r.verdict != "valid" or r.realized_delta is None or abs(r.realized_delta) < SATURATION_DELTA
               for r in last)


# -- rendering ----------------------------------------------------------------------------------


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:.6f}"


def _line(r: TrialRow, metric: str, hyp_cap: int) -> str:
    delta = "" if r.realized_delta is None else f", Δ={r.realized_delta:+.6f}"
    return f"{r.trial_id} [{r.agent}, {r.status or r.phase}, {metric}={_fmt(r.score)}{delta}] {r.hypothesis[:hyp_cap]}"


def _capped(text: str, cap: int) -> str:
    data = text.encode()
    if len(data) <= cap:
        return text
    return data[: cap - 40].decode(errors="ignore").rstrip() + "\n[... cut at the byte cap ...]\n"


def render(view: LineageView, brief: str = "") -> str:
    """The user message of a session, in the reference system's order and caps."""
    m = view.metric
    out = [f"# Session: specialist **{view.agent}**"]
    if brief:
        out.append(f"Your surface: {brief}")
    if view.best is None:
        out.append("No trial has a valid score yet: the baseline recipe is the starting point.")
    else:
        b = view.best
        out.append(f"Current best: **{b.trial_id}** ({m}={_fmt(b.score)}, {view.direction}) by {b.agent}: "
                   f"{b.hypothesis[:120]}")
    if not view.lineage:
        return "\n".join(out) + "\n"
    board = ["## Leaderboard (top kept trials)", "| trial | score | Δ vs parent | agent | hypothesis |", "|---|---|---|---|---|"]
    for r in view.top_kept:
        d = "-" if r.realized_delta is None else f"{r.realized_delta:+.6f}"
        board.append(f"| {r.trial_id} | {_fmt(r.score)} | {d} | {r.agent} | {r.hypothesis[:120]} |")
    out.append(_capped("\n".join(board), LEADERBOARD_BYTES))
    know = ["## Knowledge", "### Lineage of the current best (root → best)"]
    for i, r in enumerate(view.chain):
        know.append(_line(r, m, CHAIN_HYPOTHESIS) + ("  ← BEST" if i == len(view.chain) - 1 else ""))
    know.append("### Children of the best, failures included")
    know.extend(_line(r, m, CHAIN_HYPOTHESIS) + (f" — {r.feedback[:160]}" if r.feedback else "")
                for r in view.best_children)
    out.append(_capped("\n".join(know), KNOWLEDGE_BYTES))
    recent = [f"## Recent activity (last {RECENT})"]
    for r in view.recent:
        recent.append("- " + _line(r, m, RECENT_HYPOTHESIS))
        note = r.feedback if r.status not in ("keep", "discard") else r.notes
        if note:
            recent.append(f"    └─ {note[:RECENT_NOTES]}")
    out.append("\n".join(recent))
    if view.saturated:
        out.append("## ⚠ Saturation signal\nYour last five trials moved the score by less than "
                   f"{SATURATION_DELTA} or failed. Try something structurally different, or start from another "
                   "kept trial.")
    return "\n\n".join(out) + "\n"
