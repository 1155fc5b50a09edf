"""A run's configuration: what `autorecipe run` resolved, recorded whole in RunStarted so every
actor (and every later replay or resume) reads the same values from the log."""

from __future__ import annotations

from typing import Literal

import msgspec


class RunConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    env: str = "golf-mini"
    env_options: dict[str, str] = {}  # a real-task adapter's: upstream checkout, data folder, GPUs, budgets
    tier: str = "micro"
    agents: list[str] = []  # specialists to run; empty: every specialist of the environment
    proposer: Literal["library", "random", "scripted", "llm"] = "library"
    llm: dict[str, dict] = {}  # agent -> its model endpoint (agents.llm.config.Endpoint, no keys: names of variables)
    trials: int = 40  # proposals by specialists (the baseline trial is extra)
    hours: float | None = None  # deadline, from the run's start
    patience: int | None = None  # stop after this many verdicts without a new best
    cost_usd: float | None = None  # stop when LLM spend reaches this
    cpu_hours: float | None = None  # stop when trial compute reaches this
    executors: int | None = None  # None: as many as the cluster's resources fit
    evaluators: int = 1
    seed: int = 0
    lineage: bool = True  # False: each agent sees only the current best (the ablation)
    max_in_flight: int = 1  # per specialist
    surface_mode: Literal["strict", "audit"] = "strict"
    at_stop: Literal["finish", "cancel"] = "finish"  # trials in flight when the run stops
    max_attempts: int = 2  # a lost trial runs again once, then it is a harness_abort
    runner: Literal["sandbox", "zero"] = "sandbox"  # zero: no process at all (loop benchmarks)
    noise_margin: float | None = None  # None: the environment's
    fsync: bool = True
    forked_from: dict = {}  # {"run_id", "run_dir", "at"} when this run was forked from another

    def to_dict(self) -> dict:
        return msgspec.to_builtins(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(f"run configuration: {exc}") from None


BASELINE_ID = "t0000"


def trial_id(n: int) -> str:
    return f"t{n:04d}"
