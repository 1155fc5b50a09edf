"""The control proposer: a technique from the specialist's library, chosen at random and applied
to the current best. It reads nothing of the lineage but the best, never learns, and never runs
out, which makes it the search benchmark's random arm and the loop benchmark's endless supply.
"""

from __future__ import annotations

from agents.library import Arm, resolve
from agents.proposer import Context, Proposal


class RandomProposer:
    kind = "random"
    model = provider = None  # offline: no model is called

    def propose(self, ctx: Context) -> Proposal | None:
        parent_id = ctx.view.best.trial_id if ctx.view.best else None
        code = ctx.code_of(parent_id)
        arms = [Arm(t, v) for t in ctx.spec.techniques if t.specialist == ctx.specialist.name for v in t.values]
        ctx.rng.shuffle(arms)
        for arm in arms:
            edits = resolve(code, arm.edits())
            if edits is not None:
                return Proposal(parent_id=parent_id, hypothesis=arm.hypothesis, edits=edits, technique=arm.key,
                                notes="chosen at random")
        return None
