"""The loop's own overhead on Ray, measured from its log.

    python benchmarks/bench_loop.py --write BENCHMARKS.md
    python benchmarks/bench_loop.py --executors 8 --trials 300      one configuration, printed

Zero-work trials (dryrun with the zero runner: no process, the evaluator scores the recipe)
isolate the loop: the latency of each hop, proposed -> claimed and executed -> evaluated, and
trials per minute, at 8 and 64 executors (they ask for no CPU, so 64 fit on any machine).
Then 60-second trials (dryrun's full tier through the sandbox) measure how much of an
executor's time goes unused between trials. Hop times are producer clock readings carried by
the events (all on this one machine).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import RunConfig  # noqa: E402
from agents.random_choice import RandomProposer  # noqa: E402
from autorecipe.launch import launch  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from events import LogReader  # noqa: E402

MARK_START, MARK_END = "<!-- bench_loop:start -->", "<!-- bench_loop:end -->"
AGENTS = ("alpha", "beta")


def run(root: Path, executors: int, trials: int, tier: str = "micro", runner: str = "zero",
        in_flight: int | None = None) -> dict:
    per_agent = in_flight or math.ceil(executors / len(AGENTS)) + 1  # keep every executor fed
    config = RunConfig(env="dryrun", tier=tier, runner=runner, trials=trials, executors=executors,
                       max_in_flight=per_agent, seed=1)
    started = time.monotonic()
    launch(root, config, proposers={a: RandomProposer() for a in AGENTS}, echo=lambda m: None, quiet=True)
    wall = time.monotonic() - started
    return {"executors": executors, "trials": trials, "wall_s": wall, **measure(root)}


def measure(root: Path) -> dict:
    at: dict[tuple[str, str], int] = {}
    by_executor: dict[str, list[tuple[int, int]]] = {}
    claims: dict[str, tuple[str, int]] = {}
    for r in LogReader(root / "log").iter_records():
        ev = r.event
        tid = getattr(ev, "trial_id", None)
        if tid is None or tid == "t0000":
            continue
        at.setdefault((tid, r.type), r.wall_time_ns)
        if r.type == "trial.claimed":
            claims[tid] = (ev.executor, r.wall_time_ns)
        elif r.type == "trial.executed":
            name, t0 = claims[tid]
            by_executor.setdefault(name, []).append((t0, r.wall_time_ns))
    hop = lambda a, b: [(at[(t, b)] - at[(t, a)]) / 1e6 for (t, k) in at if k == a and (t, b) in at]  # noqa: E731
    claimed, judged = hop("trial.proposed", "trial.claimed"), hop("trial.executed", "trial.evaluated")
    proposed = [v for (t, k), v in at.items() if k == "trial.proposed"]
    evaluated = [v for (t, k), v in at.items() if k == "trial.evaluated"]
    span_min = (max(evaluated) - min(proposed)) / 60e9
    busy, gaps = 0, []
    for spans in by_executor.values():
        spans.sort()
        busy += sum(e - s for s, e in spans)
        gaps += [max(0, spans[i + 1][0] - spans[i][1]) for i in range(len(spans) - 1)]
    idle = sum(gaps)
    return {
        "claim_ms_p50": statistics.median(claimed), "claim_ms_p95": _p95(claimed),
        "judge_ms_p50": statistics.median(judged), "judge_ms_p95": _p95(judged),
        "trials_per_min": len(evaluated) / span_min,
        "idle_fraction": idle / (busy + idle) if busy + idle else float("nan"),
        "gap_ms_mean": statistics.fmean(gaps) / 1e6 if gaps else float("nan"),
        "gap_ms_max": max(gaps) / 1e6 if gaps else float("nan"),
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, math.ceil(0.95 * len(values)) - 1)]


def report(rows: list[dict], idle: dict | None, command: str) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    out = [MARK_START, "## The loop on Ray: latency per hop, throughput, executor idle time", "",
           f"`{command}` — {when}, this machine (2 cores), a local Ray started by the benchmark.", "",
           "Zero-work trials (dryrun, zero runner), two specialists with the random proposer kept "
           "ahead of the executors:", "",
           "| executors | trials | proposed → claimed p50 / p95 | executed → evaluated p50 / p95 | trials/min | wall |",
           "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['executors']} | {r['trials']} | {r['claim_ms_p50']:.1f} / {r['claim_ms_p95']:.1f} ms | "
                   f"{r['judge_ms_p50']:.1f} / {r['judge_ms_p95']:.1f} ms | {r['trials_per_min']:,.0f} | "
                   f"{r['wall_s']:.0f} s |")
    out.append("")
    out.append("Targets: median ≤ 50 ms per hop; ≥ 500 trials/minute.")
    if idle:
        out += ["", f"60-second trials (dryrun full tier, sandbox runner), {idle['executors']} executors, "
                f"{idle['trials']} trials: executors idle **{idle['idle_fraction']:.3%}** of the time between "
                f"their first claim and their last result (target ≤ 1%): between one result and the next claim "
                f"{idle['gap_ms_mean']:.1f} ms on average, {idle['gap_ms_max']:.1f} ms at most. (Each specialist "
                f"keeps two trials in flight, so a trial waits in the queue for an executor: proposed → claimed "
                f"p50 is {idle['claim_ms_p50'] / 1000:.0f} s here, queueing rather than overhead.) "
                f"Wall {idle['wall_s']:.0f} s."]
    out.append(MARK_END)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executors", type=int, action="append", help="default: 8 and 64")
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--idle-trials", type=int, default=8, help="60-second trials for the idle measurement (0: skip)")
    parser.add_argument("--write", metavar="FILE")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        for k in args.executors or [8, 64]:
            r = run(Path(tmp) / f"zero-{k}", k, args.trials)
            print(r, flush=True)
            rows.append(r)
        idle = None
        if args.idle_trials:
            idle = run(Path(tmp) / "idle", 2, args.idle_trials, tier="full", runner="sandbox", in_flight=2)
            print(idle, flush=True)
    command = "python benchmarks/bench_loop.py" + (f" --write {args.write}" if args.write else "")
    section = report(rows, idle, command)
    print(section)
    if args.write:
        write_section(Path(args.write), section, MARK_START, MARK_END)


if __name__ == "__main__":
    main()
