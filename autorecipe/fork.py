"""`autorecipe fork RUN_DIR --at OFFSET NEW_DIR`: a new run that starts from another's state.

The new log begins with its own RunStarted (a new run id, the old configuration with any
overrides, and where it came from), followed by the old run's records before OFFSET, unchanged
(their ids, streams and times), so every offset means the same in both. Blobs are hard-linked
where the filesystem allows. Continue it with `autorecipe run --resume NEW_DIR` (or at once with
`fork --start`, which runs that command): attempts that were running at the cut are marked lost
and run again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgspec

from actors.config import RunConfig
from actors.start import run_started
from autorecipe.launch import new_run_id
from environments import registry
from events import EventStore, NewEvent, RunDir, RunStarted, RunStopped, RunStopRequested


class ForkError(ValueError):
    pass


def fork(src: str | Path, at: int, dst: str | Path, overrides: dict | None = None, log=print) -> str:
    src_rd, dst_rd = RunDir(src).require(), RunDir(dst)
    if dst_rd.exists():
        raise ForkError(f"{dst} already holds a run")
    records = list(src_rd.reader().iter_records(0, at))
    if not records or not isinstance(records[0].event, RunStarted):
        raise ForkError(f"{src}: the log does not begin with RunStarted")
    ended = [r for r in records if isinstance(r.event, (RunStopRequested, RunStopped))]
    if ended:
        raise ForkError(f"the run was already stopping at offset {ended[0].offset} (< {at}); fork before it")
    old = records[0].event
    try:
        config = RunConfig.from_dict({**old.config, **(overrides or {}),
                                      "forked_from": {"run_id": old.run_id, "run_dir": str(src), "at": at}})
    except ValueError as exc:
        raise ForkError(str(exc)) from None
    run_id = new_run_id()
    spec = registry.get(config.env, config.env_options)
    _link_tree(src_rd.blobs_path, dst_rd.blobs_path)
    with EventStore(dst_rd.log_path) as store:
        first = run_started(run_id, config, spec)
        keep = msgspec.structs.replace(first.event, keep_rule=_keep_rule(old, config, spec))
        store.append([msgspec.structs.replace(first, event=keep)])
        batch = []
        for r in records[1:]:
            batch.append(NewEvent(event=r.event, stream=r.stream, event_id=r.event_id, producer=r.producer,
                                  causation_id=r.causation_id, wall_time_ns=r.wall_time_ns))
            if len(batch) >= 1000:
                store.append(batch)
                batch = []
        if batch:
            store.append(batch)
    log(f"forked {old.run_id} at offset {at} into {dst} as {run_id} ({len(records)} records); "
        f"continue it with: autorecipe run --resume {dst}")
    return run_id


def _keep_rule(old: RunStarted, config: RunConfig, spec):
    if config.noise_margin is None:
        return old.keep_rule
    return msgspec.structs.replace(old.keep_rule, noise_margin=config.noise_margin)


def _link_tree(src: Path, dst: Path) -> None:
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if src.exists():
        shutil.copytree(src, dst, copy_function=link)
    else:
        dst.mkdir(parents=True)



