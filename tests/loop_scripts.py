"""Scripted specialists for dryrun, shared by the local-loop and Ray-loop tests."""

from agents.proposer import Proposal
from agents.scripted import BEST, ScriptedProposer
from environments.spec import Edit

R = "knobs.py"


def step(hypothesis: str, *edits: tuple[str, str], parent=BEST) -> Proposal:
    return Proposal(parent_id=parent, hypothesis=hypothesis, edits=tuple(Edit(R, s, r) for s, r in edits))


def scripts() -> dict[str, ScriptedProposer]:
    return {
        "alpha": ScriptedProposer([
            step("A to 2", ("A = 0.0", "A = 2.0")),
            step("twice the width", ("WIDTH = 32", "WIDTH = 64")),  # size_blocked
            step("reach into beta", ("B = 1.0", "B = 7.0")),  # out_of_surface
            step("a search that is not there", ("A = 42.0", "A = 1.0")),  # invalid_edit
            step("A to 3", ("A = 2.0", "A = 3.0")),
        ]),
        "beta": ScriptedProposer([
            step("B to 0", ("B = 1.0", "B = 0.0")),
            step("B to -1", ("B = 0.0", "B = -1.0")),
            step("B to -3", ("B = -1.0", "B = -3.0")),
        ]),
    }
