"""`autorecipe synth RUN_DIR`: a simulated run, to try the other commands on."""

from __future__ import annotations

import click

from autorecipe.errors import fail
from events import RunDir


@click.command("synth")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--trials", type=click.IntRange(1), default=200, show_default=True, help="Trials proposed by the specialists.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--executors", type=click.IntRange(1), default=4, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=100, show_default=True, help="Events per durable append.")
def synth_cmd(run_dir: str, trials: int, seed: int, executors: int, batch: int) -> None:
    """Write a simulated run to RUN_DIR (it must not hold a log yet).

    The trajectory has a real run's shape (ten specialists, the reference system's outcome mix,
    retries, LLM exchanges, a stop) and is labelled synthetic in its configuration. The same
    seed writes the same events, so its replay digest is reproducible.
    """
    from events.synthetic import generate, write

    run = RunDir(run_dir)
    if run.exists() and any(run.log_path.glob("segment-*.log")):
        fail(f"{run.log_path} already holds a log; choose a new RUN_DIR")
    with run.store() as store:
        n = write(store.append, generate(trials=trials, seed=seed, executors=executors, blobs=run.blobs()), batch)
    click.echo(f"wrote {n} events to {run.log_path}", err=True)

