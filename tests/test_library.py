"""The offline proposer's policy, on hand-built lineages."""

import random

from agents.library import Arm, LibraryProposer, _milder_values, rebase_edit
from agents.lineage_view import LineageView
from agents.proposer import Context
from environments import registry
from environments.spec import Edit, Technique


def test_rebase_edit_follows_an_assignment_an_earlier_trial_changed():
    code = {"r.py": b"LR = 5e-3\nBATCH = 8\n"}
    assert rebase_edit(code, Edit("r.py", "LR = 3e-3", "LR = 8e-3")) == Edit("r.py", "LR = 5e-3", "LR = 8e-3")
    assert rebase_edit(code, Edit("r.py", "LR = 3e-3", "LR = 5e-3")) is None  # would change nothing
    assert rebase_edit(code, Edit("r.py", "WD = 0", "WD = 1")) is None  # not there at all


def test_a_gate_miss_backs_the_value_off_toward_the_parent():
    t = Technique("epochs", "opt", "{value} epochs", (Edit("r.py", "EPOCHS = 48", "EPOCHS = {value}"),),
                  values=("24", "32", "40", "56"))
    code = {"r.py": b"EPOCHS = 48\n"}
    assert _milder_values(Arm(t, "24"), code) == ["32", "40"]
    assert _milder_values(Arm(t, "56"), code) == []


def test_the_library_proposes_nothing_when_every_arm_is_used_up():
    spec = registry.get("dryrun")
    code = spec.baseline_code()
    view = LineageView(agent="beta", metric="loss", direction="minimize", lineage=True, baseline=None, best=None)
    ctx = Context(spec=spec, specialist=spec.specialist("beta"), view=view, code_of=lambda _: code,
                  rng=random.Random(0), session=1)
    first = LibraryProposer().propose(ctx)
    assert first is not None and first.technique.startswith("b=") and first.edits[0].path == "knobs.py"
    empty = LibraryProposer(techniques=()).propose(ctx)
    assert empty is None
