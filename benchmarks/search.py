"""Does the loop find better recipes? The reference system's controls, on the miniatures.

    python benchmarks/search.py --write BENCHMARKS.md
    python benchmarks/search.py --envs golf-mini --seeds 2 --trials 12     a smaller look

For each environment, arm and seed, one run of the loop at an equal trial budget:

    lineage      specialists that see the lineage (the system as designed)
    no_lineage   the same specialists, each seeing only the current best (--no-lineage)
    generalist   one agent owning the whole recipe and every technique (--env-opt roster=generalist)
    generalists  ten identical generalists (--env-opt roster=generalists)
    random       random choice from the technique library

Runs are logs under --root (default bench-runs/search): a finished run is read back, an
unfinished one is resumed, so the benchmark picks up where it was stopped. Reported per arm:
relative improvement of the best over the run's own baseline (mean and sd over seeds), keeps,
status rates, trials to reach half the best improvement found in that environment, CPU seconds
per kept trial, the share of diffs that stayed in their owner's surface, and a one-sided
Mann-Whitney test of "lineage improves more" against each control. Plots: best-so-far against
trials per environment (mean and spread over seeds).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import RunConfig  # noqa: E402
from autorecipe.launch import launch  # noqa: E402
from autorecipe.ray_start import ensure_ray  # noqa: E402
from autorecipe.report import surface_audit  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from benchmarks.search_stats import ARMS, CONTROLS, REACH, compare, figures, mean_curve, summarize  # noqa: E402
from environments import registry  # noqa: E402
from events import RunDir, RunState  # noqa: E402

MARK_START, MARK_END = "<!-- bench_search:start -->", "<!-- bench_search:end -->"
ENVS = ("golf-mini", "chat-mini", "airbench-mini")


def arm_config(env: str, arm: str, seed: int, trials: int, tier: str, executors: int) -> RunConfig:
    options = {"generalist": {"roster": "generalist"}, "generalists": {"roster": "generalists"}}.get(arm, {})
    return RunConfig(env=env, env_options=options, tier=tier, trials=trials, seed=seed, executors=executors,
                     lineage=arm != "no_lineage", proposer="random" if arm == "random" else "library")


def run_once(path: Path, config: RunConfig) -> tuple[RunState, float]:
    """The run at `path` and its wall seconds from its log: read back if it finished, resumed if
    it did not, started if absent."""
    rd = RunDir(path)
    state = RunState().apply_all(rd.reader().iter_records()) if rd.exists() else None
    if state is None or not state.run.stopped:
        resume = state is not None and state.run.run_id is not None
        if rd.exists() and not resume:  # a log without even its first event: start over
            shutil.rmtree(path)
        launch(path, None if resume else config, resume=resume, echo=lambda m: None, quiet=True)
    records = list(rd.reader().iter_records())
    return RunState().apply_all(records), (records[-1].wall_time_ns - records[0].wall_time_ns) / 1e9


def finished(path: Path) -> bool:
    rd = RunDir(path)
    return rd.exists() and RunState().apply_all(rd.reader().iter_records()).run.stopped is not None


def measure(root: Path, envs, arms, seeds: int, trials: int, tier: str, executors: int, report_only: bool = False,
            log=print) -> dict:
    out: dict[str, dict[str, list]] = {}
    for env in envs:
        direction = registry.get(env).direction
        out[env] = {}
        for arm in arms:
            for seed in range(seeds):
                path = root / env / arm / f"seed-{seed}"
                if report_only and not finished(path):
                    continue
                state, wall = run_once(path, arm_config(env, arm, seed, trials, tier, executors))
                fig = figures(state, arm, seed, trials, direction, surface_audit(state, RunDir(path)))
                fig.wall_s = wall
                out[env].setdefault(arm, []).append(fig)
                log(f"{env} {arm} seed {seed}: {fig.trials} trials, {fig.keeps} keeps, improvement "
                    f"{fig.improvement(direction):+.3%} ({wall:.0f} s)")
    return {env: arms for env, arms in out.items() if arms}


def report(results: dict, trials: int, tier: str, command: str, plots: Path | None) -> str:
    wall_s = sum(r.wall_s for arms in results.values() for runs in arms.values() for r in runs)
    lines = [MARK_START, "## Search quality against controls (`benchmarks/search.py`)", "",
             f"`{command}`: {tier} tier, {trials} proposals per run, offline technique library; total wall "
             f"{wall_s / 60:.0f} min on this machine (2 cores), summed over the runs' logs. Improvement = the run's best against its own "
             f"baseline, relative; p = one-sided Mann-Whitney U, \"lineage improves more than the control\", over "
             f"seeds; reach = median trials to half of the best improvement found in that environment (— when most "
             f"runs never got there).", ""]
    for env, arms in results.items():
        direction = registry.get(env).direction
        best_any = max((r.improvement(direction) for runs in arms.values() for r in runs), default=0.0)
        target = REACH * best_any
        lines += [f"### {env}", "",
                  "| arm | seeds | improvement (mean ± sd) | keeps | reach | CPU s / keep | own surface | top statuses | vs lineage: Δ, p |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        lineage = [r.improvement(direction) for r in arms.get("lineage", [])]
        for arm, runs in arms.items():
            versus = None
            if arm in CONTROLS and lineage:
                versus = compare(lineage, [r.improvement(direction) for r in runs])
            lines.append(_row(arm, summarize(runs, direction, target), versus))
        if plots:
            lines += ["", f"![best so far, {env}]({plots.as_posix()}/search-{env}.png)"]
        lines.append("")
    lines.append(MARK_END)
    return "\n".join(lines)


def _row(arm: str, s, versus: tuple[float, float] | None) -> str:
    def opt(value, fmt):
        return "—" if value is None else format(value, fmt)

    statuses = ", ".join(f"{k} {v:.0%}" for k, v in sorted(s.status_rates.items(), key=lambda kv: -kv[1])[:3])
    return (f"| {arm} | {s.seeds} | {s.improvement_mean:+.3%} ± {s.improvement_sd:.3%} | {s.keeps_mean:.1f} | "
            f"{opt(s.reach_median, 'g')} | {opt(s.cpu_s_per_keep, '.0f')} | {opt(s.own_surface_share, '.0%')} | "
            f"{statuses} | " + (f"{versus[0]:+.3%}, p = {versus[1]:.3f}" if versus else "—") + " |")


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    for env, arms in results.items():
        direction = registry.get(env).direction
        fig, ax = plt.subplots(figsize=(7, 4))
        for arm, runs in arms.items():
            means, sds = mean_curve(runs, direction)
            xs = range(1, len(means) + 1)
            ax.plot(xs, [100 * m for m in means], label=f"{arm} ({len(runs)} seeds)")
            ax.fill_between(xs, [100 * (m - s) for m, s in zip(means, sds)], [100 * (m + s) for m, s in zip(means, sds)],
                            alpha=0.15)
        ax.set_xlabel("trials proposed")
        ax.set_ylabel("best improvement over baseline (%)")
        ax.set_title(f"{env}: best so far, mean ± sd over seeds")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / f"search-{env}.png", dpi=110)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20, help="proposals per run (the equal budget)")
    parser.add_argument("--tier", default="micro")
    parser.add_argument("--executors", type=int, default=2)
    parser.add_argument("--root", type=Path, default=Path("bench-runs/search"))
    parser.add_argument("--plots", type=Path, default=Path("benchmarks/figures"))
    parser.add_argument("--write", metavar="FILE")
    parser.add_argument("--report-only", action="store_true",
                        help="read the finished runs under --root and report them; start nothing")
    args = parser.parse_args()
    envs = [e for e in args.envs.split(",") if e]
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; arms: {', '.join(ARMS)}")
    if not args.report_only:
        ensure_ray(None)
    results = measure(args.root, envs, arms, args.seeds, args.trials, args.tier, args.executors, args.report_only)
    plot(results, args.plots)
    # the command that makes the runs; --report-only reads them back and changes no figure
    command = " ".join(["python benchmarks/search.py", *(a for a in sys.argv[1:] if a != "--report-only")])
    section = report(results, args.trials, args.tier, command, args.plots)
    print(section)
    if args.write:
        write_section(Path(args.write), section, MARK_START, MARK_END)


if __name__ == "__main__":
    main()
