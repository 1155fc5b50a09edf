"""The `autorecipe` command line: the group, and where each command lives.

A command's module is imported only when that command runs (or its help is shown), so looking at
a run never pays for Ray, torch or the HTTP stack; and before anything of ours is imported, a
start-up check refuses to go on if another project's package hides one of ours (shadowed.py).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

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


# name -> "module:attribute"; `autorecipe --help` lists them all, sorted by name
COMMANDS = {
    "replay": "autorecipe.cli_read:replay_cmd",
    "log": "autorecipe.cli_read:log_cmd",
    "export": "autorecipe.cli_read:export_cmd",
    "synth": "autorecipe.cli_synth:synth_cmd",
    "show": "autorecipe.cli_show:show_cmd",
    "report": "autorecipe.cli_report:report_cmd",
    "confirm": "autorecipe.cli_confirm:confirm_cmd",
    "fork": "autorecipe.cli_fork:fork_cmd",
    "run": "autorecipe.cli_run:run_cmd",
    "serve": "autorecipe.cli_serve:serve_cmd",
    "stream": "autorecipe.cli_serve:stream_cmd",
    "envs": "autorecipe.cli_envs:envs_cmd",
    "prepare": "autorecipe.cli_envs:prepare_cmd",
    "trial": "autorecipe.cli_envs:trial_cmd",
    "calibrate": "autorecipe.cli_envs:calibrate_cmd",
    "check": "autorecipe.cli_check:check_cmd",
    "init": "autorecipe.cli_check:init_cmd",
}


class Cli(click.Group):
    """Commands load lazily (click's LazyGroup pattern). Every error is one line on stderr and exit
    status 2; the traceback only with --debug (or AUTORECIPE_DEBUG=1)."""

    def main(self, *args, **kwargs):
        from autorecipe.shadowed import refuse_if_shadowed

        refuse_if_shadowed()  # first: every command imports those packages
        return super().main(*args, **kwargs)

    def list_commands(self, ctx) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx, name: str):
        if name not in COMMANDS:
            return super().get_command(ctx, name)
        module, _, attribute = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.UsageError, click.exceptions.Exit, click.Abort):
            raise
        except click.exceptions.ClickException as exc:  # click's own exit with 1, which means "a finding" here
            from autorecipe.errors import fail

            fail(exc.format_message())
        except BrokenPipeError:  # `autorecipe show RUN T | head`: the reader has gone, as a C tool would
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
            sys.exit(141)
        except Exception as exc:  # noqa: BLE001 - a message, not a traceback
            if ctx.meta.get("debug") or os.environ.get("AUTORECIPE_DEBUG"):
                raise
            from autorecipe.errors import message

            click.echo(f"error: {message(exc)} (--debug shows the traceback)", err=True)
            sys.exit(2)


@click.group(cls=Cli, help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="autorecipe")
@click.option("--debug", is_flag=True, help="Show the traceback of an error instead of its one-line message.")
@click.pass_context
def main(ctx, debug: bool) -> None:
    ctx.meta["debug"] = debug


if __name__ == "__main__":
    main()
