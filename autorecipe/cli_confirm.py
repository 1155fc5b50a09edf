"""`autorecipe confirm RUN_DIR TRIAL`: a trial's claim tested over fresh seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from autorecipe.errors import fail


@click.command("confirm")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("trial")
@click.option("--seeds", type=click.IntRange(2), default=3, show_default=True, help="Fresh seeds per arm.")
@click.option("--first-seed", type=click.IntRange(1), default=1, show_default=True)
@click.option("--metric", help="What to compare (default: the record bar's, val_loss for parameter-golf, else the score).")
@click.option("--min-delta", type=click.FloatRange(min=0), help="How much better the trial must be (default: 0.005 for parameter-golf, else 0).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.01, show_default=True, help="The p-value to beat.")
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
        fail(str(exc.args[0]))
    except LogLocked:
        fail(f"{run_dir} is being written by a running loop; confirm once it has stopped")
    except PermissionError as exc:
        fail(f"{run_dir} cannot be written ({exc.strerror}: {exc.filename}); confirm appends its result to the log")
    click.echo(describe(event))
    sys.exit(0 if event.passed else 1)

