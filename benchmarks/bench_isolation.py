"""What the isolation costs per trial, against the trial's own run time, for each miniature at
the micro tier.

    python benchmarks/bench_isolation.py --write BENCHMARKS.md

Two measurements (as root on Linux, where the sandbox isolates):
1. per phase, the wall time an empty phase (`python -c pass`) takes through the sandbox with
   and without its cgroup (the difference is what a cgroup costs: make, join, read, kill,
   remove), and how long building and entering the trial's own root (about 30 mounts and a
   pivot_root) takes in the child. Medians of 15, interleaved.
2. per miniature, a baseline trial at the micro tier: its wall and CPU time, its phases, and the
   judge's own CPU and wall time (a process beside the eval phase, over pipes). The isolation's
   cost per trial is phases x (cgroup + root) + the judge's wall time beyond its server's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import struct
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import cgroups, fsview, sandbox  # noqa: E402
from actors.sandbox import Limits, isolation_available  # noqa: E402
from autorecipe.local_trial import local_trial, prepared_data  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from environments import registry  # noqa: E402
from events import BlobStore  # noqa: E402

MARK_START, MARK_END = "<!-- bench_isolation start -->", "<!-- bench_isolation end -->"
ENVS = ("golf-mini", "chat-mini", "airbench-mini")


def empty_phase(work: Path, runs: int = 15) -> dict[str, float]:
    """Median seconds: the wall time of `python -c pass` through the sandbox with and without its
    cgroup, and the time building and entering the trial's root takes inside the child."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "out").mkdir(exist_ok=True)
    (work / "tmp").mkdir(exist_ok=True)
    work.chmod(0o755)
    real_enter = fsview.enter
    took_r, took_w = os.pipe()

    def timed_enter(*args, **kw):  # in the child, between fork and exec
        t = time.perf_counter()
        real_enter(*args, **kw)
        os.write(took_w, struct.pack("d", time.perf_counter() - t))

    fsview.enter = timed_enter
    times: dict[str, list[float]] = {"all": [], "no cgroup": []}
    root: list[float] = []
    try:
        for _ in range(runs):
            for name in times:
                t = time.perf_counter()
                r = sandbox.run([sys.executable, "-c", "pass"], work, {}, Limits(kill_after_s=30, cgroup=name == "all"))
                times[name].append(time.perf_counter() - t)
                assert r.exit_code == 0, r.log
                root.append(struct.unpack("d", os.read(took_r, 8))[0])
    finally:
        fsview.enter = real_enter
    out = {k: statistics.median(v) for k, v in times.items()}
    out["root"] = statistics.median(root)
    setup = []
    for i in range(runs):  # the cgroup's own work, without a process start's noise around it
        t = time.perf_counter()
        group = cgroups.make(f"bench-{os.getpid()}-{i}", 1024**3, 64)
        group.cpu_s()
        group.kill()
        group.remove()
        setup.append(time.perf_counter() - t)
    out["cgroup"] = statistics.median(setup)
    return out


def trial(name: str, tmp: Path) -> dict:
    spec = registry.get(name)
    data = prepared_data(spec, log=lambda m: None)
    lines: list[str] = []
    t = time.perf_counter()
    executed, ev = local_trial(spec, "micro", spec.baseline_code(), BlobStore(tmp / "blobs"), tmp / "work", data,
                               trial_id=f"bench-{name}", log=lines.append)
    wall = time.perf_counter() - t
    judge_cpu = judge_wall = 0.0
    for line in lines:
        m = re.search(r" judge: cpu ([0-9.]+)s wall ([0-9.]+)s", line)
        if m:
            judge_cpu += float(m.group(1))
            judge_wall += float(m.group(2))
    eval_wall = sum(p.wall_s for p in executed.phases if p.name == "eval")
    return {"name": name, "verdict": ev.verdict, "wall": wall, "cpu": executed.measurements["cpu_s"],
            "phases": len(executed.phases), "judge_cpu": judge_cpu, "judge_wall": judge_wall, "eval_wall": eval_wall,
            "clock": executed.phases[0].cpu_clock}


def report(per_phase: dict[str, float], trials: list[dict], command: str) -> str:
    cgroup = per_phase["cgroup"]
    root = per_phase["root"]
    out = [MARK_START, "## Isolation per trial, micro tier (`benchmarks/bench_isolation.py`)", "",
           f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on this 2-core machine (shared with other work). "
           f"Command: `{command}`", "",
           f"An empty phase (`python -c pass`) through the sandbox: {per_phase['all'] * 1000:.0f} ms with everything; "
           f"{per_phase['no cgroup'] * 1000:.0f} ms without its cgroup (the difference is within this machine's "
           f"noise). Making, reading, killing and removing a cgroup takes {cgroup * 1000:.1f} ms a phase; building "
           f"and entering the trial's own root {root * 1000:.1f} ms inside the child (medians of 15).", "",
           "| environment | phases | trial wall | trial CPU (cgroups) | judge CPU | judge wall (eval phase wall) "
           "| isolation cost | share of the trial |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t in trials:
        # the judge runs beside its server: its CPU is the machine's extra work; its wall adds only
        # what it takes after the server has gone (near zero), so the cost counts its CPU
        cost = t["phases"] * (max(cgroup, 0) + max(root, 0)) + t["judge_cpu"]
        judge = f"{t['judge_wall']:.2f} s ({t['eval_wall']:.2f} s)" if t["judge_wall"] else "no judge"
        out.append(f"| {t['name']} | {t['phases']} | {t['wall']:.1f} s | {t['cpu']:.1f} s | {t['judge_cpu']:.2f} s "
                   f"| {judge} | {cost:.2f} s | {100 * cost / t['wall']:.1f}% |")
    out += ["", "Isolation cost = phases x (cgroup + own root) + the judge's CPU (the judge runs beside its model "
            "server: its wall time ends within 0.1 s of the eval phase's, so it adds CPU, not waiting).",
            f"CPU counted by: {trials[0]['clock']}. The judge's CPU is never charged to the recipe.", "", MARK_END]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", metavar="FILE")
    args = parser.parse_args()
    if not isolation_available():
        raise SystemExit("the isolation is made only as root on Linux: nothing to measure here")
    with tempfile.TemporaryDirectory(prefix="bench-isolation-") as tmp:
        per_phase = empty_phase(Path(tmp) / "empty")
        trials = [trial(name, Path(tmp) / name) for name in ENVS]
    command = "python benchmarks/bench_isolation.py" + (f" --write {args.write}" if args.write else "")
    section = report(per_phase, trials, command)
    print(section)
    if args.write:
        write_section(Path(args.write), section, MARK_START, MARK_END)


if __name__ == "__main__":
    main()
