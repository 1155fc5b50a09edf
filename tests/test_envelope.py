import math

import msgspec
import pytest

from events.envelope import (
    Record,
    RecordDecodeError,
    UnknownEvent,
    decode_record,
    encode_record,
    new_event_id,
    record_to_jsonable,
)
from events.schema import EVENT_TYPES, TAGS, Check, Event, TrialEvaluated
from tests.golden.samples import SAMPLES


def rec(event, offset=0) -> Record:
    return Record(offset=offset, stream="s", stream_version=0, event_id="id", producer="p", event=event)


@pytest.mark.parametrize("event", SAMPLES.values(), ids=list(SAMPLES))
def test_every_event_type_round_trips(event):
    r = rec(event)
    back = decode_record(encode_record(r))
    assert repr(back) == repr(r)  # repr, because the samples hold NaN and NaN != NaN
    assert encode_record(back) == encode_record(r)


def test_every_event_type_is_frozen_and_tagged():
    assert len(TAGS) == len(EVENT_TYPES)
    for t in EVENT_TYPES:
        assert t.__struct_config__.frozen and t.__struct_config__.tag_field == "type"
    with pytest.raises(AttributeError):
        SAMPLES["trial.proposed"].hypothesis = "changed"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.0, 1e-308, 5e-324])
def test_non_finite_and_extreme_scores_survive(value):
    ev = TrialEvaluated(trial_id="t", attempt=1, evaluator="e", evaluator_version="1", verdict="valid",
                        score=value, metrics={"m": value}, checks=[Check(name="c", passed=True, measured=value)])
    back = decode_record(encode_record(rec(ev))).event
    for got in (back.score, back.metrics["m"], back.checks[0].measured):
        if math.isnan(value):
            assert math.isnan(got)
        else:
            assert got == value and math.copysign(1, got) == math.copysign(1, value)


def test_json_view_spells_non_finite_floats():
    ev = TrialEvaluated(trial_id="t", attempt=1, evaluator="e", evaluator_version="1", verdict="valid",
                        score=math.nan, metrics={"a": math.inf, "b": -math.inf})
    out = record_to_jsonable(rec(ev))["event"]
    assert (out["score"], out["metrics"]) == ("NaN", {"a": "Infinity", "b": "-Infinity"})


class FromTheFuture(Event, frozen=True, tag="trial.pruned"):
    trial_id: str
    why: str


def test_unknown_event_type_decodes_as_unknown_not_crash():
    data = msgspec.msgpack.encode(rec(FromTheFuture(trial_id="t", why="later")))
    back = decode_record(data)
    assert isinstance(back.event, UnknownEvent) and back.event.type == "trial.pruned"
    assert back.offset == 0 and back.stream == "s"
    assert msgspec.msgpack.decode(back.event.raw)["why"] == "later"


def test_known_type_with_wrong_schema_is_an_error_not_unknown():
    bad = msgspec.msgpack.encode({"offset": 0, "stream": "s", "stream_version": 0, "event_id": "i",
                                  "producer": "p", "event": {"type": "trial.claimed", "trial_id": 5}})
    with pytest.raises(RecordDecodeError, match="trial.claimed"):
        decode_record(bad)


def test_event_ids_are_unique_and_time_ordered():
    ids = [new_event_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 32 for i in ids)
    assert ids[0][:12] <= ids[-1][:12]
