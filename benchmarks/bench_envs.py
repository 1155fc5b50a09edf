"""Environment benchmarks: each miniature's baseline and its known-good edits at one tier.

    python benchmarks/bench_envs.py --tier standard --write BENCHMARKS.md
    python benchmarks/bench_envs.py --env golf-mini --tier micro

Every trial runs in the sandbox exactly as a run's executor would run it; figures are the
evaluator's verdicts. Known-good edits live beside each environment (techniques.py).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.changes import apply_edits  # noqa: E402
from autorecipe.local_trial import local_trial, prepared_data  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from environments import registry  # noqa: E402
from events import BlobStore  # noqa: E402

MARK_START, MARK_END = "<!-- bench_envs:{tier}:{env}:start -->", "<!-- bench_envs:{tier}:{env}:end -->"


def known_good(name: str) -> dict:
    module = registry.package(name) + ".techniques"
    try:
        return importlib.import_module(module).KNOWN_GOOD
    except ModuleNotFoundError:
        return {}


def measure(name: str, tier: str, root: Path) -> list[tuple]:
    spec = registry.get(name)
    data = prepared_data(spec, log=lambda m: print(m, file=sys.stderr))
    rows = []
    for label, edits in [("baseline", ())] + sorted(known_good(name).items()):
        started = time.monotonic()
        _, ev = local_trial(spec, tier, apply_edits(spec.baseline_code(), edits), BlobStore(root / "blobs"),
                            root / "work", data, trial_id=label)
        rows.append((name, label, ev, time.monotonic() - started, spec))
        print(f"{name:<14} {label:<30} {ev.verdict:<20} {ev.score}", flush=True)
    return rows


def _extra(ev) -> str:
    m = ev.metrics
    for key, fmt in (("artifact_bytes", "{:,.0f} bytes"), ("accuracy", "accuracy {:.4f}"), ("word_swap_acc", "word_swap {:.3f}")):
        if key in m:
            return fmt.format(m[key])
    return ""


def report(rows: list[tuple], tier: str, env: str, command: str) -> str:
    out = [MARK_START.format(tier=tier, env=env), f"## {env}, {tier} tier (`benchmarks/bench_envs.py`)", "",
           f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on this 2-core machine. Command: `{command}`", "",
           "| environment | recipe | verdict | score | vs baseline | note | trial wall time |", "|---|---|---|---:|---:|---|---:|"]
    base = {}
    for name, label, ev, wall, spec in rows:
        if label == "baseline":
            base[name] = ev.score
        delta = "" if label == "baseline" or ev.score is None or base.get(name) is None else f"{ev.score - base[name]:+.4f}"
        score = "" if ev.score is None else f"{spec.metric} {ev.score:.4f}"
        out.append(f"| {name} | {label} | {ev.verdict} | {score} | {delta} | {_extra(ev)} | {wall:.0f} s |")
    out += ["", MARK_END.format(tier=tier, env=env)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", action="append", help="environment (repeatable; default: all)")
    parser.add_argument("--tier", default="standard")
    parser.add_argument("--write", metavar="FILE")
    args = parser.parse_args()
    for name in args.env or registry.names():
        with tempfile.TemporaryDirectory(prefix="bench-envs-") as tmp:
            rows = measure(name, args.tier, Path(tmp))
        command = f"python benchmarks/bench_envs.py --env {name} --tier {args.tier}" + \
            (f" --write {args.write}" if args.write else "")
        section = report(rows, args.tier, name, command)
        print(section)
        if args.write:  # one section per environment, so one can be re-measured alone
            write_section(Path(args.write), section, MARK_START.format(tier=args.tier, env=name),
                          MARK_END.format(tier=args.tier, env=name))


if __name__ == "__main__":
    main()
