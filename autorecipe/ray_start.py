"""Starting Ray for a run's driver, or joining the cluster it was pointed at."""

from __future__ import annotations

import os

import ray

from actors.eventlog import LOG_RESOURCE

OBJECT_STORE_BYTES = 256 * 1024**2


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
