"""`autorecipe run`: the closed loop on Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from actors.config import BASELINE_ID, RunConfig
from autorecipe import signals
from autorecipe.cli_envs import ENV_OPT, env_options, spec_of
from autorecipe.render import summary_text

RUN_HELP = """Run the loop: specialists propose, executors run, evaluators judge, all through the log.

\b
Without --address an embedded Ray starts on this machine. RUN_DIR defaults to
runs/<env>-<timestamp>; it holds the event log and blobs, and is all you need to audit,
replay or resume the run.

\b
  autorecipe run                                  golf-mini, micro tier, offline specialists
  autorecipe run --env airbench-mini --tier standard --trials 100 --hours 2
                                                  at most 100 trials and 2 hours
  autorecipe run --agents opt,quant --no-lineage  the ablation: agents see only the best
  autorecipe run --env dryrun --runner zero --proposer random --trials 500
                                                  the loop alone, at no cost: 500 trials that
                                                  start no process, from a proposer that never
                                                  runs dry
  autorecipe run --resume runs/golf-mini-...      continue a stopped or crashed run
  autorecipe run --address auto                   on a running Ray cluster
  autorecipe run --address auto --env parameter-golf --env-opt upstream=/opt/parameter-golf
                                                  a real task (README: "On a Ray cluster")

Stops at the first of: the trial budget used and judged, --hours, --patience verdicts without a
new best, --cpu-hours of trial compute, --cost-usd of model spend, or no specialist having
anything left to try (an offline library runs dry: dryrun's after about 20 trials).
"""


@click.command("run", help=RUN_HELP)
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--env", default="golf-mini", show_default=True, help="Environment name (autorecipe envs) or pkg.mod:SPEC.")
@click.option("--tier", default=None, help="Default: the environment's first (micro; full for the real tasks).")
@ENV_OPT
@click.option("--agents", default="", help="Comma-separated specialists (default: all of the environment's).")
@click.option("--trials", type=click.IntRange(1), default=40, show_default=True, help="Proposals by specialists.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True), help="Deadline, from the start of the run.")
@click.option("--patience", type=click.IntRange(1), help="Stop after this many verdicts without a new best.")
@click.option("--cpu-hours", type=click.FloatRange(min=0, min_open=True), help="Stop when trial compute reaches this.")
@click.option("--cost-usd", type=click.FloatRange(min=0, min_open=True),
              help="Stop when LLM spend reaches this many US dollars: the sum of the cost of every model call "
              "(llm.exchanged), priced from its usage by the endpoint's price table (price = {input, cached_input, "
              "output} in USD per million tokens, in --llm-config; the PROVIDER:MODEL shortcuts carry none). "
              "Sessions under way finish: the spend can pass the limit by one session per specialist.")
@click.option("--executors", type=click.IntRange(1), help="Trials at once (default: what the cluster's resources fit).")
@click.option("--evaluators", type=click.IntRange(1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-lineage", is_flag=True, help="Each agent sees only the current best (the ablation).")
@click.option("--max-in-flight", type=click.IntRange(1), default=1, show_default=True, help="Trials per specialist.")
@click.option("--surface-mode", type=click.Choice(["strict", "audit"]), default="strict", show_default=True,
              help="strict: an edit outside the agent's surface is out_of_surface; audit: recorded only.")
@click.option("--at-stop", type=click.Choice(["finish", "cancel"]), default="finish", show_default=True,
              help="What happens to trials running when a deadline or patience stops the run.")
@click.option("--runner", type=click.Choice(["sandbox", "zero"]), default="sandbox", show_default=True,
              help="zero: trials run no process (only for environments scored from the recipe, e.g. dryrun).")
@click.option("--proposer", type=click.Choice(["library", "random"]), default=None,
              help="Offline specialists: library (default), each technique library under a lineage-aware policy, "
              "which stops once nothing is left to try; random, a technique at random applied to the best, which "
              "never runs dry (the control arm). --llm gives them a model instead.")
@click.option("--llm", "llm", help="Specialists talk to this model: PROVIDER:MODEL (openai:gpt-5, anthropic:..., "
              "ollama:..., vllm:..., llamacpp:..., lmstudio:...) or an endpoint named in --llm-config.")
@click.option("--llm-agent", "llm_agents", multiple=True, metavar="AGENT=MODEL",
              help="A different model for one agent (repeatable); MODEL as for --llm.")
@click.option("--llm-config", type=click.Path(dir_okay=False, exists=True),
              help="TOML file of [endpoints.NAME] sections: base_url, api, model, api_key_env, prices, limits.")
@click.option("--llm-base-url", help="Override the provider's base URL (a local server on another port).")
@click.option("--llm-max-tokens", type=click.IntRange(1), help="Output tokens per model call (default: the "
              "endpoint's; 1,024 for the local shortcuts, 4,096 for hosted ones).")
@click.option("--llm-timeout", type=click.FloatRange(min=1), help="Read timeout of a model call in seconds: the "
              "longest wait for the next bytes of a reply, streamed or not (the whole call is bounded by the endpoint's "
              "call_deadline_s, 900 s unless --llm-config says otherwise).")
@click.option("--llm-stream/--llm-no-stream", default=None, help="Stream replies (default: on for local servers).")
@click.option("--llm-edit-format", type=click.Choice(["auto", "search_replace", "whole_file", "text", "text_whole_file"]),
              help="How the model edits: tools (search_replace, whole_file), plain text for models without tool "
              "calling (text, text_whole_file), or auto: probed at start.")
@click.option("--address", help="A Ray cluster to join ('auto' for the local one); default: start one.")
@click.option("--serve", "serve_port", type=click.IntRange(0, 65535), default=None, metavar="PORT",
              help="Also serve the run on http://127.0.0.1:PORT while it runs (autorecipe serve, in this process).")
@click.option("--resume", "resume", is_flag=True, help="Continue the run in RUN_DIR with its recorded configuration.")
@click.option("--keep-work", is_flag=True, help="Keep every trial's work dir (under $AUTORECIPE_SCRATCH, default "
              "$TMPDIR/autorecipe-work/<run id>/) for debugging; by default each goes when its attempt ends.")
@click.option("--lenient", is_flag=True, help="Start even if a technique's edits do not apply to the baseline "
              "(autorecipe check --lenient).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the final summary.")
def run_cmd(run_dir, env, tier, env_opts, agents, trials, hours, patience, cpu_hours, cost_usd, executors, evaluators,
            seed, no_lineage, max_in_flight, surface_mode, at_stop, runner, proposer, llm, llm_agents, llm_config,
            llm_base_url, llm_max_tokens, llm_timeout, llm_stream, llm_edit_format, address, serve_port, resume,
            keep_work=False, lenient=False, quiet=False):
    if resume and not run_dir:
        raise click.UsageError("--resume needs the RUN_DIR to continue")
    config = None
    if resume:
        refuse_ignored_flags(click.get_current_context())
    else:
        if run_dir:
            refused_if_taken(run_dir)
        options = env_options(env_opts)
        spec, tier = valid_spec(env, options, tier, lenient=lenient, data=runner == "sandbox", quiet=quiet)
        chosen = chosen_agents(env, spec, agents)
        models = chosen_models(chosen or [s.name for s in spec.specialists], llm, llm_agents, llm_config,
                               llm_base_url, dict(max_output_tokens=llm_max_tokens, read_timeout_s=llm_timeout,
                                                  stream=llm_stream, edit_format=llm_edit_format), cost_usd)
        if models and proposer:
            raise click.UsageError(f"--proposer {proposer} is an offline proposer; --llm gives the specialists a model")
        config = RunConfig(env=env, env_options=options, tier=tier, agents=chosen, trials=trials, hours=hours,
                           patience=patience, cpu_hours=cpu_hours, cost_usd=cost_usd, executors=executors,
                           evaluators=evaluators, seed=seed, lineage=not no_lineage, max_in_flight=max_in_flight,
                           surface_mode=surface_mode, at_stop=at_stop, runner=runner,
                           proposer="llm" if models else proposer or "library", llm=models)
        run_dir = run_dir or f"runs/{env.replace(':', '-')}-{new_run_id()}"
    if serve_port is not None:
        refuse_busy_port(serve_port)
    done = launched(run_dir, config, address=address, resume=resume, quiet=quiet, serve_port=serve_port,
                    keep_work=keep_work)
    click.echo("")
    click.echo(summary_text(done.state, 10))
    click.echo(improvement(done.state))
    click.echo(f"run dir    {done.run_dir}")
    if serve_port is not None:
        serve_after(done.run_dir, serve_port)


def refused_if_taken(run_dir: str) -> None:
    """Before the environment is checked or its data prepared (minutes, for a real one)."""
    from autorecipe.launched import LaunchError, refuse_taken
    from events.rundir import RunDir

    try:
        refuse_taken(RunDir(Path(run_dir).resolve()), resume=False)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None


def valid_spec(env: str, options: dict[str, str], tier: str | None, lenient: bool, data: bool, quiet: bool):
    """ENV's spec and the tier to run (its first by default), checked as `autorecipe check` does."""
    from autorecipe.cli_check import require_valid

    spec = spec_of(env, options)
    tier = tier or next(iter(spec.tiers))
    try:
        spec.tier(tier)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    require_valid(env, spec, lenient=lenient, data=data, echo=(lambda m: None) if quiet else None)
    return spec, tier


def chosen_agents(env: str, spec, agents: str) -> list[str]:
    """--agents as a list; empty for all of the environment's specialists."""
    chosen = [a.strip() for a in agents.split(",") if a.strip()]
    known = [s.name for s in spec.specialists]
    unknown = [a for a in chosen if a not in known]
    if unknown:
        raise click.UsageError(f"{env} has no specialist {', '.join(unknown)}; it has {', '.join(known)}")
    return chosen


def chosen_models(agents: list[str], llm: str | None, per_agent: tuple[str, ...], config_file: str | None,
                  base_url: str | None, fields: dict, cost_usd: float | None) -> dict[str, dict]:
    """agent -> its endpoint, with the --llm-* fields given over it; {} for the offline proposers."""
    from autorecipe.llm_start import overridden

    models = overridden(_models(agents, llm, per_agent, config_file, base_url), **fields)
    if cost_usd is not None and not _priced(models):
        # a limit on a spend that is always $0 would never bind: say so instead of running unbounded
        raise click.UsageError("--cost-usd limits model spend, but no endpoint of this run has a price: give "
                               "--llm an endpoint from --llm-config with price = { input = ..., output = ... } "
                               "(USD per million tokens)")
    return models


def new_run_id() -> str:
    from autorecipe.launch import new_run_id as run_id

    return run_id()


def refuse_busy_port(port: int) -> None:
    """Before Ray starts: a busy port is an error, not another run's page."""
    from autorecipe.embedded_gateway import PortBusy, bind

    try:
        bind(port).close()
    except PortBusy as exc:
        raise click.UsageError(f"--serve {port}: {exc}") from None


def launch(run_dir: Path, config: RunConfig | None, **kw):
    """autorecipe.launch.launch, imported only when a run starts: it imports Ray."""
    from autorecipe.launch import launch as start

    return start(run_dir, config, **kw)


def __getattr__(name: str):
    if name == "LaunchError":  # cli_run.LaunchError, as before, without importing Ray for --help
        from autorecipe.launched import LaunchError

        return LaunchError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def launched(run_dir: str, config: RunConfig | None, **kw):
    """The run, to its end; a launch that cannot start is one line, Ctrl-C says how to go on."""
    from autorecipe.launched import LaunchError  # not autorecipe.launch: Ray is imported below, interruptibly

    signals.install()  # SIGTERM and a background job's SIGINT end the run as Ctrl-C does, from here on
    try:
        return launch(Path(run_dir), config, echo=click.echo, **kw)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        if _started(Path(run_dir)):
            click.echo(f"\ninterrupted: the log holds everything up to now; continue with "
                       f"`autorecipe run --resume {run_dir}`", err=True)
        else:
            click.echo(f"\ninterrupted before the run started: nothing was recorded in {run_dir}; start it again",
                       err=True)
        sys.exit(130)


def _started(run_dir: Path) -> bool:
    """Whether the run's log holds anything (its first record is RunStarted): what --resume needs."""
    from events.rundir import RunDir

    rd = RunDir(run_dir)
    try:
        return rd.exists() and next(iter(rd.reader().iter_records()), None) is not None
    except Exception:  # a log too damaged to read: --resume is where it will say what is wrong
        return True


def serve_after(run_dir: Path, port: int) -> None:
    """At a terminal, the finished run stays served until Ctrl-C; elsewhere, say how to serve it."""
    again = f"autorecipe serve {run_dir} --port {port}"
    if not sys.stdin.isatty():
        click.echo(f"the gateway stopped with the run; serve it again with `{again}`")
        return
    from autorecipe.embedded_gateway import EmbeddedGateway, PortBusy

    try:
        gateway = EmbeddedGateway(run_dir, port).start()
    except PortBusy as exc:
        click.echo(f"could not keep serving ({exc}); serve it with `{again}`", err=True)
        return
    click.echo(f"still serving the finished run on {gateway.url}; Ctrl-C to stop (later: `{again}`)")
    gateway.wait()


RESUME_KEEPS = {"run_dir", "resume", "address", "serve_port", "quiet", "keep_work", "lenient"}


def refuse_ignored_flags(ctx: click.Context) -> None:
    """--resume continues with the configuration the log recorded: a flag that would change it
    is refused by name rather than silently ignored."""
    from click.core import ParameterSource

    given = [p for p in ctx.command.params if p.name not in RESUME_KEEPS
             and ctx.get_parameter_source(p.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    if given:
        flags = ", ".join(p.opts[-1] if len(p.opts) == 1 else max(p.opts, key=len) for p in given)
        raise click.UsageError(f"--resume continues the run with the configuration its log recorded, so it would "
                               f"ignore {flags}; drop them, or start a run with other settings from this one's "
                               "state with `autorecipe fork RUN_DIR NEW_DIR --at OFFSET ...`")


def _models(agents: list[str], llm: str | None, per_agent: tuple[str, ...], config_file: str | None,
            base_url: str | None) -> dict[str, dict]:
    """agent -> endpoint fields, from --llm, --llm-agent and --llm-config; {} for the offline library."""
    from agents.llm.config import ConfigError, from_shortcut, load_config

    if not llm and not per_agent:
        if config_file:  # a config file given alone was silently ignored: the run went offline
            try:
                names = ", ".join(load_config(config_file))
            except ConfigError as exc:
                raise click.UsageError(str(exc)) from None
            raise click.UsageError(f"--llm-config {config_file}: choose one of its endpoints with --llm NAME "
                                   f"(or --llm-agent AGENT=NAME); it has {names}")
        return {}
    try:
        named = load_config(config_file) if config_file else {}

        def endpoint(spec: str):
            if spec in named:
                return named[spec]
            if named and ":" not in spec:  # a name, not PROVIDER:MODEL: meant as one of the file's
                raise ConfigError(f"{config_file} has no endpoint {spec!r}; it has {', '.join(named)}")
            return from_shortcut(spec, base_url)

        default = endpoint(llm) if llm else None
        chosen = {a: default for a in agents}
        for item in per_agent:
            agent, sep, spec = item.partition("=")
            if not sep or agent not in agents:
                raise ConfigError(f"--llm-agent {item!r}: write AGENT=MODEL with AGENT one of {', '.join(agents)}")
            chosen[agent] = endpoint(spec)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    missing = [a for a, e in chosen.items() if e is None]
    if missing:
        raise click.UsageError(f"no model for {', '.join(missing)}: give --llm, or --llm-agent for each")
    return {a: e.public() for a, e in chosen.items()}


def _priced(models: dict[str, dict]) -> bool:
    return any(v for e in models.values() for v in e.get("price", {}).values())


def improvement(state) -> str:
    """The best against the baseline measured in this run, and against the calibrated one when
    `autorecipe calibrate` recorded it for this environment and tier on this machine."""
    import json

    from environments.data import data_root
    from events.ranking import improvement as gain_of

    base, best = state.trials.rows.get(BASELINE_ID), state.trials.best
    if base is None or base.score is None or best is None:
        return "result     no valid baseline: nothing to compare"
    gain = gain_of(best.score, base.score, state.trials.keep_rule.direction)
    line = (f"result     best {best.score:.6f} ({best.trial_id}) vs baseline {base.score:.6f}: "
            f"{'better' if gain > 0 else 'no better'} by {abs(gain):.6f} ({100 * gain / abs(base.score):+.2f}%)")
    calibration = data_root() / state.run.environment / f"calibration-{state.run.tier}.json"
    if calibration.is_file():
        mean = json.loads(calibration.read_text()).get("score_mean")
        if mean is not None:
            line += f"; calibrated baseline {mean:.6f} ({calibration})"
    return line
