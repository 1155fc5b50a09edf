"""The EventLog actor: the run's single writer, and `RayLog`, the client every other actor uses.

The actor is synchronous and single-threaded, so Ray serves one caller's calls in order and
offsets are assigned in commit order by one process. It is pinned to the node holding the run
directory (a custom resource, `autorecipe_log`, that only that node declares), restarts without
limit and recovers from its segments in `__init__`. Appends are never retried by Ray
(`max_task_retries=0`): a retry could store a batch twice under fresh offsets if its ids were
new, so the *client* retries, with the same event ids, and the store drops the duplicates.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import ray

from actors.log_client import Conflict
from events import AppendResult, BlobRef, NewEvent, Record, RunDir, WrongExpectedVersion, admit
from events.tail import LogTail

LOG_RESOURCE = "autorecipe_log"
CALL_TIMEOUT_S = 60.0
RETRY_FOR_S = 120.0  # how long a client keeps retrying while the log restarts


class EventLog:
    def __init__(self, run_dir: str, fsync: bool = True):
        rd = RunDir(run_dir)
        self.store = rd.store(fsync=fsync)
        self.blobs = rd.blobs()
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed

    def ping(self) -> dict:
        return {"next_offset": self.store.next_offset, "restarted": self.restarted, "pid": os.getpid()}

    @ray.method(max_task_retries=0)
    def append(self, batch: Sequence[NewEvent]) -> AppendResult | Conflict:
        admit(batch)  # an event that would not read back is refused here, before the store has it
        try:
            return self.store.append(batch)
        except WrongExpectedVersion as exc:
            return Conflict.of(exc)

    def read(self, from_offset: int, limit: int = 1000) -> tuple[list[Record], int]:
        return self.store.read(from_offset, min(limit, 1000))

    @ray.method(max_task_retries=0)
    def put_blob(self, data: bytes) -> BlobRef:
        return self.blobs.put(data)

    def get_blob(self, sha256: str) -> bytes:
        return self.blobs.get(sha256)

    def run_dir(self) -> str:
        return str(self.store.log_dir.parent)


def start_event_log(run_dir: str | Path, name: str, namespace: str | None = None, fsync: bool = True,
                    pin: bool = True):
    """Create (or find) the run's EventLog actor. With `pin`, it may only run where the
    `autorecipe_log` resource is declared: the node that holds `run_dir`."""
    options = dict(name=name, max_restarts=-1, num_cpus=0, get_if_exists=True)
    if namespace:
        options["namespace"] = namespace
    if pin:
        options["resources"] = {LOG_RESOURCE: 0.001}
    return ray.remote(EventLog).options(**options).remote(str(run_dir), fsync)


def stop_event_log(handle, wait_s: float = 10.0) -> None:
    """Kill the EventLog actor and wait (up to `wait_s`) until Ray reports it dead, so its
    process no longer holds the log's lock when this returns: a driver that resumes the run
    right after (`fork --start`, a retry after a full disk) finds it free, not "live"."""
    ray.kill(handle, no_restart=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            ray.get(handle.ping.remote(), timeout=max(0.1, deadline - time.monotonic()))
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
            return
        except ray.exceptions.GetTimeoutError:
            return
        time.sleep(0.05)


class RayLog:
    """The LogClient of actors: calls the EventLog actor, retrying transport failures (the log
    restarting, a lost reply) with the same arguments, so an append is stored once."""

    def __init__(self, handle, timeout_s: float = CALL_TIMEOUT_S, retry_for_s: float = RETRY_FOR_S,
                 run_dir: str | Path | None = None):
        self.handle, self.timeout_s, self.retry_for_s = handle, timeout_s, retry_for_s
        # On the log's own node, read the files (only what is acknowledged) instead of calling.
        log_dir = Path(run_dir) / "log" if run_dir else None
        self.tail = LogTail(log_dir) if log_dir and LogTail.available(log_dir) else None

    def _call(self, method: str, *args):
        deadline = time.monotonic() + self.retry_for_s
        delay = 0.05
        while True:
            try:
                return ray.get(getattr(self.handle, method).remote(*args), timeout=self.timeout_s)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError,
                    ray.exceptions.ActorUnavailableError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def read(self, from_offset: int, limit: int = 1000) -> tuple[list[Record], int]:
        if self.tail is not None:
            return self.tail.read(from_offset, limit)
        return self._call("read", from_offset, limit)

    def append(self, batch: Sequence[NewEvent]) -> AppendResult:
        result = self._call("append", list(batch))
        if isinstance(result, Conflict):
            raise result.error()
        return result

    def put_blob(self, data: bytes) -> BlobRef:
        return self._call("put_blob", data)

    def get_blob(self, ref: BlobRef | str) -> bytes:
        return self._call("get_blob", ref.sha256 if isinstance(ref, BlobRef) else ref)
