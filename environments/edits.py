"""SEARCH/REPLACE edits applied exactly: the search text must occur once in the file.

This is the strict core that techniques and fault recipes use; the LLM agents' tolerant
application (whitespace-insensitive matching, nearest-lines feedback) builds on it.
"""

from __future__ import annotations

from environments.spec import Edit


class EditError(ValueError):
    pass


def apply_edit(files: dict[str, bytes], edit: Edit) -> dict[str, bytes]:
    if edit.path not in files:
        raise EditError(f"{edit.path}: no such recipe file (have {', '.join(sorted(files))})")
    text = files[edit.path].decode()
    count = text.count(edit.search)
    if count != 1:
        where = "does not occur" if count == 0 else f"occurs {count} times"
        raise EditError(f"{edit.path}: the search text {where}: {edit.search[:80]!r}")
    return {**files, edit.path: text.replace(edit.search, edit.replace).encode()}


def apply_edits(files: dict[str, bytes], edits) -> dict[str, bytes]:
    for edit in edits:
        files = apply_edit(files, edit)
    return files
