"""Environments and a proposer that fail on purpose inside one unit of work, for the tests that
a run never hangs (tests/test_never_hang.py). Each is dryrun with one thing broken, importable as
`tests.faulty:NAME` so Ray's workers load the same one."""

from __future__ import annotations

import dataclasses

from environments import registry
from environments.spec import Budget
from evaluators.dryrun import evaluate as dryrun_evaluate

DRYRUN = registry.get("dryrun")


def evaluator_raising_on_t0001(executed, blobs, data, tier):
    """A careless evaluator: reads an output that one trial did not write."""
    if executed.trial_id == "t0001":
        outputs = {}
        return outputs["out/missing.txt"]  # KeyError, as a missing file gives
    return dryrun_evaluate(executed, blobs, data, tier)


EVALUATOR_RAISES = dataclasses.replace(DRYRUN, evaluator="tests.faulty:evaluator_raising_on_t0001")
EVALUATOR_MISSING = dataclasses.replace(DRYRUN, evaluator="tests.no_such_module:evaluate")
# a typo in a tier's budget: the phase is "train", the budget says "trian"
BUDGET_TYPO = dataclasses.replace(DRYRUN, tiers={
    name: dataclasses.replace(t, budgets={"trian": Budget(10, measure="wall")}) for name, t in DRYRUN.tiers.items()})


class RaisingProposer:
    """A proposer with a bug: every session raises."""

    kind = "library"
    model = provider = None

    def propose(self, ctx):
        raise RuntimeError("the proposer's own bug")
