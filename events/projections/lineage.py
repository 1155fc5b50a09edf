"""The lineage tree, read off the trials table's parent links."""

from __future__ import annotations

from events.projections.trials import TrialRow


def chain(rows: dict[str, TrialRow], trial_id: str | None) -> list[TrialRow]:
    """The trials from the root down to `trial_id` (empty for None)."""
    out: list[TrialRow] = []
    seen: set[str] = set()
    while trial_id is not None and trial_id in rows and trial_id not in seen:
        seen.add(trial_id)
        row = rows[trial_id]
        out.append(row)
        trial_id = row.parent_id
    return out[::-1]


def children(rows: dict[str, TrialRow]) -> dict[str | None, list[str]]:
    """parent id -> child ids in proposal order; the key None holds the roots."""
    out: dict[str | None, list[str]] = {}
    for row in rows.values():
        parent = row.parent_id if row.parent_id in rows else None
        out.setdefault(parent, []).append(row.trial_id)
    return out


def preorder(rows: dict[str, TrialRow]) -> list[tuple[TrialRow, str]]:
    """Every trial in tree preorder with its path (`000/007/020` style, by proposal index)."""
    kids = children(rows)
    index = {tid: i for i, tid in enumerate(rows)}
    out: list[tuple[TrialRow, str]] = []
    stack = [(tid, "") for tid in reversed(kids.get(None, []))]
    while stack:
        tid, prefix = stack.pop()
        path = f"{prefix}/{index[tid]:03d}" if prefix else f"{index[tid]:03d}"
        out.append((rows[tid], path))
        stack.extend((c, path) for c in reversed(kids.get(tid, [])))
    return out
