"""`autorecipe report RUN_DIR`: figures, tables and the surface audit of a run."""

from __future__ import annotations

import click

from autorecipe.errors import fail
from events import CorruptLog


@click.command("report")
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
        fail(str(exc))
    for f in sorted(folder.iterdir()):
        click.echo(str(f))

