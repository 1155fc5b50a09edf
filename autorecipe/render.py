"""Plain-text and JSON views of a run's state, for the command line."""

from __future__ import annotations

from collections import Counter

from events.envelope import Record, event_type_name, record_to_jsonable, to_jsonable
from events.export import number, text
from events.projections import RunState, TrialRow, chain
from events.ranking import has_score, ranked


def leaderboard(state: RunState, top: int) -> list[TrialRow]:
    """Valid trials, best first under the run's keep rule."""
    rule = state.trials.keep_rule
    valid = ranked((r for r in state.trials.rows.values() if r.verdict == "valid" and has_score(r.score)),
                   rule.direction)
    return valid[:top]


def statuses(state: RunState) -> dict[str, int]:
    return dict(Counter(r.status or r.phase for r in state.trials.rows.values()).most_common())


def summary_json(state: RunState, top: int) -> dict:
    best = state.trials.best
    return to_jsonable({
        "digest": state.digest(),
        "events": state.applied,
        "next_offset": state.next_offset,
        "run": state.run,
        "trials": len(state.trials.rows),
        "statuses": statuses(state),
        "best": best,
        "leaderboard": leaderboard(state, top),
        **chain_json(chain(state.trials.rows, state.trials.best_id)),
        "runnable": state.queue.oldest(),
        "ledger": state.ledger.total,
        "agents": list(state.agents.by_agent.values()),
    })


def summary_text(state: RunState, top: int) -> str:
    run, rule = state.run, state.trials.keep_rule
    metric = rule.metric
    out = [
        f"run        {run.run_id or '(no RunStarted)'}  env={run.environment} tier={run.tier} seed={run.seed}",
        f"keep rule  {rule.direction} {metric}, noise margin {rule.noise_margin:g}",
        f"events     {state.applied} (next offset {state.next_offset})",
        f"trials     {len(state.trials.rows)}: " + ", ".join(f"{k} {v}" for k, v in statuses(state).items()),
    ]
    if run.stop_requested:
        out.append(f"stop       requested ({run.stop_requested}, in-flight: {run.in_flight})"
                   + (f", stopped ({run.stopped})" if run.stopped else ""))
    spend = state.ledger.total
    out.append(f"spend      cpu {spend.cpu_s:,.0f} s, gpu {spend.gpu_s:,.0f} s, "
               f"{spend.tokens:,} tokens in {spend.llm_calls} LLM calls, ${spend.usd:,.2f}")
    out += ["", f"leaderboard (top {top} valid trials by {metric})",
            f"  {'#':>3}  {'trial':<10} {'agent':<8} {metric:>12} {'Δ parent':>10}  status   hypothesis"]
    for i, r in enumerate(leaderboard(state, top), 1):
        out.append(f"  {i:>3}  {r.trial_id:<10} {r.agent[:8]:<8} {number(r.score):>12} "
                   f"{number(r.realized_delta, signed=True):>10}  {r.status:<8} {text(r.hypothesis)[:60]}")
    out += ["", "best lineage (root → best)", *chain_lines(chain(state.trials.rows, state.trials.best_id))]
    out += ["", f"digest     {state.digest()}"]
    return "\n".join(out)


CHAIN_LINES = 32  # at most this many lines for the root→best chain, whatever its depth
CHAIN_HEAD = 8  # links shown from the root when the chain is longer; the rest of the lines go to its best end


def chain_shown(path: list[TrialRow]) -> list[TrialRow | int]:
    """The chain as shown: whole up to CHAIN_LINES links; past that its first CHAIN_HEAD links, the
    number left out, and the links nearest the best."""
    if len(path) <= CHAIN_LINES:
        return list(path)
    tail = CHAIN_LINES - CHAIN_HEAD - 1
    return [*path[:CHAIN_HEAD], len(path) - CHAIN_HEAD - tail, *path[-tail:]]


def chain_json(path: list[TrialRow]) -> dict:
    """The chain's ids root first, bounded as the text is, so `replay --json` of any depth stays
    small (`export` and the gateway's /lineage give every link). When links are left out,
    `best_chain_gap` is the index in `best_chain` where they would be, and `best_chain_length`
    counts them all."""
    shown = chain_shown(path)
    gap = next((i for i, r in enumerate(shown) if isinstance(r, int)), None)
    return {"best_chain": [r.trial_id for r in shown if not isinstance(r, int)],
            "best_chain_length": len(path), "best_chain_gap": gap}


def chain_lines(path: list[TrialRow]) -> list[str]:
    """One line per link, indented by its place in the chain: bounded by `chain_shown` (every link
    indented by its depth would be quadratic in depth)."""
    if not path:
        return ["  (no kept trial yet)"]
    out = []
    for place, r in enumerate(chain_shown(path)):
        indent = "  " * place
        if isinstance(r, int):
            out.append(f"  {indent}... {r:,} more links (depth {CHAIN_HEAD} to {CHAIN_HEAD + r - 1:,}) ...")
        else:
            out.append(f"  {indent}{r.trial_id} [{r.agent}] {number(r.score)}  {text(r.hypothesis)[:70]}")
    return out


def record_line(record: Record) -> str:
    """One record on one line: offset, stream@version, type, then the payload as compact JSON."""
    import orjson

    payload = record_to_jsonable(record)["event"]
    payload.pop("type", None)
    body = orjson.dumps(payload).decode()
    return f"{record.offset:>8}  {record.stream}@{record.stream_version}  {event_type_name(record.event)}  {body}"
