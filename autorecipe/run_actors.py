"""The run's actors on Ray: one specialist per agent, the executor pool, the evaluators. Each is
given the event log's name and plain values, and is owned by the driver, so all of them go when
it goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from actors.config import RunConfig
from actors.ray_actors import reactor_actor
from actors.scratch import scratch_dir
from autorecipe.pool import trial_resources

ROLES = {"agent/": "specialist", "executor/": "executor", "evaluator/": "evaluator"}  # actor name prefix -> role


@dataclass(frozen=True)
class Plan:
    """Where the run's actors come from: its ids and paths, and what each role is given."""

    run_id: str
    log_name: str
    run_dir: Path
    config: RunConfig
    data: Path | None
    keep_work: bool


def start_actors(plan: Plan, spec, agents: list[str], proposers: dict, executors: int, group,
                 into: dict | None = None) -> dict:
    """name -> handle, for every actor of the run, started; each handle goes into `into` as soon
    as it exists, so a launch interrupted half-way can stop the ones already started."""
    config, run_id = plan.config, plan.run_id
    env = dict(env=config.env, run_dir=str(plan.run_dir), env_options=config.env_options)
    data = str(plan.data) if plan.data else None
    cpus, gpus = trial_resources(spec)
    actors: dict[str, object] = {} if into is None else into
    for a in agents:
        actors[f"agent/{a}"] = reactor_actor("specialist", f"{run_id}/agent/{a}").remote(
            "specialist", plan.log_name, agent=a, proposer=proposers[a], **env)
    for i in range(executors):
        name = f"executor/{i}"
        actors[name] = reactor_actor("executor", f"{run_id}/{name}", num_cpus=cpus, num_gpus=gpus,
                                     placement=(group, i) if group else None).remote(
            "executor", plan.log_name, name=name, data=data, scratch=str(scratch_dir(run_id, name)),
            resources={"CPU": cpus, "GPU": gpus}, protected=[str(plan.run_dir)], keep_work=plan.keep_work, **env)
    for i in range(config.evaluators):
        name = f"evaluator/{i}"
        actors[name] = reactor_actor("evaluator", f"{run_id}/{name}").remote(
            "evaluator", plan.log_name, name=name, data=data, **env)
    return actors
