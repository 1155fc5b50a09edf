"""The tail of each phase's log of one trial attempt, as text safe to print or to put in JSON.

`autorecipe show` and the gateway's /trials/{id} both use it, so a terminal and a browser show
the same lines. The executor stores each phase's captured output as the output `logs/<phase>`
(already capped at capture, head and tail kept); a copied or hostile run directory may still hold
anything, so the text is bounded here too.
"""

from __future__ import annotations

import re

from events.blobs import BlobCorrupt, BlobMissing, BlobStore
from events.schema import BlobRef

PREFIX = "logs/"
MAX_TAIL_CHARS = 64_000  # one enormous line must not make one answer enormous
# Control characters (all but tab) would move a terminal's cursor or recolour it; a line break
# never survives splitlines, so only these remain to replace.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def blob_text(blobs: BlobStore, ref: BlobRef | str) -> str:
    """A blob as text: undecodable bytes become U+FFFD; a missing or damaged blob is described,
    never raised, so one bad blob does not hide the rest of a trial."""
    try:
        return blobs.get(ref).decode(errors="replace")
    except (BlobMissing, BlobCorrupt) as exc:
        return f"[unavailable: {exc}]"


def tail(text: str, lines: int) -> str:
    """The last `lines` lines of `text` (none for 0), trailing blank lines not counted, control
    characters replaced by U+FFFD."""
    kept = text.rstrip().splitlines()[-lines:] if lines > 0 else []  # [-0:] would be every line
    return "\n".join(_CONTROL.sub("\ufffd", line) for line in kept)[-MAX_TAIL_CHARS:]


def log_tails(blobs: BlobStore, outputs: dict[str, BlobRef], lines: int) -> dict[str, str]:
    """{"logs/<phase>": its last `lines` lines} for every log among an attempt's outputs, by name."""
    return {name: tail(blob_text(blobs, ref), lines) for name, ref in sorted(outputs.items())
            if name.startswith(PREFIX)}
