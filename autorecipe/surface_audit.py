"""The surface audit: which specialists' surfaces each trial's diff touched (the reference
system's architecture-domain audit), recomputed from the recorded code of the trial and its
parent, never taken from what the proposal said about itself.

A diff is cut into pieces, one per (file, region) its changed lines are in (agents.changes; a
bare path is a change outside every region, or in a file without regions). A piece belongs to a
specialist's surface when `surface_violations` finds nothing wrong with a change made of that
piece alone: the rule the specialist applied when it proposed and `replay --verify` applies, so
this table cannot disagree with them.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass

from agents.changes import Change, change_between, surface_violations
from environments.spec import Surface
from events import BlobStore, RunState
from events.export import text


@dataclass(frozen=True)
class Touch:
    trial_id: str
    agent: str  # the specialist that proposed it, and so the surface it owns
    status: str  # its verdict's label, or its phase while it has none
    pieces: tuple[str, ...]  # "file:region" or "file", in order
    surfaces: tuple[str, ...]  # every specialist owning at least one piece
    unowned: tuple[str, ...]  # pieces no specialist owns
    in_surface: bool  # every piece is in the agent's own surface


def piece_name(path: str, region: str) -> str:
    return f"{path}:{region}" if region else path


def owners(change: Change, path: str, region: str, surfaces: dict[str, Surface]) -> list[str]:
    """The specialists whose surface holds the piece (path, region) of `change`."""
    alone = dataclasses.replace(change, touched={path: (region,)})
    return [name for name, surface in sorted(surfaces.items()) if not surface_violations(alone, surface)]


def touch(trial_id: str, agent: str, status: str, change: Change, surfaces: dict[str, Surface]) -> Touch:
    pieces, owning, unowned = [], set(), []
    for path, regions in sorted(change.touched.items()):
        for region in regions:
            who = owners(change, path, region, surfaces)
            pieces.append(piece_name(path, region))
            owning.update(who)
            if not who:
                unowned.append(pieces[-1])
    return Touch(trial_id, agent, status, tuple(pieces), tuple(sorted(owning)), tuple(unowned),
                 not surface_violations(change, surfaces[agent]))


def trial_touches(state: RunState, blobs: BlobStore, surfaces: dict[str, Surface]) -> list[Touch]:
    """One Touch per trial whose code differs from its parent's, in proposal order. The baseline
    (no parent) and agents the environment does not name (a forked run's, say) are left out."""
    code: dict[str, dict[str, bytes]] = {}
    out = []
    for r in sorted(state.trials.rows.values(), key=lambda r: r.proposed_offset):
        if not r.code:
            continue
        code[r.trial_id] = {p: blobs.get(ref) for p, ref in r.code.items()}
        parent = code.get(r.parent_id or "")
        if parent is None or r.agent not in surfaces:
            continue
        change = change_between(parent, code[r.trial_id])
        if change is not None:
            out.append(touch(r.trial_id, r.agent, r.status or r.phase, change, surfaces))
    return out


def per_agent(touches: list[Touch]) -> dict[str, tuple[int, int]]:
    """Per agent: (trials with a diff, how many stayed in the agent's own surface)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in touches:
        out[t.agent][0] += 1
        out[t.agent][1] += t.in_surface
    return {a: (n, i) for a, (n, i) in out.items()}


def owned(surface: Surface) -> str:
    """A surface as pieces: "knobs.py:alpha", or "train.py (whole file)"."""
    if not surface.regions:
        return ", ".join(f"{f} (whole file)" for f in surface.files)
    return ", ".join(piece_name(f, r) for f in surface.files for r in surface.regions)


TOUCHES_HEADER = "trial\tagent\tstatus\towns\ttouched\tsurfaces\tunowned\tin_surface\n"


def touches_tsv(touches: list[Touch], surfaces: dict[str, Surface]) -> str:
    """surface_touches.tsv: a row per trial with a diff; lists are comma-separated, empty for none."""
    return TOUCHES_HEADER + "".join(
        "\t".join((t.trial_id, t.agent, t.status, owned(surfaces[t.agent]), *(text(", ".join(x)) for x in
                   (t.pieces, t.surfaces, t.unowned)), "yes" if t.in_surface else "no")) + "\n"
        for t in touches)


def per_agent_tsv(audit: dict[str, tuple[int, int]]) -> str:
    """surface_audit.tsv: per agent, trials with a diff and how many stayed in its surface."""
    return "agent\ttrials\tin_surface\tout_of_surface\tshare_in\n" + "".join(
        f"{a}\t{n}\t{i}\t{n - i}\t{i / n:.3f}\n" for a, (n, i) in sorted(audit.items()) if n)
