"""The event log: typed events, the durable store, blobs, projections and replay.

Imports nothing else of autorecipe's; every other part imports this.
"""

from events.blobs import BlobCorrupt, BlobMissing, BlobStore
from events.envelope import (
    ANY_VERSION,
    NO_STREAM,
    InvalidEvent,
    NewEvent,
    Record,
    UnknownEvent,
    admit,
    event_type_name,
    new_event_id,
)
from events.projections import RunState
from events.reader import Filter, LogReader
from events.replay import replay
from events.rundir import RunDir
from events.schema import *  # noqa: F401,F403  (the vocabulary is the package's public face)
from events.segments import CorruptLog
from events.store import (
    Ack,
    AppendResult,
    DamagedWitness,
    EventStore,
    LogLocked,
    LogWriteFailed,
    WrongExpectedVersion,
)
