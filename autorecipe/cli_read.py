"""Commands that read a run's log: replay, log, export."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from autorecipe.errors import existing_run, fail, warn_if_short
from events import CorruptLog, replay
from events.envelope import record_to_jsonable
from events.export import autoresearch_tsv, reference_tsv
from events.reader import Filter


@click.command("replay")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--until", type=click.IntRange(0), default=None, metavar="N", help="Fold only events with offset < N.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Leaderboard length.")
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

    run = existing_run(run_dir)
    try:
        state = replay(run_dir, until=until)
    except CorruptLog as exc:
        fail(str(exc))
    if until is None or state.next_offset < until:  # the log ended before --until did
        warn_if_short(run, state.next_offset)
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


@click.command("log")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--type", "types", multiple=True, metavar="T", help="Only this event type (repeatable), e.g. trial.evaluated.")
@click.option("--stream", default=None, metavar="S", help="Only streams starting with S, e.g. trial/ or agent/opt.")
@click.option("--from", "from_offset", type=click.IntRange(0), default=0, show_default=True, help="First offset.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many events.")
@click.option("--json", "as_json", is_flag=True, help="Whole records as JSON lines.")
def log_cmd(run_dir: str, types: tuple[str, ...], stream: str | None, from_offset: int,
            limit: int | None, as_json: bool) -> None:
    """Print RUN_DIR's events in log order, one per line."""
    from autorecipe.render import record_line
    from events.schema import TAGS

    run = existing_run(run_dir)
    reader = run.reader()
    where = Filter(stream, types)
    for unknown in sorted(set(types) - set(TAGS)):  # a newer autorecipe's type may still be in the log
        click.echo(f"warning: {unknown!r} is not an event type this autorecipe knows (it knows "
                   f"{', '.join(sorted(TAGS))})", err=True)
    shown, end = 0, 0 if from_offset == 0 else None  # end: after the last record read
    try:
        for record in reader.iter_records(from_offset):
            end = record.offset + 1
            if not where(record):
                continue
            if as_json:
                click.echo(orjson.dumps(record_to_jsonable(record)).decode())
            else:
                click.echo(record_line(record))
            shown += 1
            if limit is not None and shown >= limit:
                break
        else:
            if end is not None:
                warn_if_short(run, end)
    except CorruptLog as exc:
        fail(str(exc))


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--tsv", "tsv", is_flag=True, required=True, help="Write results as tab-separated values.")
@click.option("--format", "layout", type=click.Choice(["autoresearch", "reference"]), default="autoresearch",
              show_default=True,
              help="autoresearch: commit (the recipe's short hash), score, memory_gb (peak RSS, GiB), status, "
                   "description. reference: the reference system's trial columns for this environment.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="File to write (default: stdout).")
def export_cmd(run_dir: str, tsv: bool, layout: str, output: str | None) -> None:
    """Export RUN_DIR's evaluated trials as results.tsv, in verdict order."""
    run = existing_run(run_dir)
    try:
        state = replay(run_dir)
    except CorruptLog as exc:
        fail(str(exc))
    warn_if_short(run, state.next_offset)
    body = autoresearch_tsv(state) if layout == "autoresearch" else reference_tsv(state)
    if output:
        Path(output).write_text(body)
        click.echo(f"wrote {output}: {body.count(chr(10)) - 1} trials", err=True)
    else:
        click.echo(body, nl=False)

