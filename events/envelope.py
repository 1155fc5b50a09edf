"""The envelope every stored event travels in, and its byte encoding.

A producer hands the log a `NewEvent` (payload, stream, its own event id, expected stream
version). The single writer turns it into a `Record` by assigning the global offset and the
stream version at commit. Records are msgpack on disk: floats, NaN and +-inf included, round-trip
exactly, which JSON cannot do.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Union

import msgspec

from events.schema import EVENT_TYPES, TAGS, Event

SCHEMA_VERSION = 1

ANY_VERSION: None = None  # append whatever the stream's version
NO_STREAM = -1  # append only if the stream has no events yet

AnyEvent = Union[EVENT_TYPES]  # type: ignore[valid-type]


class Record(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True):
    offset: int  # global, gap-free, assigned by the single writer at commit
    stream: str  # e.g. "run", "trial/t0007", "agent/opt"
    stream_version: int  # 0-based position within the stream
    event_id: str  # producer-assigned; the log stores each id once
    producer: str  # e.g. "executor/2#1" (actor and incarnation)
    causation_id: str | None = None  # event id of what caused this one
    wall_time_ns: int = 0  # informational only: never ordering, never logic
    schema_version: int = SCHEMA_VERSION
    event: AnyEvent

    @property
    def type(self) -> str:
        return event_type_name(self.event)


class NewEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a producer appends. `expected_version` is the stream's last version the producer
    saw (NO_STREAM for an empty stream, None for no check)."""

    event: Event
    stream: str
    event_id: str
    producer: str
    causation_id: str | None = None
    expected_version: int | None = ANY_VERSION
    wall_time_ns: int = 0


class UnknownEvent(msgspec.Struct, frozen=True, gc=False):
    """A payload whose tag this code does not know (written by a newer autorecipe). Readers that
    don't need it skip it; its bytes are kept so it can be passed on untouched."""

    type: str
    raw: bytes


class _RawRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    offset: int
    stream: str
    stream_version: int
    event_id: str
    producer: str
    causation_id: str | None = None
    wall_time_ns: int = 0
    schema_version: int = SCHEMA_VERSION
    event: msgspec.Raw


class _TagOnly(msgspec.Struct, gc=False):
    type: str


class RecordDecodeError(ValueError):
    pass


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)
_event_decoder = msgspec.msgpack.Decoder(AnyEvent)
_raw_decoder = msgspec.msgpack.Decoder(_RawRecord)
_tag_decoder = msgspec.msgpack.Decoder(_TagOnly)


encode_record = _encoder.encode  # Record -> bytes; the encoder's own method, so appends pay no extra call


class InvalidEvent(ValueError):
    """An event with a field that is not of its declared type: stored, every reader would call
    the log damaged from there on."""


def admit(batch) -> None:
    """Refuse a batch holding an event that would not read back as itself (a string where the
    schema has a float, a count past 2^64), naming the event, its producer and the field. The
    log's front doors (the EventLog actor, LocalLog) ask this before every append: msgspec builds
    a Struct without checking its fields, so only a round trip can tell."""
    for ev in batch:
        try:
            _event_decoder.decode(_encoder.encode(ev.event))
        except (msgspec.ValidationError, msgspec.EncodeError, OverflowError, TypeError) as exc:
            raise InvalidEvent(f"{event_type_name(ev.event)} from {ev.producer} on {ev.stream}: {exc}; the batch "
                               "was not stored") from None


def decode_record(data: bytes | memoryview) -> Record:
    """Decode one stored record; an unknown event type becomes an `UnknownEvent`."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as exc:
        try:
            raw = _raw_decoder.decode(data)
            tag = _tag_decoder.decode(raw.event).type
        except msgspec.DecodeError:
            raise RecordDecodeError(str(exc)) from exc
        if tag in TAGS:  # a known type that does not match its schema: real damage
            raise RecordDecodeError(f"{tag}: {exc}") from exc
        fields = {f: getattr(raw, f) for f in raw.__struct_fields__ if f != "event"}
        return Record(**fields, event=UnknownEvent(tag, bytes(raw.event)))
    except msgspec.DecodeError as exc:
        raise RecordDecodeError(str(exc)) from exc


def event_type_name(event: Any) -> str:
    if isinstance(event, UnknownEvent):
        return event.type
    return type(event).__struct_config__.tag


def new_event_id() -> str:
    """A time-ordered 128-bit id (UUIDv7 layout) as 32 hex digits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    return f"{value:032x}"


# ---------------------------------------------------------------------------------------------
# JSON for people and HTTP consumers. JSON has no NaN or infinities, so they become the strings
# "NaN", "Infinity" and "-Infinity" (the spellings JavaScript's Number() understands).


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def record_to_jsonable(record: Record) -> dict:
    out = msgspec.to_builtins(record, builtin_types=(bytes,))
    if isinstance(record.event, UnknownEvent):
        out["event"] = {"type": record.event.type, "unknown": True}
    return _finite(out)


def to_jsonable(value: Any) -> Any:
    return _finite(msgspec.to_builtins(value))
