"""LLM sessions against a real llama.cpp server (xllamacpp) serving SmolLM2-135M-Instruct, per edit
protocol, on golf-mini from its baseline: how many sessions end in a submitted trial, how many of
those edits apply and pass `check` (syntax, surface, the environment's preflight), and tokens and
wall time per session. The model is tiny: the point is that each protocol is measured.

    .venv/bin/python benchmarks/bench_llm.py --sessions 20 --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.changes import EditError, make_change, surface_violations  # noqa: E402
from agents.lineage_view import build_view  # noqa: E402
from agents.llm.config import from_shortcut  # noqa: E402
from agents.llm.probe import probe  # noqa: E402
from agents.llm.session import Limits, LLMProposer  # noqa: E402
from agents.proposer import Context  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from environments import preflight, registry  # noqa: E402
from tests.llamacpp_server import LlamaServer  # noqa: E402

START, END = "<!-- bench_llm:start -->", "<!-- bench_llm:end -->"
PROTOCOLS = {"tools (search_replace)": dict(edit_format="search_replace", tools=True),
             "text (SEARCH/REPLACE blocks)": dict(edit_format="text", tools=False),
             "text (whole file)": dict(edit_format="text_whole_file", tools=False)}


def passes_check(spec, specialist, proposal, base) -> bool:
    try:
        change = make_change(base, proposal.edits)
    except EditError:
        return False
    if surface_violations(change, specialist.surface):
        return False
    tier = next(iter(spec.tiers.values()))
    return all(c.passed for c in preflight.run(spec, change.code, tier))


def one_protocol(name: str, edit_format: str, tools: bool, sessions: int, max_tokens: int, ctx: int,
                 limits: Limits) -> dict:
    spec = registry.get("golf-mini")
    base = spec.baseline_code()
    rows = []
    with LlamaServer(ctx=ctx, tools=tools, threads=1) as server:
        ep = from_shortcut(f"llamacpp:{server.alias}", server.base_url)
        ep = probe(type(ep)(**{**_fields(ep), "edit_format": edit_format, "max_output_tokens": max_tokens,
                               "temperature": 0.7, "retries": 1}))
        for i in range(sessions):
            sp = spec.specialists[i % len(spec.specialists)]
            view = build_view({}, None, sp.name, spec.metric, spec.direction)
            ctx_ = Context(spec=spec, specialist=sp, view=view, code_of=lambda tid: dict(base),
                           rng=random.Random(i), session=i + 1, tier=next(iter(spec.tiers)))
            calls = []
            started = time.monotonic()
            out = asyncio.run(LLMProposer(ep, limits=limits).session(ctx_, calls.append))
            wall = time.monotonic() - started
            ok = out.proposal is not None and passes_check(spec, sp, out.proposal, base)
            rows.append(dict(outcome=out.outcome, submitted=out.proposal is not None, passes=ok, wall=wall,
                             calls=len(calls), tokens=sum(c.usage.input + c.usage.output for c in calls),
                             output=sum(c.usage.output for c in calls)))
            print(f"{name} {i + 1}/{sessions} {sp.name}: {out.outcome} check={'pass' if ok else '-'} "
                  f"{len(calls)} calls {rows[-1]['tokens']} tokens {wall:.1f} s  {out.detail[:100]}", flush=True)
    return dict(name=name, rows=rows)


def _fields(ep) -> dict:
    import msgspec

    return msgspec.structs.asdict(ep)


def table(results: list[dict], args) -> str:
    out = [START, "## LLM sessions on a real llama.cpp server (SmolLM2-135M-Instruct, golf-mini)", "",
           f"`.venv/bin/python benchmarks/bench_llm.py --sessions {args.sessions} --turns {args.turns} --max-tokens "
           f"{args.max_tokens} --ctx {args.ctx} --write BENCHMARKS.md` on this machine (2 cores shared with other work; 1 server "
           "thread: llama.cpp's spinning threads collapse on an oversubscribed machine). Each "
           f"session starts from golf-mini's baseline, specialists in turn (arch, opt, quant); at most "
           f"{args.turns} model calls and {args.repairs} repairs a session; temperature 0.7; the tools protocol "
           "runs the model with a Hermes-style tool template (its own has no tool support).", "",
           "| protocol | sessions | submitted | edit applies and passes check | calls / session | tokens / session "
           "(median) | wall s / session (median) | outcomes |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows = r["rows"]
        n = len(rows)
        outcomes = {}
        for x in rows:
            outcomes[x["outcome"]] = outcomes.get(x["outcome"], 0) + 1
        out.append(f"| {r['name']} | {n} | {sum(x['submitted'] for x in rows)}/{n} "
                   f"({100 * sum(x['submitted'] for x in rows) / n:.0f}%) | {sum(x['passes'] for x in rows)}/{n} "
                   f"({100 * sum(x['passes'] for x in rows) / n:.0f}%) | "
                   f"{statistics.mean(x['calls'] for x in rows):.1f} | {statistics.median(x['tokens'] for x in rows):,.0f} | "
                   f"{statistics.median(x['wall'] for x in rows):.1f} | "
                   + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + " |")
    out.append(END)
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--ctx", type=int, default=3072)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--repairs", type=int, default=2)
    ap.add_argument("--protocols", default="tools (search_replace),text (SEARCH/REPLACE blocks)")
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    limits = Limits(turns=args.turns, repairs=args.repairs)
    results = [one_protocol(name, sessions=args.sessions, max_tokens=args.max_tokens, ctx=args.ctx, limits=limits,
                            **PROTOCOLS[name]) for name in args.protocols.split(",")]
    text = table(results, args)
    print(text)
    if args.write:
        write_section(args.write, text, START, END)


if __name__ == "__main__":
    main()
