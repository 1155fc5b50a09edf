"""`autorecipe check ENV` and `autorecipe init NAME --recipe train.py`."""

from __future__ import annotations

from pathlib import Path

import click

from autorecipe.cli_envs import ENV_OPT, env_options, spec_of
from autorecipe.errors import found
from events.ranking import DIRECTIONS


def require_valid(env: str, spec, lenient: bool = False, data: bool = True, echo=None) -> None:
    """The check `run` and `trial` do first: warnings are printed, errors stop the command
    before a trial is spent, every one of them listed."""
    from autorecipe.check_env import check, source_of

    echo = echo or (lambda m: click.echo(m, err=True))
    report = check(spec, source_of(env), lenient=lenient, data=data, log=lambda m: echo(f"data: {m}"))
    for w in report.warnings:
        echo(f"warning: {w}")
    if report.errors:
        lines = "\n".join(f"  {e}" for e in report.errors)
        raise click.ClickException(f"{env} is not a valid environment ({len(report.errors)} problem(s)); "
                                   f"nothing was run:\n{lines}")


@click.command("check")
@click.argument("env")
@ENV_OPT
@click.option("--lenient", is_flag=True, help="A technique whose edits do not apply to the baseline is a warning, "
              "not an error (its arm is dropped).")
@click.option("--no-data", is_flag=True, help="Do not prepare the data (prepare checks it is there).")
def check_cmd(env: str, env_opts: tuple[str, ...], lenient: bool, no_data: bool) -> None:
    """Validate ENV before any trial is spent on it: every field of its spec, the budgets against
    the phases, the surfaces' regions against the recipe files, the evaluator (it imports and
    takes executed, blobs, data, tier), each technique's edits against the baseline, and the
    data (prepared here). Each problem names the field and the file; exit 1 if there is any.

    \b
    autorecipe check golf-mini
    PYTHONPATH=. autorecipe check my_env:SPEC
    """
    spec = spec_of(env, env_options(env_opts))
    try:
        require_valid(env, spec, lenient, data=not no_data)
    except click.ClickException as exc:
        found(exc.message)
    click.echo(f"{env}: ok ({len(spec.phases)} phase(s), {len(spec.tiers)} tier(s), {len(spec.specialists)} "
               f"specialist(s), {len(spec.techniques)} technique(s))")


@click.command("init")
@click.argument("name")
@click.option("--recipe", type=click.Path(dir_okay=False, exists=True), required=True,
              help="Your training script: it becomes recipe/<its name>, the file the specialists edit.")
@click.option("--dir", "where", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where the package folder NAME is made.")
@click.option("--metric", default="loss", show_default=True, help="The score's name.")
@click.option("--direction", type=click.Choice(DIRECTIONS), default="minimize", show_default=True)
@click.option("--budget", "budget_s", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True,
              help="CPU seconds the training phase may take.")
def init_cmd(name: str, recipe: str, where: str, metric: str, direction: str, budget_s: float) -> None:
    """Scaffold an environment package NAME around your training script: its spec, a harness
    that runs the script, an evaluator stub, and one technique for the offline proposer.

    \b
    The script reports its score in out/metrics.json ({"loss": 0.42}) or as a line "loss: 0.42";
    the stub evaluator trusts it (make it compute the score itself: see NAME/evaluate.py).
      autorecipe init my_env --recipe train.py
      PYTHONPATH=. autorecipe check my_env:SPEC
      PYTHONPATH=. autorecipe run --env my_env:SPEC --trials 10
    """
    from autorecipe.scaffold import ScaffoldError, scaffold

    try:
        folder = scaffold(name, Path(recipe), Path(where), metric, direction, budget_s)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    parent = folder.parent.resolve()
    click.echo(f"made {folder}: __init__.py (the spec), recipe/{Path(recipe).name}, harness/run.py, evaluate.py, "
               "techniques.py")
    click.echo(f"next: PYTHONPATH={parent} autorecipe check {name}:SPEC")
    click.echo(f"      PYTHONPATH={parent} autorecipe run --env {name}:SPEC --trials 10")
