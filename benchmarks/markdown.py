"""BENCHMARKS.md is written in sections between markers, so each benchmark replaces only its own."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = "# Benchmarks\n\nFigures measured by `benchmarks/`; each section names the command that produced it.\n"


def write_section(path: Path, section: str, start: str, end: str) -> None:
    """Put `section` (which begins with `start` and ends with `end`) in place of the old one."""
    text = path.read_text() if path.exists() else HEADER
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
