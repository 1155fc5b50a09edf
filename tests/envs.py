"""Running trials of an environment in tests: one prepared data folder and one baseline per
environment per session."""

from __future__ import annotations

import dataclasses
import importlib
from functools import cached_property
from pathlib import Path

from agents.changes import apply_edits
from autorecipe.local_trial import local_trial, prepared_data
from environments import registry


class Harness:
    def __init__(self, name: str, data_root: Path, scratch: Path):
        from events import BlobStore

        self.spec = registry.get(name)
        self.data = prepared_data(self.spec, root=data_root, log=lambda m: None)
        self.blobs = BlobStore(scratch / "blobs")
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
        return self.trial(self.spec.baseline_code(), trial_id="baseline")


def table(name: str, module: str, attr: str) -> dict:
    """FAULTS or KNOWN_GOOD of a known environment."""
    return getattr(importlib.import_module(f"{registry.package(name)}.{module}"), attr)


def evidence(ev) -> str:
    return (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
