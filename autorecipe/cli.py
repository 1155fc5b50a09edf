"""The `autorecipe` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import orjson

from events import CorruptLog, RunDir, replay
from events.envelope import record_to_jsonable
from events.export import autoresearch_tsv, reference_tsv
from events.reader import Filter

HELP = """\
autorecipe: specialist agents improve an ML training recipe through a closed, measured loop,
and every proposal, diff, experiment, score and failure label lands in an append-only event log.

A run is a directory: RUN_DIR/log holds the event log (CRC-checked segments), RUN_DIR/blobs
the code, diffs, logs and outputs it refers to. Everything else (lineage, leaderboard, budgets)
is rebuilt from the log, so a run can be audited anywhere you copy it.

\b
Look at a run:
  autorecipe replay RUN_DIR              leaderboard, best lineage chain, state digest
  autorecipe replay RUN_DIR --until 500  the same, as it stood before offset 500
  autorecipe log RUN_DIR --type trial.evaluated --stream trial/
  autorecipe export RUN_DIR --tsv -o results.tsv

\b
Environments (what is improved) and single trials:
  autorecipe envs                        tiers, budgets, specialists
  autorecipe init myenv --recipe train.py  scaffold an environment around your training script
  autorecipe check myenv:SPEC            validate an environment before any trial is spent
  autorecipe prepare airbench-mini       fetch and verify its data (registries only)
  autorecipe trial airbench-mini         one sandboxed trial of the baseline, and its verdict
  autorecipe calibrate airbench-mini     re-measure the baseline on this machine

\b
Try it without a run of your own:
  autorecipe synth runs/demo --trials 200 && autorecipe replay runs/demo
"""


class Cli(click.Group):
    """Every error is one line on stderr and exit status 2; the traceback only with --debug
    (or AUTORECIPE_DEBUG=1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - a message, not a traceback
            if ctx.meta.get("debug") or os.environ.get("AUTORECIPE_DEBUG"):
                raise
            from autorecipe.errors import message

            click.echo(f"error: {message(exc)} (--debug shows the traceback)", err=True)
            sys.exit(2)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _run_dir(path: str) -> RunDir:
    run = RunDir(path)
    if not run.exists():
        _fail(f"{path} is not a run directory: there is no {run.log_path}")
    return run


@click.group(cls=Cli, help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="autorecipe")
@click.option("--debug", is_flag=True, help="Show the traceback of an error instead of its one-line message.")
@click.pass_context
def main(ctx, debug: bool) -> None:
    ctx.meta["debug"] = debug


@main.command("replay")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--until", type=int, default=None, metavar="N", help="Fold only events with offset < N.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--top", type=int, default=10, show_default=True, help="Leaderboard length.")
@click.option("--verify", is_flag=True, help="Audit the run: recipes against their hashes and surfaces, every "
              "verdict re-derived from its recorded outputs; list divergences and exit 1 on any.")
@click.option("--llm", "llm_mode", type=click.Choice(["replay"]), default=None,
              help="Also run every LLM session again against the replies the log recorded (no network, no "
                   "model) and report where today's code asks or decides differently; exit 1 on any divergence.")
def replay_cmd(run_dir: str, until: int | None, as_json: bool, top: int, verify: bool, llm_mode: str | None) -> None:
    """Rebuild every projection of RUN_DIR from its segments.

    Prints the leaderboard, the root→best lineage chain and a digest of the rebuilt state: the
    same log gives the same digest, on any machine, in any process.
    """
    bad = []
    if llm_mode == "replay":
        from agents.llm.verify import verify_llm_sessions

        checks = verify_llm_sessions(run_dir, log=lambda m: click.echo(m, err=True))
        bad = [c for c in checks if not c.ok]
        click.echo(f"llm replay: {len(checks)} session(s), {sum(c.calls for c in checks)} recorded calls served, "
                   f"{len(bad)} divergence(s)", err=True)
        if bad:
            for c in bad:
                click.echo(f"  {c.session_id} ({c.agent}): {c.detail}", err=True)
    from autorecipe.render import summary_json, summary_text

    _run_dir(run_dir)
    try:
        state = replay(run_dir, until=until)
    except CorruptLog as exc:
        _fail(str(exc))
    if as_json:
        click.echo(orjson.dumps(summary_json(state, top), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(summary_text(state, top))
    failed = llm_mode == "replay" and bad
    if verify:
        from autorecipe.verify import verify_run

        audit = verify_run(run_dir, log=lambda m: click.echo(m, err=True))
        click.echo(f"verify: {audit.trials_checked} recipes and {audit.verdicts_checked} verdicts checked, "
                   f"{len(audit.divergences)} divergence(s)", err=True)
        for d in audit.divergences:
            click.echo(f"  offset {d.offset} {d.trial_id}: {d.what}", err=True)
        failed = failed or bool(audit.divergences)
    if failed:
        sys.exit(1)


@main.command("log")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--type", "types", multiple=True, metavar="T", help="Only this event type (repeatable), e.g. trial.evaluated.")
@click.option("--stream", default=None, metavar="S", help="Only streams starting with S, e.g. trial/ or agent/opt.")
@click.option("--from", "from_offset", type=int, default=0, show_default=True, help="First offset.")
@click.option("--limit", type=int, default=None, help="At most this many events.")
@click.option("--json", "as_json", is_flag=True, help="Whole records as JSON lines.")
def log_cmd(run_dir: str, types: tuple[str, ...], stream: str | None, from_offset: int,
            limit: int | None, as_json: bool) -> None:
    """Print RUN_DIR's events in log order, one per line."""
    from autorecipe.render import record_line

    reader = _run_dir(run_dir).reader()
    where = Filter(stream, types)
    shown = 0
    try:
        for record in reader.iter_records(from_offset):
            if not where(record):
                continue
            if as_json:
                click.echo(orjson.dumps(record_to_jsonable(record)).decode())
            else:
                click.echo(record_line(record))
            shown += 1
            if limit is not None and shown >= limit:
                break
    except CorruptLog as exc:
        _fail(str(exc))
    except BrokenPipeError:
        sys.stderr.close()


@main.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--tsv", "tsv", is_flag=True, required=True, help="Write results as tab-separated values.")
@click.option("--format", "layout", type=click.Choice(["autoresearch", "reference"]), default="autoresearch",
              show_default=True,
              help="autoresearch: commit (the recipe's short hash), score, memory_gb (peak RSS, GiB), status, "
                   "description. reference: the reference system's trial columns for this environment.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File to write (default: stdout).")
def export_cmd(run_dir: str, tsv: bool, layout: str, output: str | None) -> None:
    """Export RUN_DIR's evaluated trials as results.tsv, in verdict order."""
    _run_dir(run_dir)
    try:
        state = replay(run_dir)
    except CorruptLog as exc:
        _fail(str(exc))
    body = autoresearch_tsv(state) if layout == "autoresearch" else reference_tsv(state)
    if output:
        Path(output).write_text(body)
        click.echo(f"wrote {output}: {body.count(chr(10)) - 1} trials", err=True)
    else:
        click.echo(body, nl=False)


@main.command("synth")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--trials", type=int, default=200, show_default=True, help="Trials proposed by the specialists.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--executors", type=int, default=4, show_default=True)
@click.option("--batch", type=int, default=100, show_default=True, help="Events per durable append.")
def synth_cmd(run_dir: str, trials: int, seed: int, executors: int, batch: int) -> None:
    """Write a simulated run to RUN_DIR (it must not hold a log yet).

    The trajectory has a real run's shape (ten specialists, the reference system's outcome mix,
    retries, LLM exchanges, a stop) and is labelled synthetic in its configuration. The same
    seed writes the same events, so its replay digest is reproducible.
    """
    from events.synthetic import generate, write

    run = RunDir(run_dir)
    if run.exists() and any(run.log_path.glob("segment-*.log")):
        _fail(f"{run.log_path} already holds a log; choose a new RUN_DIR")
    with run.store() as store:
        n = write(store.append, generate(trials=trials, seed=seed, executors=executors, blobs=run.blobs()), batch)
    click.echo(f"wrote {n} events to {run.log_path}", err=True)


@main.command("confirm")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("trial")
@click.option("--seeds", type=click.IntRange(2), default=3, show_default=True, help="Fresh seeds per arm.")
@click.option("--first-seed", type=click.IntRange(1), default=1, show_default=True)
@click.option("--metric", help="What to compare (default: the record bar's, val_loss for parameter-golf, else the score).")
@click.option("--min-delta", type=float, help="How much better the trial must be (default: 0.005 for parameter-golf, else 0).")
@click.option("--alpha", type=float, default=0.01, show_default=True, help="The p-value to beat.")
def confirm_cmd(run_dir, trial, seeds, first_seed, metric, min_delta, alpha) -> None:
    """Re-run TRIAL and its parent over fresh seeds on this machine and test the claim that TRIAL
    is better (one-sided Welch t-test); the result is appended to RUN_DIR's log as claim.tested.
    Run it once the run has stopped (the log takes one writer).

    \b
    autorecipe confirm runs/golf-mini-... t0012 --seeds 5
    autorecipe confirm runs/pg-... t0750 --seeds 3          Parameter Golf's bar: 0.005 nats, p < 0.01
    """
    from autorecipe.claims import confirm, describe
    from events import LogLocked

    try:
        event = confirm(Path(run_dir), trial, seeds, first_seed, metric, min_delta, alpha,
                        log=lambda m: click.echo(m, err=True))
    except (KeyError, ValueError) as exc:
        _fail(str(exc.args[0]))
    except LogLocked:
        _fail(f"{run_dir} is being written by a running loop; confirm once it has stopped")
    click.echo(describe(event))
    sys.exit(0 if event.passed else 1)


@main.command("fork")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("new_dir", type=click.Path(file_okay=False))
@click.option("--at", "at", type=int, required=True, metavar="OFFSET", help="Keep the records before this offset.")
@click.option("--agents", help="Other specialists, comma-separated.")
@click.option("--trials", type=click.IntRange(1), help="Another trial budget.")
@click.option("--no-lineage", is_flag=True, default=None, help="Agents see only the best from here on.")
@click.option("--noise-margin", type=float, help="Another keep rule: a trial must beat the best by more than this.")
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
        _fail(str(exc))
    if start:
        from autorecipe.cli_run import run_cmd

        # run's own command, not a copy of it: the same checks, resume, summary and Ctrl-C advice
        ctx.invoke(run_cmd, run_dir=new_dir, resume=True, address=address, quiet=quiet)


@main.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Folder for the report (default RUN_DIR/report).")
def report_cmd(run_dir: str, out: str | None) -> None:
    """Write RUN_DIR's report: best-so-far over trials and over compute, statuses per agent,
    predicted vs realized deltas, the lineage tree (PNGs), results.tsv and the surface audit
    (surface_audit.tsv per agent; surface_touches.tsv: which surfaces each trial's diff touched)."""
    from autorecipe.report import write_report

    try:
        folder = write_report(run_dir, out)
    except (CorruptLog, FileNotFoundError) as exc:
        _fail(str(exc))
    for f in sorted(folder.iterdir()):
        click.echo(str(f))


def _register_env_commands() -> None:
    from autorecipe.cli_check import check_cmd, init_cmd
    from autorecipe.cli_envs import calibrate_cmd, envs_cmd, prepare_cmd, trial_cmd
    from autorecipe.cli_run import run_cmd
    from autorecipe.cli_serve import serve_cmd, stream_cmd
    from autorecipe.cli_show import show_cmd

    for cmd in (run_cmd, serve_cmd, stream_cmd, show_cmd, envs_cmd, prepare_cmd, trial_cmd, calibrate_cmd, check_cmd,
                init_cmd):
        main.add_command(cmd)


_register_env_commands()

if __name__ == "__main__":
    main()
