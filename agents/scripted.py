"""A proposer that plays a fixed script, for tests and demos: each session takes the next step.

A step is a Proposal whose `parent_id` may be the placeholder BEST (the current best when the
session runs, the baseline when there is none). When the script runs out, the proposer has
nothing to propose.
"""

from __future__ import annotations

from dataclasses import replace

from agents.proposer import Context, Proposal

BEST = "<best>"


class ScriptedProposer:
    kind = "scripted"
    model = provider = None  # offline: no model is called

    def __init__(self, steps: list[Proposal]):
        self.steps = list(steps)

    def propose(self, ctx: Context) -> Proposal | None:
        if ctx.session > len(self.steps):
            return None
        step = self.steps[ctx.session - 1]  # the session number comes from the log: restarts resume the script
        if step.parent_id == BEST:
            step = replace(step, parent_id=ctx.view.best.trial_id if ctx.view.best else None)
        return step
