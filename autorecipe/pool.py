"""The executor pool's size and place: what one trial asks for, how many trials the cluster
holds at once, and the placement group that reserves multi-GPU trials whole."""

from __future__ import annotations

import math

from actors.config import RunConfig
from actors.ray_actors import executor_placement
from autorecipe.launched import LaunchError


def trial_resources(spec) -> tuple[float, float]:
    """The CPUs and GPUs one trial of `spec` asks for."""
    return spec.resources.cpus, spec.resources.gpus


def pool_size(config: RunConfig, spec, cluster: dict[str, float]) -> int:
    """How many trials the cluster can run at once, given what one trial asks for."""
    cpus, gpus = trial_resources(spec)
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


def reserve(count: int, spec, run_id: str):
    """The placement group for `count` executors (None when a trial needs at most one GPU)."""
    cpus, gpus = trial_resources(spec)
    try:
        return executor_placement(count, cpus, gpus, name=f"autorecipe-{run_id}-executors")
    except TimeoutError as exc:
        raise LaunchError(str(exc)) from None


def release(group) -> None:
    if group is not None:
        from ray.util.placement_group import remove_placement_group

        remove_placement_group(group)
