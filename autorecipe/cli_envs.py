"""Environment commands: envs, prepare, calibrate, trial."""

from __future__ import annotations

import importlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import click
import orjson

from autorecipe.errors import found
from environments import registry
from environments.data import data_root, prepared_data
from events import BlobStore
from events.envelope import to_jsonable

ENV_OPT = click.option(
    "--env-opt", "env_opts", multiple=True, metavar="KEY=VALUE",
    help="An option of a real-task adapter (repeatable): upstream=PATH, data=PATH, gpus=N, ... (autorecipe envs).")


def env_options(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--env-opt {item!r}: write KEY=VALUE")
        out[key.strip()] = value
    return out


def spec_of(name: str, options: dict[str, str] | None = None):
    try:
        return registry.get(name, options or None)
    except KeyError as exc:  # an unknown name, or a module that fails to load: one line, no usage text
        raise click.ClickException(str(exc.args[0])) from None
    except ValueError as exc:
        raise click.UsageError(str(exc.args[0])) from None



@click.command("envs")
def envs_cmd() -> None:
    """List the environments with their tiers, budgets and specialists, then the real-task
    adapters with the options they take."""
    from environments.upstream.options import describe

    for name in registry.names():
        spec = registry.get(name)
        click.echo(f"{spec.name}: {spec.description}")
        click.echo(f"  score      {spec.direction} {spec.metric}; recipe {', '.join(spec.recipe_files)}")
        for tier in spec.tiers.values():
            budgets = ", ".join(f"{p} {b.seconds:g} s {b.measure}" for p, b in tier.budgets.items())
            extra = ", ".join(f"{k}={v:g}" for k, v in tier.limits.items())
            reps = ", ".join(f"{p}×{n}" for p, n in tier.repeats.items())
            click.echo(f"  {tier.name:<10} {budgets}" + (f"; {reps}" if reps else "") + (f"; {extra}" if extra else ""))
        click.echo("  specialists " + ", ".join(s.name for s in spec.specialists))
        click.echo()
    for name in registry.adapters():
        module = importlib.import_module(registry.adapter_module(name))
        click.echo(f"{module.__doc__.strip().splitlines()[0]} (a real task, on GPUs)")
        if hasattr(module, "CLONE"):
            click.echo(f"  checkout   {module.CLONE}")
        click.echo("  options (--env-opt KEY=VALUE):")
        click.echo(describe(module.OPTIONS))
        if getattr(module, "NOTES", ""):
            click.echo(module.NOTES)
        click.echo()


@click.command("prepare")
@click.argument("env")
@click.option("--data", type=click.Path(file_okay=False), default=None,
              help="Data root (default $AUTORECIPE_DATA or ~/.cache/autorecipe).")
@ENV_OPT
@click.option("--dry-run", is_flag=True, help="Real tasks: print the upstream's data commands, run nothing.")
def prepare_cmd(env: str, data: str | None, env_opts: tuple[str, ...], dry_run: bool) -> None:
    """Download, verify and prepare ENV's data on this node. Safe to run again and to interrupt:
    an unfinished preparation never looks finished.

    
    The miniatures take their data from the package registries only. A real task runs its
    upstream's own data commands, in its checkout, for whatever is missing (executors do the
    same on every node they land on):
      autorecipe prepare parameter-golf --env-opt upstream=~/parameter-golf --dry-run
      autorecipe prepare nanochat-d12 --env-opt upstream=~/nanochat --env-opt shards=240
    """
    options = env_options(env_opts)
    spec = spec_of(env, options)
    if dry_run:
        if env not in registry.adapters():
            raise click.UsageError(f"{env} prepares from the package registries; --dry-run is for the real tasks")
        module = importlib.import_module(registry.adapter_module(env))
        if hasattr(module, "dry_run"):
            lines = module.dry_run(options)
        else:  # what is there, then what runs
            lines = [*getattr(module, "describe_data", lambda options: [])(options),
                     *(c.show() for c in module.data_commands(options))]
        for line in lines:
            click.echo(line)
        return
    try:
        folder = prepared_data(spec, Path(data) if data else None, log=lambda m: click.echo(m, err=True))
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(folder))


@click.command("trial")
@click.argument("env")
@click.option("--recipe", type=click.Path(dir_okay=False, exists=True), multiple=True,
              help="A recipe file to use instead of the baseline's: matched by the recipe path it ends with "
                   "(.../scripts/base_train.py), or by a name only one recipe file has (repeatable).")
@click.option("--tier", default=None, help="Default: the environment's first (micro; full for the real tasks).")
@ENV_OPT
@click.option("--keep", is_flag=True, help="Keep the trial's work dir (under --scratch) for inspection.")
@click.option("--scratch", type=click.Path(file_okay=False), default=None, help="Where work dirs go.")
@click.option("--json", "as_json", is_flag=True, help="Print the measurements and the verdict as JSON.")
@click.option("--lenient", is_flag=True, help="A technique whose edits do not apply to the baseline is a warning.")
def trial_cmd(env: str, recipe: tuple[str, ...], tier: str | None, env_opts: tuple[str, ...], keep: bool,
              scratch: str | None, as_json: bool, lenient: bool = False) -> None:
    """Run one trial of ENV in the sandbox and print the evaluator's verdict. Exits 0 only for a
    valid verdict (1 otherwise), so a script can tell.

    ENV is a known environment (autorecipe envs) or your own as package.module:SPEC.

    \b
    autorecipe trial airbench-mini                        the baseline, micro tier
    autorecipe trial airbench-mini --recipe edited/airbench_mini.py --tier standard
    autorecipe trial examples.polyfit:SPEC
    autorecipe trial parameter-golf --env-opt upstream=~/parameter-golf --env-opt gpus=8
    autorecipe trial nanochat-d12 --env-opt upstream=~/nanochat --recipe edited/scripts/base_train.py
    """
    spec = spec_of(env, env_options(env_opts))
    tier = tier or next(iter(spec.tiers))
    try:
        spec.tier(tier)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    code = spec.baseline_code()
    for path in recipe:
        try:
            code[recipe_key(code, path)] = Path(path).read_bytes()
        except ValueError as exc:
            raise click.UsageError(f"{path}: {exc}; {env}'s recipe files are {', '.join(code)}") from None
    from autorecipe.cli_check import require_valid
    from autorecipe.local_trial import local_trial  # the sandbox and the evaluators: only when a trial runs

    require_valid(env, spec, lenient=lenient)
    data = prepared_data(spec, log=lambda m: click.echo(m, err=True))
    root = Path(scratch or tempfile.mkdtemp(prefix="autorecipe-trial-"))
    blobs = BlobStore(root / "blobs")
    executed, ev = local_trial(spec, tier, code, blobs, root / "work", data, keep_work=keep,
                               log=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(orjson.dumps(to_jsonable({"executed": executed, "evaluated": ev}), option=orjson.OPT_INDENT_2).decode())
        sys.exit(0 if ev.verdict == "valid" else 1)
    click.echo(f"verdict   {ev.verdict}" + (f"   score {spec.metric} = {ev.score:.6g}" if ev.score is not None else ""))
    if ev.metrics:
        click.echo("metrics   " + ", ".join(f"{k} {v:.6g}" for k, v in ev.metrics.items()))
    for c in ev.checks:
        click.echo(f"  {'ok  ' if c.passed else 'FAIL'} {c.name}" + (f": {c.evidence}" if c.evidence else ""))
    click.echo(f"feedback  {ev.feedback}")
    if keep:
        click.echo(f"work dir  {root / 'work'}")
    sys.exit(0 if ev.verdict == "valid" else 1)


def recipe_key(code: dict[str, bytes], path: str) -> str:
    """Which recipe file `path` replaces: the longest recipe path it ends with
    (edited/scripts/base_train.py is scripts/base_train.py), or else the one recipe file with its
    name. Nested upstream files share names (two __init__.py), so a bare name must be unambiguous."""
    parts = Path(path).resolve().parts
    ends = [k for k in code if parts[len(parts) - len(Path(k).parts):] == Path(k).parts]
    if ends:
        return max(ends, key=lambda k: len(Path(k).parts))
    named = [k for k in code if Path(k).name == Path(path).name]
    if len(named) == 1:
        return named[0]
    if named:
        raise ValueError(f"its name fits {', '.join(named)}: give a path ending in one of them")
    raise ValueError("it is none of the recipe files")


@click.command("calibrate")
@click.argument("env")
@click.option("--tier", default="standard", show_default=True)
@click.option("--runs", type=click.IntRange(1), default=3, show_default=True, help="Baseline trials to measure.")
@ENV_OPT
def calibrate_cmd(env: str, tier: str, runs: int, env_opts: tuple[str, ...]) -> None:
    """Re-measure ENV's baseline on this machine and record it beside the prepared data
    (calibration-<tier>.json): the score, its spread, and how close it sits to each limit.
    Only valid runs count; when none is valid, nothing is recorded and the calibration already
    there stays. The real tasks have one tier, full: pass --tier full."""
    from autorecipe.local_trial import local_trial

    spec = spec_of(env, env_options(env_opts))
    try:
        t = spec.tier(tier)  # before any data is prepared: a typo costs nothing
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    data = prepared_data(spec, log=lambda m: click.echo(m, err=True))
    results = []
    with tempfile.TemporaryDirectory(prefix="autorecipe-calibrate-") as root:
        for i in range(runs):
            started = time.monotonic()
            executed, ev = local_trial(spec, tier, spec.baseline_code(), BlobStore(Path(root) / "blobs"),
                                       Path(root) / "work", data, trial_id=f"calibrate{i}")
            click.echo(f"run {i + 1}/{runs}: {ev.verdict} {spec.metric}={ev.score} ({time.monotonic() - started:.1f} s)",
                       err=True)
            results.append((executed, ev))
    valid = [(executed, ev) for executed, ev in results if ev.verdict == "valid" and ev.score is not None]
    if not valid:  # a calibration of nothing would replace a good one: keep what was recorded
        ev = results[0][1]
        opts = "".join(f" --env-opt {o}" for o in env_opts)
        found(
            f"no baseline run of {spec.name} ({tier}) was valid, so nothing was recorded; the first was "
            f"{ev.verdict}: {ev.feedback}\nsee one run in full with: autorecipe trial {spec.name} --tier {tier}{opts}")
    if len(valid) < len(results):
        click.echo(f"warning: {len(results) - len(valid)} of {runs} baseline runs were not valid; "
                   f"the calibration is the mean of the other {len(valid)}", err=True)
    scores = [ev.score for _, ev in valid]
    phase_use = {}
    for executed, _ in valid:
        for p in executed.phases:
            if p.budget_s:
                phase_use.setdefault(p.name.partition(":")[0], []).append(p.cpu_s / p.budget_s)
    record = {
        "environment": spec.name, "tier": tier, "runs": runs, "machine": platform.node(),
        "processor": platform.processor() or platform.machine(), "data_root": str(data_root()),
        "verdicts": [ev.verdict for _, ev in results],
        "score_mean": statistics.fmean(scores),
        "score_std": statistics.pstdev(scores) if len(scores) > 1 else None,
        "metrics": [ev.metrics for _, ev in results],
        "budget_use": {k: round(max(v), 3) for k, v in phase_use.items()},
        "limits": t.limits,
    }
    out = data / f"calibration-{tier}.json"
    out.write_text(json.dumps(record, indent=2))
    click.echo(json.dumps({k: record[k] for k in ("verdicts", "score_mean", "score_std", "budget_use")}, indent=2))
    click.echo(f"recorded in {out}", err=True)
