"""How a reactor talks to the log: read by offset, append batches, put and get blobs.

Two implementations of one interface: `LocalLog` wraps an EventStore and a BlobStore in this
process (tests, the deterministic local loop); `RayLog` (actors/eventlog.py) talks to the
EventLog actor. A refused expected version comes back as `WrongExpectedVersion`, whichever
side of a process boundary it happened on.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from events import AppendResult, BlobRef, BlobStore, EventStore, NewEvent, Record, WrongExpectedVersion, admit


class LogClient(Protocol):
    def read(self, from_offset: int, limit: int = 1000) -> tuple[list[Record], int]:
        """Records from `from_offset` on (at most `limit`), and the offset to read from next."""

    def append(self, batch: Sequence[NewEvent]) -> AppendResult:
        """Store the batch whole or not at all; raises WrongExpectedVersion on a stale version."""

    def put_blob(self, data: bytes) -> BlobRef: ...

    def get_blob(self, ref: BlobRef | str) -> bytes: ...


class Conflict(tuple):
    """A WrongExpectedVersion as plain data, so it crosses a process boundary intact."""

    @classmethod
    def of(cls, exc: WrongExpectedVersion) -> "Conflict":
        return cls((exc.stream, exc.expected, exc.actual, exc.event_id))

    def error(self) -> WrongExpectedVersion:
        return WrongExpectedVersion(*self)


class LocalLog:
    def __init__(self, store: EventStore, blobs: BlobStore):
        self.store, self.blobs = store, blobs

    def read(self, from_offset: int, limit: int = 1000) -> tuple[list[Record], int]:
        return self.store.read(from_offset, limit)

    def append(self, batch: Sequence[NewEvent]) -> AppendResult:
        admit(batch)
        return self.store.append(batch)

    def put_blob(self, data: bytes) -> BlobRef:
        return self.blobs.put(data)

    def get_blob(self, ref: BlobRef | str) -> bytes:
        return self.blobs.get(ref)


class BlobsVia:
    """A BlobStore look-alike (put/get/put_text/get_text) over a log client, for code that takes a
    BlobStore: the trial runner and the evaluators."""

    def __init__(self, log: LogClient):
        self.log = log

    def put(self, data: bytes) -> BlobRef:
        return self.log.put_blob(bytes(data))

    def put_text(self, text: str) -> BlobRef:
        return self.put(text.encode())

    def get(self, ref: BlobRef | str) -> bytes:
        return self.log.get_blob(ref)

    def get_text(self, ref: BlobRef | str) -> str:
        return self.get(ref).decode()
