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


def _row(trial_id, technique, parent_id, score, delta=None, status="discard"):
    from events.projections.trials import EVALUATED, TrialRow

    return TrialRow(trial_id=trial_id, agent="alpha", surface="alpha", parent_id=parent_id, depth=0, hypothesis="",
                    expected_delta=None, notes="", code={}, diff=None, session_id=None, technique=technique,
                    surface_violations=[], proposed_offset=0, proposed_wall_ns=0, phase=EVALUATED, verdict="valid",
                    status=status, score=score, realized_delta=delta)


def test_once_nothing_new_is_left_what_hurt_on_an_ancestor_is_re_tested_on_the_best():
    """width=48 hurt from the baseline; A changed since (t0002 is the best), and every other arm
    was tried on t0002: the library re-tests width=48 there instead of stopping."""
    spec = registry.get("dryrun")
    base = _row("t0000", "", None, 10.0, status="keep")
    wide = _row("t0001", "width=48", "t0000", 10.5, delta=0.5)
    best = _row("t0002", "a=3.0", "t0000", 1.0, delta=-9.0, status="keep")
    here = [_row(f"t00{i + 10}", k, "t0002", 2.0, delta=1.0)
            for i, k in enumerate(["a=1.0", "a=2.0", "a=5.0", "width=64", "precision=8"])]
    history = (base, wide, best, *here)
    view = LineageView(agent="alpha", metric="loss", direction="minimize", lineage=True, baseline=base, best=best,
                       chain=(base, best), history=history, mine=history[1:])
    code = {"knobs.py": b"A = 3.0\nWIDTH = 32\nPRECISION = 16\nB = 1.0\n"}
    ctx = Context(spec=spec, specialist=spec.specialist("alpha"), view=view, code_of=lambda _: code,
                  rng=random.Random(0), session=1)
    again = LibraryProposer().propose(ctx)
    assert again is not None and again.technique == "width=48" and again.parent_id == "t0002"
    assert "re-tests" in again.notes
    tried = view.history + (_row("t0020", "width=48", "t0002", 1.2, delta=0.2),)
    done = LineageView(**{**view.__dict__, "history": tried, "mine": tried[1:]})
    assert LibraryProposer().propose(Context(spec=spec, specialist=spec.specialist("alpha"), view=done,
                                             code_of=lambda _: code, rng=random.Random(0), session=2)) is None


def test_re_tests_wait_while_another_agent_still_has_a_new_arm():
    """The same lineage, but beta (active in this run) has not tried B on the best yet: alpha's
    re-test would spend the shared budget before beta's new idea, so alpha waits."""
    spec = registry.get("dryrun")
    base = _row("t0000", "", None, 10.0, status="keep")
    wide = _row("t0001", "width=48", "t0000", 10.5, delta=0.5)
    best = _row("t0002", "a=3.0", "t0000", 1.0, delta=-9.0, status="keep")
    beta = _as(_row("t0003", "b=-3.0", "t0000", 26.0, delta=16.0), agent="beta")
    here = [_row(f"t00{i + 10}", k, "t0002", 2.0, delta=1.0)
            for i, k in enumerate(["a=1.0", "a=2.0", "a=5.0", "width=64", "precision=8"])]
    history = (base, wide, best, beta, *here)
    view = LineageView(agent="alpha", metric="loss", direction="minimize", lineage=True, baseline=base, best=best,
                       chain=(base, best), history=history, mine=(wide, best, *here))
    code = {"knobs.py": b"A = 3.0\nWIDTH = 32\nPRECISION = 16\nB = 1.0\n"}
    ctx = Context(spec=spec, specialist=spec.specialist("alpha"), view=view, code_of=lambda _: code,
                  rng=random.Random(0), session=1)
    assert LibraryProposer().propose(ctx) is None  # beta's b=0.0 and b=-1.0 are new on t0002
    beta_ctx = Context(spec=spec, specialist=spec.specialist("beta"), view=view, code_of=lambda _: code,
                       rng=random.Random(0), session=1)
    assert LibraryProposer().propose(beta_ctx).technique in ("b=0.0", "b=-1.0")


def _as(row, **changes):
    import msgspec

    return msgspec.structs.replace(row, **changes)
