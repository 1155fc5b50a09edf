"""The names of the log's streams: one per trial, one per agent, one for the run itself, and one
per trial for its progress points (kept apart so a progress point never moves a trial stream's
version). Expected versions are per stream, so these names are where concurrency is decided."""

from __future__ import annotations

RUN = "run"  # RunStarted, RunStopRequested, RunStopped

TRIAL_PREFIX = "trial/"


def trial_stream(trial_id: str) -> str:
    return f"{TRIAL_PREFIX}{trial_id}"


def agent_stream(agent: str) -> str:
    return f"agent/{agent}"


def progress_stream(trial_id: str) -> str:
    return f"progress/{trial_id}"


def claim_stream(trial_id: str) -> str:
    """A seeded claim tested on a trial (`autorecipe confirm`)."""
    return f"claim/{trial_id}"
