"""The LLM side of starting a run: each endpoint probed (agents.llm.probe) before anything
starts, what the probe found written into the run's configuration, the proposers built."""

from __future__ import annotations

import msgspec

from agents.llm.config import Endpoint
from agents.llm.probe import ProbeError, probe_all
from agents.llm.session import LLMProposer


class EndpointUnusable(RuntimeError):
    pass


def llm_proposers(config, agents: list[str], echo=print, probe: bool = True) -> dict:
    """agent -> LLMProposer. `config.llm` gets the probed endpoints (edit_format resolved, context
    length, what the probe saw), so RunStarted records them and replay rebuilds the same prompts."""
    endpoints = {a: msgspec.convert(config.llm[a], Endpoint) for a in agents}
    for e in endpoints.values():
        e.api_key()  # a missing key stops the launch here, not later inside an actor
    if probe:
        try:
            endpoints = probe_all(endpoints, log=lambda m: echo(f"llm: {m}"))
        except ProbeError as exc:
            raise EndpointUnusable(str(exc)) from None
        for a, e in endpoints.items():
            config.llm[a] = e.public()
    return {a: LLMProposer(e) for a, e in endpoints.items()}


def overridden(models: dict[str, dict], **fields) -> dict[str, dict]:
    """Endpoint fields given on the command line (those not None) over every chosen endpoint."""
    given = {k: v for k, v in fields.items() if v is not None}
    return {a: {**e, **given} for a, e in models.items()}
