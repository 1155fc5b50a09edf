"""A proposed change to a recipe: SEARCH/REPLACE edits applied exactly, syntax-checked, with the
canonical unified diff, the sha256 of parent and child, and where in the recipe it landed.

This is the one place edits are applied. They apply all or nothing: each search text must occur
exactly once (`apply_edits`, which techniques and fault recipes use as they are); the LLM agents'
tolerant matching (agents.llm.matching) only finds the exact text to hand to it.
Where a change landed is told by region: `# region NAME` ... `# endregion NAME` comments split
a file, and lines outside every region belong to no region ("").
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass

from environments.source import parse
from environments.spec import Edit, Surface

REGION = re.compile(r"^\s*#\s*(end)?region\s+(\S+)")


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


@dataclass(frozen=True)
class Change:
    code: dict[str, bytes]  # the whole child recipe
    diff: str  # unified, parent -> child, files in sorted order
    parent_sha256: str
    child_sha256: str
    touched: dict[str, tuple[str, ...]]  # file -> regions its changed lines are in ("" = none)


def code_sha256(code: dict[str, bytes]) -> str:
    """One hash for a multi-file recipe: sorted paths, each length-prefixed."""
    h = hashlib.sha256()
    for path in sorted(code):
        data = code[path]
        h.update(f"{path}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def make_change(parent: dict[str, bytes], edits: tuple[Edit, ...] | list[Edit]) -> Change:
    """Apply `edits` to `parent`. Raises EditError naming what failed: an edit that does not apply,
    an edit that changes nothing, or a child file that is not valid Python."""
    if not edits:
        raise EditError("the proposal has no edits")
    child = apply_edits(parent, edits)
    changed = sorted(p for p in child if child[p] != parent.get(p))
    if not changed:
        raise EditError("the edits change nothing")
    for path in changed:
        if path.endswith(".py"):
            try:
                parse(child[path], filename=path)
            except SyntaxError as exc:
                raise EditError(f"{path}:{exc.lineno}: the edited file is not valid Python: {exc.msg}") from None
    diff, touched = [], {}
    for path in changed:
        old, new = parent[path].decode().splitlines(keepends=True), child[path].decode().splitlines(keepends=True)
        diff.extend(_ensure_newlines(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")))
        touched[path] = _regions_touched(old, new)
    return Change(code=child, diff="".join(diff), parent_sha256=code_sha256(parent),
                  child_sha256=code_sha256(child), touched=touched)


def change_between(parent: dict[str, bytes], child: dict[str, bytes]) -> Change | None:
    """The change that turns `parent` into `child` (two recorded recipes), or None if they are the
    same: what audits recompute diffs and surfaces from."""
    edits = [Edit(p, parent[p].decode(), child[p].decode()) for p in sorted(child) if p in parent and child[p] != parent[p]]
    return make_change(parent, edits) if edits else None


def surface_violations(change: Change, surface: Surface) -> list[str]:
    """What the change touched outside `surface`, one line each; empty when it stayed inside."""
    out = []
    for path, regions in sorted(change.touched.items()):
        if path not in surface.files:
            out.append(f"{path} is not in this specialist's files ({', '.join(surface.files)})")
            continue
        if surface.regions:
            outside = [r or "(outside every region)" for r in regions if r not in surface.regions]
            if outside:
                out.append(f"{path}: changed {', '.join(outside)}; this specialist owns region "
                           f"{', '.join(surface.regions)}")
    return out


def region_map(lines: list[str]) -> list[str]:
    """The region each line is in; a region's own marker lines count as outside it (moving or
    renaming a marker changes who owns what)."""
    current, out = "", []
    for line in lines:
        m = REGION.match(line)
        if m:
            out.append("")
            current = "" if m.group(1) else m.group(2)
        else:
            out.append(current)
    return out


def _regions_touched(old: list[str], new: list[str]) -> tuple[str, ...]:
    regions = region_map(old)
    touched = set()
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 < i2:
            touched.update(regions[i1:i2])
        else:  # a pure insertion belongs to the region around it
            before = regions[i1 - 1] if i1 > 0 else ""
            after = regions[i1] if i1 < len(regions) else ""
            touched.add(before if before == after else (before or after))
    return tuple(sorted(touched))


def _ensure_newlines(lines):
    for line in lines:
        yield line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"


__all__ = ["Change", "EditError", "apply_edit", "apply_edits", "change_between", "code_sha256", "make_change",
           "surface_violations", "region_map"]
