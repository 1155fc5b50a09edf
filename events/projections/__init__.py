"""Projections: pure folds over the log (trials, lineage, agents, ledger, queue)."""

from events.projections.lineage import chain, children, preorder
from events.projections.state import RunState, Snapshot
from events.projections.trials import TrialRow, is_better

__all__ = ["RunState", "Snapshot", "TrialRow", "chain", "children", "preorder", "is_better"]
