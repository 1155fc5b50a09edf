"""What RunState reads of each record, as lean structs that replay decodes instead of the typed
`Record`: msgspec skips every other field without building it (as the store's recovery does
with its index view), so a replay allocates only what the fold uses.

Each view keeps its event's tag, field types, defaults and wire names, so it accepts exactly
the payloads the full type accepts in the fields it has. A field RunState starts to read must be
listed here; replay then fails loudly (an AttributeError), never quietly: the replay tests fold
the same logs both ways and compare digests.
"""

from __future__ import annotations

from typing import Union

import msgspec

from events.schema import (
    EVENT_TYPES,
    AgentSessionStarted,
    BudgetCharged,
    Event,
    LlmExchanged,
    RunStarted,
    RunStopped,
    RunStopRequested,
    TrialCancelled,
    TrialClaimed,
    TrialEvaluated,
    TrialExecuted,
    TrialLost,
    TrialProposed,
    TrialRetried,
)

WHOLE = (RunStarted, RunStopRequested, RunStopped)  # rare: decoded as they are
# The fields the fold reads of the others; a type not listed is decoded with no fields (its tag).
READS: dict[type[Event], tuple[str, ...]] = {
    TrialProposed: ("trial_id", "agent", "surface", "parent_id", "hypothesis", "expected_delta", "code", "diff",
                    "notes", "session_id", "technique", "surface_violations"),
    TrialClaimed: ("trial_id", "attempt", "executor"),
    TrialExecuted: ("trial_id", "attempt", "phases", "gpu_s"),
    TrialEvaluated: ("trial_id", "attempt", "verdict", "score", "metrics", "checks", "feedback"),
    TrialLost: ("trial_id", "attempt"),
    TrialRetried: ("trial_id", "attempt"),
    TrialCancelled: ("trial_id",),
    AgentSessionStarted: ("agent",),
    LlmExchanged: ("agent", "usage", "cost_usd"),
    BudgetCharged: ("resource", "amount", "agent"),
}


def _view(event_type: type[Event], names: tuple[str, ...]) -> type:
    fields = {f.name: f for f in msgspec.structs.fields(event_type)}
    spec = []
    for name in names:
        f = fields[name]
        default = {} if f.default is msgspec.NODEFAULT else {"default": f.default}
        if f.default_factory is not msgspec.NODEFAULT:
            default = {"default_factory": f.default_factory}
        spec.append((name, f.type, msgspec.field(name=f.encode_name, **default)))
    return msgspec.defstruct(f"Folded{event_type.__name__}", spec, tag_field="type",
                             tag=event_type.__struct_config__.tag, kw_only=True, frozen=True, gc=False)


def _views() -> dict[type[Event], type]:
    return {t: t if t in WHOLE else _view(t, READS.get(t, ())) for t in EVENT_TYPES}


VIEWS: dict[type[Event], type] = _views()  # event type -> what replay decodes it as


class FoldedRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The envelope fields the fold reads."""

    offset: int
    wall_time_ns: int = 0
    event: Union[tuple(VIEWS.values())]  # type: ignore[valid-type]


decode_folded = msgspec.msgpack.Decoder(FoldedRecord).decode
