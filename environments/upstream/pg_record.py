"""What the parameter-golf adapter reads from a record folder: the editable source of its
train_gpt.py (unpacked where the record ships a self-extracting wrapper), the code-byte rule and
pyminify flags the record uses (harness/pg_pack.py, the one file both the adapter and the trial's
launcher load), its default vocabulary, and the variables its README's torchrun command sets."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path

from environments.data import data_root

RECIPE = "train_gpt.py"
_pack_spec = importlib.util.spec_from_file_location("pg_pack", Path(__file__).parent / "harness" / "pg_pack.py")
pg_pack = importlib.util.module_from_spec(_pack_spec)
_pack_spec.loader.exec_module(pg_pack)


def record_facts(src: bytes) -> dict:
    """What the adapter reads from a record's shipped train_gpt.py: the editable source (unpacked
    if it is a wrapper), its code rule, its default vocabulary."""
    inner = pg_pack.unpack(src)
    rule, flags = pg_pack.detect(src)
    code = inner if inner is not None else src
    vocab = re.search(rb"""environ\.get\(\s*['"]VOCAB_SIZE['"]\s*,\s*['"]?(\d+)""", code)
    return {"source": code, "packed": inner is not None, "rule": rule, "flags": flags,
            "variant": f"sp{int(vocab[1])}" if vocab else "sp1024"}


def recipe_root(record: Path, facts: dict) -> Path:
    """Where the editable train_gpt.py is read from: the record, or its unpacked source, kept by
    content under $AUTORECIPE_DATA so every node builds the same recipe."""
    if not facts["packed"]:
        return record
    folder = data_root() / "parameter-golf" / "unpacked" / hashlib.sha256(facts["source"]).hexdigest()[:16]
    if not (folder / RECIPE).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{RECIPE}.{os.getpid()}.tmp"  # two executors of a node may both write it
        tmp.write_bytes(facts["source"])
        tmp.replace(folder / RECIPE)
    return folder


def readme_env(record: Path) -> dict[str, str]:
    """The NAME=VALUE settings of the torchrun command in a record's README.md."""
    readme = record / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace").replace("\\\n", " ")
    for line in text.splitlines():
        if "torchrun" in line:
            return dict(t.split("=", 1) for t in line.split() if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S+", t))
    return {}
