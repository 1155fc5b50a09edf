"""A run directory: `log/` (the segments) and `blobs/` (content-addressed data)."""

from __future__ import annotations

from pathlib import Path

from events.blobs import BlobStore
from events.reader import LogReader
from events.store import EventStore


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def log_path(self) -> Path:
        return self.path / "log"

    @property
    def blobs_path(self) -> Path:
        return self.path / "blobs"

    def exists(self) -> bool:
        return self.log_path.is_dir()

    def require(self) -> "RunDir":
        if not self.exists():
            raise FileNotFoundError(f"{self.path} is not a run directory (no {self.log_path})")
        return self

    def store(self, **kwargs) -> EventStore:
        return EventStore(self.log_path, **kwargs)

    def reader(self) -> LogReader:
        return LogReader(self.require().log_path)

    def blobs(self) -> BlobStore:
        return BlobStore(self.blobs_path)
