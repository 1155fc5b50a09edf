"""`autorecipe fork RUN_DIR NEW_DIR --at OFFSET`: a new run from an old one's state."""

from __future__ import annotations

import click

from autorecipe.errors import fail
from events import CorruptLog


@click.command("fork")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("new_dir", type=click.Path(file_okay=False))
@click.option("--at", "at", type=click.IntRange(0), required=True, metavar="OFFSET", help="Keep the records before this offset.")
@click.option("--agents", help="Other specialists, comma-separated.")
@click.option("--trials", type=click.IntRange(1), help="Another trial budget.")
@click.option("--no-lineage", is_flag=True, default=None, help="Agents see only the best from here on.")
@click.option("--noise-margin", type=click.FloatRange(min=0), help="Another keep rule: a trial must beat the best by more than this.")
@click.option("--seed", type=int, help="Another seed for the agents' choices.")
@click.option("--start", is_flag=True, help="Continue NEW_DIR at once, as `autorecipe run --resume NEW_DIR` does.")
@click.option("--address", help="With --start: a Ray cluster to join ('auto' for the local one); default: start one.")
@click.option("-q", "--quiet", is_flag=True, help="With --start: print only the final summary.")
@click.pass_context
def fork_cmd(ctx, run_dir, new_dir, at, agents, trials, no_lineage, noise_margin, seed, start, address,
             quiet) -> None:
    """Start NEW_DIR from RUN_DIR's state before offset AT, optionally with other agents, budget
    or keep rule.

    \b
    Without --start NEW_DIR is only written: look at it first, or continue it elsewhere (on a
    cluster's head) with `autorecipe run --resume NEW_DIR`. With --start it continues here and
    now, by that same command; attempts running at the cut are marked lost and run again."""
    from autorecipe.fork import ForkError, fork

    if not start and (address or quiet):
        raise click.UsageError("--address and --quiet apply only with --start")
    overrides = {k: v for k, v in dict(trials=trials, noise_margin=noise_margin, seed=seed).items() if v is not None}
    if agents:
        overrides["agents"] = [a.strip() for a in agents.split(",") if a.strip()]
    if no_lineage:
        overrides["lineage"] = False
    try:
        fork(run_dir, at, new_dir, overrides, log=lambda m: click.echo(m, err=True))
    except (ForkError, CorruptLog, FileNotFoundError) as exc:
        fail(str(exc))
    if start:
        from autorecipe.cli_run import run_cmd

        # run's own command, not a copy of it: the same checks, resume, summary and Ctrl-C advice
        ctx.invoke(run_cmd, run_dir=new_dir, resume=True, address=address, quiet=quiet)

