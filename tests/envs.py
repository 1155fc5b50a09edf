"""Running trials of an environment in tests: one prepared data folder and one baseline per
environment per session, shared by the session's pytest-xdist workers."""

from __future__ import annotations

import dataclasses
import fcntl
import importlib
import os
from functools import cached_property
from pathlib import Path

import msgspec

from agents.changes import apply_edits
from autorecipe.local_trial import local_trial, prepared_data
from environments import registry


class Harness:
    def __init__(self, name: str, data_root: Path, scratch: Path, shared: Path | None = None):
        """`scratch` is this process's; in `shared`, where the session's other workers look too,
        go the blobs and the baseline's record."""
        from events import BlobStore

        self.spec = registry.get(name)
        self.data = prepared_data(self.spec, root=data_root, log=lambda m: None)
        self.shared = shared
        self.blobs = BlobStore((shared or scratch) / "blobs")
        self.scratch = scratch / "work"

    def trial(self, code: dict[str, bytes], tier: str = "micro", **kw):
        return local_trial(self.spec, tier, code, self.blobs, self.scratch, self.data, **kw)

    def trial_within(self, code: dict[str, bytes], phase: str, seconds: float, tier: str = "micro", **kw):
        """A trial with one phase's budget cut to `seconds`. For a recipe that runs until the
        watchdog stops it, the budget sets only how long that takes, not what is found."""
        t = self.spec.tier(tier)
        budgets = {**t.budgets, phase: dataclasses.replace(t.budgets[phase], seconds=seconds)}
        spec = dataclasses.replace(self.spec, tiers={**self.spec.tiers, tier: dataclasses.replace(t, budgets=budgets)})
        return local_trial(spec, tier, code, self.blobs, self.scratch, self.data, **kw)

    def edited(self, edits) -> dict[str, bytes]:
        return apply_edits(self.spec.baseline_code(), edits)

    @cached_property
    def baseline(self):
        """The baseline's trial, run once a session: here, or by the worker that ran it first,
        whose record (and blobs) this one reads."""
        if self.shared is None:
            return self.trial(self.spec.baseline_code(), trial_id="baseline")
        from events import TrialEvaluated, TrialExecuted

        record = self.shared / f"baseline-{self.spec.name}.msgpack"
        with open(record.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait for the one running it
            if record.exists():
                return msgspec.msgpack.decode(record.read_bytes(), type=tuple[TrialExecuted, TrialEvaluated])
            done = self.trial(self.spec.baseline_code(), trial_id="baseline")
            tmp = record.with_suffix(".tmp")
            tmp.write_bytes(msgspec.msgpack.encode(done))
            os.replace(tmp, record)
            return done


def table(name: str, module: str, attr: str) -> dict:
    """FAULTS or KNOWN_GOOD of a known environment."""
    return getattr(importlib.import_module(f"{registry.package(name)}.{module}"), attr)


def evidence(ev) -> str:
    return (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
