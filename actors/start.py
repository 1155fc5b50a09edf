"""The first event of a run, written once whoever writes it."""

from __future__ import annotations

import time

from actors.config import RunConfig
from actors.fingerprint import fingerprint
from actors.reactor import fact_id
from environments.spec import EnvironmentSpec
from events import NO_STREAM, Fingerprint, KeepRule, NewEvent, RunStarted
from events.streams import RUN


def run_started(run_id: str, config: RunConfig, spec: EnvironmentSpec, fp: Fingerprint | None = None) -> NewEvent:
    margin = spec.noise_margin if config.noise_margin is None else config.noise_margin
    ev = RunStarted(run_id=run_id, environment=spec.name, tier=config.tier, config=config.to_dict(), seed=config.seed,
                    keep_rule=KeepRule(metric=spec.metric, direction=spec.direction, noise_margin=margin),
                    fingerprint=fp or fingerprint())
    return NewEvent(event=ev, stream=RUN, event_id=fact_id(run_id, "run-started"), producer="driver",
                    expected_version=NO_STREAM, wall_time_ns=time.time_ns())
