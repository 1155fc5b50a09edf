"""Starting Ray for a run's driver, or joining the cluster it was pointed at."""

from __future__ import annotations

import os
from contextlib import contextmanager

import ray
import ray._private.ray_constants
import ray._private.utils

from actors.eventlog import LOG_RESOURCE
from autorecipe import signals

OBJECT_STORE_BYTES = 256 * 1024**2


def ensure_ray(address: str | None, num_cpus: int | None = None, num_gpus: int | None = None) -> bool:
    """Join the cluster at `address` (or $RAY_ADDRESS), or start a local one that declares the
    event log's resource. True when this call started Ray. An interrupt while Ray starts takes
    effect once ray.init has returned, and stops what it started."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    try:
        with signals.held(), _sigterm_left_alone():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:  # address="local": always a fresh instance of our own, never a stale one a `ray start` left
                ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, resources={LOG_RESOURCE: 1},
                         include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES, log_to_driver=False)
    except BaseException:  # interrupted, or failed half-way: the processes it started must not outlive it
        ray.shutdown()
        raise
    return not address


@contextmanager
def _sigterm_left_alone():
    """ray.init puts two SIGTERM handlers of its own in place: first a Python one (sys.exit), which
    would raise SystemExit wherever the signal lands, inside the core worker's construction too;
    then, in the core worker, absl's native failure-signal handler, which aborts the driver (exit
    -6, '*** SIGTERM received') until `signals.held` puts ours back. While the signals are held,
    neither is installed in this process (the second through RAY_DISABLE_FAILURE_SIGNAL_HANDLER as
    ray_constants holds it, so Ray's own processes, which read their environment, keep theirs);
    elsewhere Ray does as it always does."""
    utils, constants = ray._private.utils, ray._private.ray_constants
    own = getattr(utils, "set_sigterm_handler", None)
    if own is None or not signals.holding():
        yield
        return
    native = constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER
    utils.set_sigterm_handler = lambda handler: None
    constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    try:
        yield
    finally:
        utils.set_sigterm_handler = own
        constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = native
