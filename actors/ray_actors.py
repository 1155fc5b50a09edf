"""Thin Ray actors around the reactors (the shell, actors/shell.py, runs inside them). Each actor
is given the EventLog's name and plain values (paths, a proposer object), never another actor:
everything it learns comes from the log and everything it says goes there. `run()` loops until
the run has stopped; after a crash Ray restarts the actor, `__init__` builds the reactor afresh,
and the driver calls `run()` again, which starts by folding the whole log.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import ray

from actors.evaluator import Evaluator
from actors.eventlog import RayLog
from actors.executor import Executor
from actors.specialist import Specialist
from environments import registry
from environments.data import prepared_data


def _incarnation() -> str:
    return uuid.uuid4().hex[:8]


class ReactorActor:
    """One class for every role: `role` picks the reactor, `kwargs` are its plain arguments."""

    def __init__(self, role: str, log_name: str, env: str, run_dir: str | None = None, **kwargs):
        log = RayLog(ray.get_actor(log_name), run_dir=run_dir)
        spec = registry.get(env, kwargs.get("env_options"))
        inc = _incarnation()
        if role == "specialist":
            self.core = Specialist(log, spec, kwargs["agent"], kwargs["proposer"], incarnation=inc)
        elif role == "executor":
            self.core = Executor(log, spec, kwargs["name"], _data(spec, kwargs.get("data")), Path(kwargs["scratch"]),
                                 resources=kwargs.get("resources"), incarnation=inc,
                                 protected=tuple(Path(p) for p in kwargs.get("protected", ())),
                                 keep_work=kwargs.get("keep_work", False))
            # which Ray node ran a trial, not just which host: several nodes may share one machine
            self.core.node = f"{self.core.node}/{ray.get_runtime_context().get_node_id()[:12]}"
        elif role == "evaluator":
            self.core = Evaluator(log, spec, kwargs["name"], _data(spec, kwargs.get("data")), incarnation=inc)
        else:
            raise ValueError(f"unknown role {role!r}")

    def run(self) -> dict:
        return self.core.run()

    def stats(self) -> dict:
        core = self.core
        return {"name": core.name, "producer": core.producer, "offset": core.state.next_offset,
                "busy_s": getattr(core, "busy_s", None), "trials_run": getattr(core, "trials_run", None)}


def _data(spec, wanted: str | None) -> Path | None:
    """The environment's data on this node, at the driver's path: already there on the driver's
    node, prepared here now on any other (once per node, whoever asks first; prepare is
    idempotent and race-safe), so a trial always runs where its data is."""
    if not wanted:
        return None  # a zero-work run needs none
    try:
        return prepared_data(spec, root=Path(wanted).parent, log=lambda m: None)
    except OSError:  # the driver's path cannot exist here: this node's default data root
        return prepared_data(spec, log=lambda m: None)


def reactor_actor(role: str, name: str, num_cpus: float = 0, num_gpus: float = 0, placement: tuple | None = None):
    """The actor class with its options: restarts without limit, never retries a call (a trial
    or an append is not idempotent on Ray's side; the log makes it so on ours). `placement` is
    (placement group, bundle index): the actor lives in that bundle's reservation."""
    options = dict(name=name, num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=-1, max_task_retries=0,
                   lifetime=None)
    if placement is not None:
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group, index = placement
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            group, placement_group_bundle_index=index, placement_group_capture_child_tasks=True)
    return ray.remote(ReactorActor).options(**options)


def executor_placement(count: int, cpus: float, gpus: float, name: str, wait_s: float = 600.0):
    """A placement group for an executor pool whose trials need several GPUs: one bundle per
    executor, each bundle all on one node (a bundle never spans nodes), spread over nodes so
    that 8-GPU trials get whole 8-GPU nodes. The GPUs are reserved together, up front, instead
    of trickling to actors one by one. None when a trial needs at most one GPU.
    Raises TimeoutError when the cluster cannot hold the pool within `wait_s` (an autoscaling
    cluster may need minutes to add nodes)."""
    if gpus < 2:
        return None
    from ray.util.placement_group import placement_group, remove_placement_group

    bundle = {"GPU": gpus, **({"CPU": cpus} if cpus else {})}
    group = placement_group([dict(bundle) for _ in range(count)], strategy="SPREAD", name=name)
    try:
        ray.get(group.ready(), timeout=wait_s)
    except ray.exceptions.GetTimeoutError:
        remove_placement_group(group)
        raise TimeoutError(f"the cluster did not make room for {count} trial(s) of {gpus:g} GPU each, "
                           f"every one on a single node, within {wait_s:.0f} s") from None
    return group
