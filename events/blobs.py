"""Content-addressed blobs: code, diffs, logs, outputs, LLM requests and responses.

A blob lives at `blobs/<sha256[:2]>/<sha256>`, written once (temp file, fsync, rename) and
verified against its name on every read, so a damaged blob is an error, never silent data.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from events.schema import BlobRef

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobMissing(KeyError):
    pass


class BlobCorrupt(Exception):
    pass


class BlobStore:
    def __init__(self, root: str | Path, fsync: bool = True):
        self.root = Path(root)  # made by the first put: a store opened only to read creates nothing
        self.fsync = fsync

    def path_of(self, sha256: str) -> Path:
        """The blob's path; refuses anything that is not a lowercase sha256 (no path tricks)."""
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> BlobRef:
        ref = ref_of(data)
        path = self.path_of(ref.sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    if self.fsync:
                        os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            if self.fsync:
                dfd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        return ref

    def put_text(self, text: str) -> BlobRef:
        return self.put(text.encode())

    def has(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()

    def get(self, ref: BlobRef | str) -> bytes:
        sha = ref.sha256 if isinstance(ref, BlobRef) else ref
        path = self.path_of(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobMissing(f"blob {sha} is not in {self.root}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise BlobCorrupt(f"blob {path} is damaged: its content hashes to {actual}")
        return data

    def get_text(self, ref: BlobRef | str) -> str:
        return self.get(ref).decode()


def ref_of(data: bytes) -> BlobRef:
    """The ref `BlobStore.put(data)` returns, without storing anything."""
    return BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
