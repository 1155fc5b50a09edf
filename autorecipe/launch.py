"""Launching a run on Ray: the driver side of `autorecipe run`.

The driver starts (or joins) Ray (autorecipe/ray_start.py), starts the run's EventLog actor,
writes RunStarted, starts the specialists, the executor pool and the evaluators
(autorecipe/run_actors.py, sized by autorecipe/pool.py), and then drives the run
(autorecipe/driver.py) until it has stopped. Every actor it starts is owned by the driver, so
they all go when it goes; `--resume` starts them again, and they rebuild their state from the log.
"""

from __future__ import annotations

import secrets
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import msgspec
import ray

from actors.config import RunConfig
from actors.decisions import Append
from actors.eventlog import LOG_RESOURCE, RayLog, start_event_log, stop_event_log
from actors.failures import storage_failure
from actors.llm_gate import attach_gate
from actors.scratch import clear, run_scratch
from actors.start import run_started
from actors.supervisor import Supervisor
from agents.library import LibraryProposer
from autorecipe.driver import drive
from autorecipe.launched import Launched, LaunchError, refuse_taken
from autorecipe.local_trial import prepared_data
from autorecipe.pool import pool_size, release, reserve, trial_resources
from autorecipe.ray_start import ensure_ray
from autorecipe.run_actors import Plan, start_actors
from environments import registry
from events import LogReader, RunDir, RunState


def _storage_stop(run_dir: Path, exc: BaseException) -> LaunchError:
    try:
        kept = sum(1 for _ in LogReader(run_dir / "log").iter_records())
        held = f"the log holds {kept} acknowledged events and reads back intact"
    except Exception as err:  # noqa: BLE001 - said, not raised: the storage error is the news
        held = f"reading the log back failed too ({err})"
    return LaunchError(f"the run's storage failed, so the run stopped: {exc}. Nothing acknowledged is lost: "
                       f"{held}. Free space (or fix the device) and continue with "
                       f"`autorecipe run --resume {run_dir}`.")


def default_proposers(config: RunConfig, agents: list[str], echo=print) -> dict:
    """What the configuration asks for: a model per agent (config.llm), or the offline library."""
    if config.proposer == "llm":
        from autorecipe.llm_start import EndpointUnusable, llm_proposers

        missing = [a for a in agents if a not in config.llm]
        if missing:
            raise LaunchError(f"no model endpoint for agent(s) {', '.join(missing)}")
        try:  # each endpoint probed: a wrong URL, key or model stops the run here, naming it
            return llm_proposers(config, agents, echo)
        except (msgspec.ValidationError, KeyError, EndpointUnusable) as exc:
            raise LaunchError(f"model endpoint: {exc.args[0] if exc.args else exc}") from None
    if config.proposer == "random":
        from agents.random_choice import RandomProposer

        return {a: RandomProposer() for a in agents}
    return {a: LibraryProposer() for a in agents}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _open_run(rd: RunDir, config: RunConfig | None, resume: bool) -> tuple[RunConfig, str]:
    """The run's configuration and id: a new run's, or (`resume`) the recorded one's."""
    refuse_taken(rd, resume)
    if not resume:
        return config, new_run_id()
    state = RunState().apply_all(rd.reader().iter_records()) if rd.exists() else None
    if state is None or state.run.run_id is None:
        raise LaunchError(f"{rd.path} has no run to resume (no RunStarted in its log)")
    if state.run.stopped:
        raise LaunchError(f"{rd.path} has already stopped ({state.run.stopped}); nothing to resume")
    return RunConfig.from_dict(state.run.config), state.run.run_id


def _log_pinned(cluster: dict, run_dir: Path, echo) -> bool:
    """Whether a node declares the event log's resource (the log starts there); if none does, say so."""
    pin = cluster.get(LOG_RESOURCE, 0) > 0
    if not pin:
        echo(f"note: no node declares the {LOG_RESOURCE} resource; the event log starts wherever Ray puts it, "
             f"so {run_dir} must be reachable there (start the head with --resources='{{\"{LOG_RESOURCE}\":1}}')")
    return pin


def _start_log(rd: RunDir, run_id: str, config: RunConfig, spec, pin: bool, resume: bool, undo: ExitStack):
    """The run's EventLog actor, started and answering (and stopped by `undo`); a new run's
    RunStarted in it."""
    handle = start_event_log(rd.path, name=f"autorecipe-log-{run_id}", fsync=config.fsync, pin=pin)
    undo.callback(stop_event_log, handle)
    ray.get(handle.ping.remote(), timeout=120)
    log = RayLog(handle, run_dir=rd.path)
    if not resume:
        log.append([run_started(run_id, config, spec)])
    return handle, log


def _resume_orphans(supervisor: Supervisor, echo) -> None:
    lost = supervisor.recover_orphans("the run's driver stopped while it ran")
    if lost:
        supervisor.commit(Append(lost))
        echo(f"resume: {sum(1 for e in lost if e.event.__class__.__name__ == 'TrialLost')} trial(s) were "
             "running when the run stopped: marked lost and queued again (or harness_abort after the last try)")


def launch(run_dir: Path, config: RunConfig | None = None, proposers: dict | None = None, address: str | None = None,
           resume: bool = False, echo=print, quiet: bool = False, serve_port: int | None = None,
           keep_work: bool = False) -> Launched:
    rd = RunDir(Path(run_dir).resolve())
    run_dir = rd.path
    config, run_id = _open_run(rd, config, resume)
    spec = registry.get(config.env, config.env_options)
    spec.tier(config.tier)
    agents = config.agents or [s.name for s in spec.specialists]
    for a in agents:
        spec.specialist(a)
    proposers = proposers or default_proposers(config, agents, echo)
    data = prepared_data(spec, log=lambda m: echo(f"data: {m}")) if config.runner == "sandbox" else None

    with ExitStack() as undo:  # whatever started is stopped again, in reverse, however the launch ends
        if ensure_ray(address):
            undo.callback(ray.shutdown)
        if not keep_work:
            undo.callback(clear, run_scratch(run_id))
        attach_gate(proposers, f"autorecipe-llm-gate-{run_id}")  # one concurrency limit per server, run-wide
        cluster = ray.cluster_resources()
        rd.path.mkdir(parents=True, exist_ok=True)
        handle, log = _start_log(rd, run_id, config, spec, _log_pinned(cluster, run_dir, echo), resume, undo)
        supervisor = Supervisor(log, agents, spec.baseline_code())
        supervisor.catch_up()
        if resume:
            _resume_orphans(supervisor, echo)
        if serve_port is not None:
            undo.enter_context(_serve(run_dir, serve_port, echo))
        k = pool_size(config, spec, cluster)
        group = reserve(k, spec, run_id)
        undo.callback(release, group)
        plan = Plan(run_id=run_id, log_name=f"autorecipe-log-{run_id}", run_dir=run_dir, config=config, data=data,
                    keep_work=keep_work)
        actors: dict = {}
        undo.callback(_kill_all, actors)
        start_actors(plan, spec, agents, proposers, k, group, into=actors)
        if not quiet:
            cpus, gpus = trial_resources(spec)
            echo(f"run {run_id}: {spec.name} ({config.tier}), {len(agents)} specialists ({', '.join(agents)}), "
                 f"{k} executor(s) of {cpus:g} CPU/{gpus:g} GPU, {config.trials} trials, seed {config.seed}")
            echo(f"log: {run_dir}")
        launched = Launched(run_dir=run_dir, state=supervisor.state, actors={"log": handle, **actors})
        try:
            drive(supervisor, actors, launched, config, echo, quiet)
        except Exception as exc:
            failed = storage_failure(exc)
            if failed is None:
                raise
            raise _storage_stop(run_dir, failed) from None
    return launched


def _kill_all(actors: dict) -> None:
    for h in actors.values():
        ray.kill(h, no_restart=True)


@contextmanager
def _serve(run_dir: Path, port: int, echo):
    """The gateway on loopback, in a thread of the driver, for `run --serve`, while the run lasts."""
    from autorecipe.embedded_gateway import EmbeddedGateway, PortBusy

    try:
        gateway = EmbeddedGateway(run_dir, port).start()
    except PortBusy as exc:
        raise LaunchError(str(exc)) from None
    echo(f"serving the run on {gateway.url} (the dashboard; /events/stream, /trials, /health)")
    try:
        yield gateway
    finally:
        gateway.stop()

