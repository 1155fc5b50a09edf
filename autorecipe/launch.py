"""Launching a run on Ray: the driver side of `autorecipe run`.

The driver starts (or joins) Ray, starts the run's EventLog actor, writes RunStarted, starts the
specialists, the executor pool and the evaluators, and then is the supervisor: it folds the log,
applies the stop conditions, prints progress, and calls `run()` again on any actor that Ray
restarted after a crash. Every actor it starts is owned by the driver, so they all go when it
goes; `--resume` starts them again, and they rebuild their state from the log.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import ray

from actors.config import RunConfig
from actors.eventlog import LOG_RESOURCE, RayLog, start_event_log, stop_event_log
from actors.failures import storage_failure
from actors.llm_gate import attach_gate
from actors.ray_actors import executor_placement, reactor_actor
from actors.scratch import clear, run_scratch, scratch_dir
from actors.start import run_started
from actors.supervisor import Supervisor
from agents.library import LibraryProposer
from autorecipe import signals
from autorecipe.local_trial import prepared_data
from autorecipe.progress import Progress
from autorecipe.watchdog import live_roles, stuck, unstick
from environments import registry
from events import LogReader, RunDir, RunState
from events.store import LogLocked, probe_lock

POLL_S = 0.05
WATCH_EVERY_S = 1.0  # how often the driver asks whether anything can still happen
GIVE_UP_AFTER = 3  # an actor whose run() fails this often in a row is dead for good
UNAVAILABLE_RETRY_S = 0.5  # Ray is restarting the actor: ask again shortly; not a failure of its own
ROLES = {"agent/": "specialist", "executor/": "executor", "evaluator/": "evaluator"}
SHUTDOWN_S = 30.0
OBJECT_STORE_BYTES = 256 * 1024**2


class LaunchError(RuntimeError):
    pass


@dataclass
class Launched:
    run_dir: Path
    state: RunState
    actors: dict = field(default_factory=dict)  # name -> handle
    restarts: int = 0


def _storage_stop(run_dir: Path, exc: BaseException) -> LaunchError:
    try:
        kept = sum(1 for _ in LogReader(run_dir / "log").iter_records())
        held = f"the log holds {kept} acknowledged events and reads back intact"
    except Exception as err:  # noqa: BLE001 - said, not raised: the storage error is the news
        held = f"reading the log back failed too ({err})"
    return LaunchError(f"the run's storage failed, so the run stopped: {exc}. Nothing acknowledged is lost: "
                       f"{held}. Free space (or fix the device) and continue with "
                       f"`autorecipe run --resume {run_dir}`.")


def ensure_ray(address: str | None, num_cpus: int | None = None, num_gpus: int | None = None) -> bool:
    """Join the cluster at `address` (or $RAY_ADDRESS), or start a local one that declares the
    event log's resource. True when this call started Ray."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
        return False
    # address="local": always a fresh instance of our own, never a stale one a `ray start` left behind
    ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, resources={LOG_RESOURCE: 1},
             include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES, log_to_driver=False)
    return True


def pool_size(config: RunConfig, spec, cluster: dict[str, float]) -> int:
    """How many trials the cluster can run at once, given what one trial asks for."""
    cpus, gpus = trial_resources(config, spec)
    fits = []
    if cpus > 0:
        fits.append(math.floor(cluster.get("CPU", 0) / cpus))
    if gpus > 0:
        fits.append(math.floor(cluster.get("GPU", 0) / gpus))
    if not fits:  # trials that ask for nothing (dryrun): as many as asked
        return config.executors or 8
    fit = min(fits)
    if fit < 1:
        raise LaunchError(f"one {spec.name} trial needs {cpus:g} CPU and {gpus:g} GPU; the cluster has "
                          f"{cluster.get('CPU', 0):g} CPU and {cluster.get('GPU', 0):g} GPU")
    return min(config.executors, fit) if config.executors else fit


def trial_resources(config: RunConfig, spec) -> tuple[float, float]:
    return spec.resources.cpus, spec.resources.gpus


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


def launch(run_dir: Path, config: RunConfig | None = None, proposers: dict | None = None, address: str | None = None,
           resume: bool = False, echo=print, quiet: bool = False, serve_port: int | None = None,
           keep_work: bool = False) -> Launched:
    run_dir = Path(run_dir).resolve()
    rd = RunDir(run_dir)
    if rd.exists():
        try:
            probe_lock(rd.log_path, wait_s=3.0)
        except LogLocked as exc:  # another driver is running this run right now
            raise LaunchError(f"{exc}; one driver at a time: wait for it to stop, or stop it first") from None
    if resume:
        state = RunState().apply_all(rd.reader().iter_records()) if rd.exists() else None
        if state is None or state.run.run_id is None:
            raise LaunchError(f"{run_dir} has no run to resume (no RunStarted in its log)")
        if state.run.stopped:
            raise LaunchError(f"{run_dir} has already stopped ({state.run.stopped}); nothing to resume")
        config = RunConfig.from_dict(state.run.config)
        run_id = state.run.run_id
    else:
        if rd.exists() and any(rd.log_path.glob("*.log")):
            raise LaunchError(f"{run_dir} already holds a run; continue it with --resume, or pick a new RUN_DIR")
        run_id = new_run_id()
    spec = registry.get(config.env, config.env_options)
    spec.tier(config.tier)
    agents = config.agents or [s.name for s in spec.specialists]
    for a in agents:
        spec.specialist(a)
    proposers = proposers or default_proposers(config, agents, echo)
    data = prepared_data(spec, log=lambda m: echo(f"data: {m}")) if config.runner == "sandbox" else None

    started_ray = ensure_ray(address)
    signals.reinstall()  # ray.init replaced the SIGTERM handler
    attach_gate(proposers, f"autorecipe-llm-gate-{run_id}")  # one concurrency limit per server, run-wide
    cluster = ray.cluster_resources()
    pin = cluster.get(LOG_RESOURCE, 0) > 0
    if not pin:
        echo(f"note: no node declares the {LOG_RESOURCE} resource; the event log starts wherever Ray puts it, "
             f"so {run_dir} must be reachable there (start the head with --resources='{{\"{LOG_RESOURCE}\":1}}')")
    rd.path.mkdir(parents=True, exist_ok=True)
    log_name = f"autorecipe-log-{run_id}"
    handle = start_event_log(run_dir, name=log_name, fsync=config.fsync, pin=pin)
    ray.get(handle.ping.remote(), timeout=120)
    log = RayLog(handle, run_dir=run_dir)
    if not resume:
        log.append([run_started(run_id, config, spec)])
    supervisor = Supervisor(log, agents, spec.baseline_code())
    supervisor.catch_up()
    if resume:
        lost = supervisor.recover_orphans("the run's driver stopped while it ran")
        if lost:
            supervisor.append(lost)
            echo(f"resume: {sum(1 for e in lost if e.event.__class__.__name__ == 'TrialLost')} trial(s) were "
                 "running when the run stopped: marked lost and queued again (or harness_abort after the last try)")

    gateway = _serve(run_dir, serve_port, echo) if serve_port is not None else None
    k = pool_size(config, spec, cluster)
    cpus, gpus = trial_resources(config, spec)
    try:
        group = executor_placement(k, cpus, gpus, name=f"autorecipe-{run_id}-executors")
    except TimeoutError as exc:
        raise LaunchError(str(exc)) from None
    env = dict(env=config.env, run_dir=str(run_dir), env_options=config.env_options)
    actors: dict[str, object] = {}
    for a in agents:
        actors[f"agent/{a}"] = reactor_actor("specialist", f"{run_id}/agent/{a}").remote(
            "specialist", log_name, agent=a, proposer=proposers[a], **env)
    for i in range(k):
        name = f"executor/{i}"
        actors[name] = reactor_actor("executor", f"{run_id}/{name}", num_cpus=cpus, num_gpus=gpus,
                                     placement=(group, i) if group else None).remote(
            "executor", log_name, name=name, data=str(data) if data else None,
            scratch=str(scratch_dir(run_id, name)), resources={"CPU": cpus, "GPU": gpus}, protected=[str(run_dir)],
            keep_work=keep_work, **env)
    for i in range(config.evaluators):
        name = f"evaluator/{i}"
        actors[name] = reactor_actor("evaluator", f"{run_id}/{name}").remote(
            "evaluator", log_name, name=name, data=str(data) if data else None, **env)
    if not quiet:
        echo(f"run {run_id}: {spec.name} ({config.tier}), {len(agents)} specialists ({', '.join(agents)}), "
             f"{k} executor(s) of {cpus:g} CPU/{gpus:g} GPU, {config.trials} trials, seed {config.seed}")
        echo(f"log: {run_dir}")
    launched = Launched(run_dir=run_dir, state=supervisor.state, actors={"log": handle, **actors})
    try:
        _supervise(supervisor, actors, launched, config, echo, quiet)
    except Exception as exc:
        failed = storage_failure(exc)
        if failed is None:
            raise
        raise _storage_stop(run_dir, failed) from None
    finally:
        if gateway is not None:
            gateway.stop()
        for h in actors.values():
            ray.kill(h, no_restart=True)
        stop_event_log(handle)
        if group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(group)
        if started_ray:
            ray.shutdown()
        if not keep_work:
            clear(run_scratch(run_id))
    return launched


def _supervise(supervisor: Supervisor, actors: dict, launched: Launched, config: RunConfig, echo, quiet: bool) -> None:
    progress = Progress(config.trials, echo=echo)
    if not quiet:
        supervisor.on_record = lambda rec: progress.record(rec, supervisor.state)
    running = {h.run.remote(): name for name, h in actors.items()}
    failures: dict[str, int] = {}
    abandoned: set[str] = set()
    retry_at: dict[str, float] = {}
    watched_at = time.monotonic()
    while True:
        supervisor.step()
        if not quiet:
            progress.tick(supervisor.state)
        if supervisor.finished():
            break
        done, _ = ray.wait(list(running), num_returns=len(running), timeout=0) if running else ([], [])
        for ref in done:
            name = running.pop(ref)
            try:
                ray.get(ref)
                failures[name] = 0
            except ray.exceptions.ActorUnavailableError:
                # Ray is still restarting it (slow on a loaded node): three of these in a row
                # used to count as three failures and abandon a healthy evaluator, and the run hung
                retry_at[name] = time.monotonic() + UNAVAILABLE_RETRY_S
                continue
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
                if storage_failure(exc) is not None:
                    raise
                launched.restarts += 1
                failures[name] = failures.get(name, 0) + 1
                if failures[name] >= GIVE_UP_AFTER:
                    echo(f"{name} failed {failures[name]} times in a row ({exc}); going on without it")
                    _abandon(supervisor, name)
                    abandoned.add(name)
                    gone = every_one_gone(actors, abandoned)
                    if gone:  # nothing left to do that work: waiting would never end
                        supervisor.stop("error", f"every {gone} failed; see the errors above")
                    continue
                echo(f"{name} failed ({type(exc).__name__}); Ray restarts it and it resumes from the log")
            if not supervisor.finished():
                running[actors[name].run.remote()] = name
        if time.monotonic() - watched_at >= WATCH_EVERY_S:
            watched_at = time.monotonic()
            found = stuck(supervisor.state, live_roles(actors, abandoned, ROLES))
            if found is not None:
                echo(f"stuck: {found.detail}; stopping the run")
                unstick(supervisor, found)
        for name, when in list(retry_at.items()):
            if time.monotonic() >= when:
                del retry_at[name]
                if not supervisor.finished():
                    running[actors[name].run.remote()] = name
        time.sleep(POLL_S)
    ray.wait(list(running), num_returns=len(running), timeout=SHUTDOWN_S)


def every_one_gone(actors, abandoned: set[str]) -> str | None:
    """The role (specialist, executor, evaluator) whose actors have all been given up on, if any."""
    for prefix, role in ROLES.items():
        mine = [n for n in actors if n.startswith(prefix)]
        if mine and all(n in abandoned for n in mine):
            return role
    return None


def _abandon(supervisor: Supervisor, name: str) -> None:
    """An executor that will not come back: the attempts it had claimed are lost (and requeued)."""
    from actors.executor import recover
    from events.projections.trials import CLAIMED

    mine = [r.trial_id for r in supervisor.state.trials.rows.values() if r.phase == CLAIMED and r.executor == name]
    if mine:
        supervisor.append(recover(supervisor, mine, f"{name} died and was not restarted", supervisor.config.max_attempts))


def _serve(run_dir: Path, port: int, echo):
    """The gateway on loopback, in a thread of the driver, for `run --serve`."""
    from autorecipe.embedded_gateway import EmbeddedGateway, PortBusy

    try:
        gateway = EmbeddedGateway(run_dir, port).start()
    except PortBusy as exc:
        raise LaunchError(str(exc)) from None
    echo(f"serving the run on {gateway.url} (the dashboard; /events/stream, /trials, /health)")
    return gateway
