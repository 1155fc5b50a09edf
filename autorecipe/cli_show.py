"""`autorecipe show RUN_DIR TRIAL`: one trial, everything the log knows about it."""

from __future__ import annotations

import click

from autorecipe.errors import existing_run, fail
from events import ClaimTested, CorruptLog, RunDir, TrialEvaluated, TrialExecuted, replay
from events.phase_logs import blob_text, log_tails

LOG_TAIL = 40


@click.command("show")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("trial_id")
@click.option("--log-lines", type=click.IntRange(0), default=LOG_TAIL, show_default=True, help="Lines of each phase's log tail.")
@click.option("--session", is_flag=True, help="Also the model session behind it: messages, tool calls and results, "
              "tokens, latency and cost of every call.")
def show_cmd(run_dir: str, trial_id: str, log_lines: int, session: bool) -> None:
    """Print TRIAL of RUN_DIR: who proposed it and why, its diff, how it ran, the verdict with
    every check and its evidence, and the tail of each phase's log."""
    existing_run(run_dir)
    try:
        _show(run_dir, trial_id, log_lines)
        if session:
            from autorecipe.session_view import session_lines

            click.echo("\n" + "\n".join(session_lines(run_dir, trial_id)))
    except CorruptLog as exc:  # replay's own refusal: where the damage is, never a traceback
        fail(str(exc))


def _show(run_dir: str, trial_id: str, log_lines: int) -> None:
    state = replay(run_dir)
    row = state.trials.rows.get(trial_id)
    if row is None:
        raise click.ClickException(f"{run_dir} has no trial {trial_id!r} (it has {len(state.trials.rows)} trials)")
    blobs = RunDir(run_dir).blobs()
    delta = "" if row.realized_delta is None else f" (Δ {row.realized_delta:+.6f} vs parent)"
    click.echo(f"{row.trial_id}  by {row.agent}  from {row.parent_id or 'the baseline'}  depth {row.depth}")
    click.echo(f"status     {row.status or row.phase}  score {row.score}{delta}  attempt {row.attempt}")
    click.echo(f"hypothesis {row.hypothesis}")
    if row.technique:
        click.echo(f"technique  {row.technique}")
    if row.notes:
        click.echo(f"notes      {row.notes}")
    if row.surface_violations:
        click.echo(f"surface    {'; '.join(row.surface_violations)}")
    executed = evaluated = None
    claims = []
    for rec in RunDir(run_dir).reader().iter_records():
        ev = rec.event
        if isinstance(ev, ClaimTested) and ev.trial_id == trial_id:
            claims.append(ev)
        if getattr(ev, "trial_id", None) != trial_id or getattr(ev, "attempt", None) != row.attempt:
            continue
        if isinstance(ev, TrialExecuted):
            executed = ev
        elif isinstance(ev, TrialEvaluated):
            evaluated = ev
    if evaluated:
        click.echo(f"\nverdict    {evaluated.verdict} by {evaluated.evaluator} v{evaluated.evaluator_version}")
        click.echo(f"feedback   {evaluated.feedback}")
        for c in evaluated.checks:
            click.echo(f"  {'pass' if c.passed else 'FAIL'}  {c.name}: {c.evidence}")
    from autorecipe.claims import describe  # it imports the trial runner

    for claim in claims:  # autorecipe confirm's seeded re-runs
        click.echo("\n" + describe(claim))
    if row.diff:
        click.echo("\n" + blob_text(blobs, row.diff).rstrip())
    if executed:
        click.echo("")
        for p in executed.phases:
            click.echo(f"phase {p.name:<10} exit {p.exit_code} cpu {p.cpu_s:.2f}s wall {p.wall_s:.2f}s "
                       f"budget {'-' if p.budget_s is None else f'{p.budget_s:g}s'}{' TIMED OUT' if p.timed_out else ''}")
        for name, tail in log_tails(blobs, executed.outputs, log_lines).items():  # what the gateway serves
            click.echo(f"\n--- {name} (last {len(tail.splitlines())} lines)")
            click.echo(tail)
