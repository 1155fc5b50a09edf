"""The offline proposer: the environment's technique library, chosen by a lineage-aware policy.

Every (technique, value) of the specialist's surface is an arm. The policy, in order:

1. Turn my last failure into the next edit: after `size_blocked`, pair the idea with an edit
   tagged "smaller" (or take the smaller edit alone); after a budget overrun, the same with
   "faster"; after a gate miss (`disqualified`), back the value off toward where the parent is.
2. Re-apply my kept ideas that the current best does not carry (the best came from another
   branch): this is how kept edits from different surfaces end up combined.
3. Otherwise the arm with the best estimated effect: the mean realized delta of that arm over
   earlier trials (anyone's), or the technique's prior when it was never tried, plus a small
   seeded exploration bonus.
4. When no agent has a new arm left on the best (every arm was tried there, failed, or was
   measured on an ancestor not to help): re-test the ones that did not help on an ancestor,
   least harmful first. Another knob has changed since, and effects interact (in golf-mini a
   learning rate that hurt at batch 32 is the biggest win at batch 8). Stopping instead left a
   fifth of the trial budget unused in the search benchmark's lineage arm; re-testing as soon
   as *my* new arms ran out spent the shared budget before another agent's new arms.

Never proposed: an arm already tried on this parent, an arm that failed (any parent) unless it
comes back paired with its fix, an arm that changes nothing. Without lineage (the ablation) the
view has only the current best, so the policy is the prior plus chance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.proposer import Context, Proposal
from environments.spec import Edit, Technique
from events.ranking import gain_sign

FOLLOW_UP_TAG = {"size_blocked": "smaller", "train_budget_overrun": "faster", "eval_budget_overrun": "faster"}
EXPLORE = 0.002  # scale of the seeded bonus that breaks ties among untried arms
ASSIGNMENT = re.compile(r"^(\s*[A-Za-z_][\w.\[\]\"']*\s*=)")


@dataclass(frozen=True)
class Arm:
    technique: Technique
    value: str

    @property
    def key(self) -> str:
        return f"{self.technique.name}={self.value}" if self.value else self.technique.name

    @property
    def hypothesis(self) -> str:
        return self.technique.hypothesis.replace("{value}", self.value)

    def edits(self) -> tuple[Edit, ...]:
        return tuple(Edit(e.path, e.search.replace("{value}", self.value), e.replace.replace("{value}", self.value))
                     for e in self.technique.edits)


def rebase_edit(code: dict[str, bytes], edit: Edit) -> Edit | None:
    """The edit as it applies to `code`: itself when its search text occurs once; for a one-line
    assignment (`LR = 3e-3`) whose value an earlier trial changed, the same assignment's current
    line; None when it cannot apply or would change nothing."""
    text = code.get(edit.path, b"").decode()
    if text.count(edit.search) == 1:
        return edit if edit.search != edit.replace else None
    m = ASSIGNMENT.match(edit.search)
    if "\n" in edit.search.strip("\n") or not m:
        return None
    lhs = m.group(1)
    lines = [line for line in text.splitlines() if line.startswith(lhs) or line.lstrip() == lhs.lstrip()]
    if len(lines) != 1 or text.count(lines[0]) != 1 or lines[0] == edit.replace:
        return None
    return Edit(edit.path, lines[0], edit.replace)


def resolve(code: dict[str, bytes], edits: tuple[Edit, ...]) -> tuple[Edit, ...] | None:
    out = []
    for edit in edits:
        e = rebase_edit(code, edit)
        if e is None:
            return None
        out.append(e)
    return tuple(out)


class LibraryProposer:
    kind = "library"
    model = provider = None  # offline: no model is called

    def __init__(self, techniques: tuple[Technique, ...] | None = None):
        self.techniques = techniques  # None: the environment's own library

    def propose(self, ctx: Context) -> Proposal | None:
        view = ctx.view
        better = gain_sign(view.direction)  # improvement = better * delta
        parent_id = view.best.trial_id if view.best else None
        code = ctx.code_of(parent_id)
        library = ctx.spec.techniques if self.techniques is None else self.techniques
        arms = [Arm(t, v) for t in library if t.specialist == ctx.specialist.name for v in t.values]
        by_key = {a.key: a for a in arms}
        tried_here = {r.technique for r in view.history + view.in_flight if r.parent_id == parent_id}
        failed = {r.technique for r in view.history if r.verdict not in (None, "valid")}
        effects = _relevant_effects(view, better)

        def fresh(key: str) -> bool:
            return key not in tried_here and key not in failed

        def make(arm_keys: list[str], why: str, estimate: float | None) -> Proposal | None:
            chosen = [by_key[k] for k in arm_keys]
            edits = resolve(code, tuple(e for a in chosen for e in a.edits()))
            if edits is None:
                return None
            return Proposal(parent_id=parent_id, hypothesis="; ".join(a.hypothesis for a in chosen), edits=edits,
                            expected_delta=None if estimate is None else round(better * estimate, 9),
                            notes=why, technique="+".join(arm_keys))

        # 1. my last failure, turned into the next edit
        last = view.mine[-1] if view.mine else None
        if last is not None and last.technique and last.status in (*FOLLOW_UP_TAG, "disqualified"):
            for proposal in self._follow_ups(last, arms, by_key, fresh, make, code):
                return proposal
        # 2. my kept ideas that the best does not carry
        p = self._carry_kept(view, by_key, fresh, make, effects)
        if p:
            return p
        # 3. the best estimated arm
        p, stale = self._best_estimated(ctx, arms, by_key, fresh, make, effects, better)
        if p:
            return p
        # 4. nobody has anything new left: what did not help on an ancestor, re-tested on the best
        return self._retest_stale(ctx, library, stale, code, fresh, make, effects)

    def _carry_kept(self, view, by_key, fresh, make, effects) -> Proposal | None:
        """My kept ideas that the best does not carry (it came from another branch), re-applied onto it."""
        carried = {r.technique for r in view.chain}
        for r in view.mine:
            if r.status == "keep" and r.technique and r.technique not in carried and fresh(r.technique):
                keys = r.technique.split("+")
                if all(k in by_key for k in keys):
                    p = make(keys, f"re-applies {r.trial_id} (kept, Δ={r.realized_delta}) onto the current best, "
                                   "which came from another branch", _mean(effects.get(r.technique)))
                    if p:
                        return p
        return None

    def _best_estimated(self, ctx, arms, by_key, fresh, make, effects, better) -> tuple[Proposal | None, list]:
        """The fresh arm of the best estimate (measured, else the library's prior, plus exploration
        noise); and the arms that did not help on an ancestor, for step 4."""
        scored, stale = [], []
        for arm in arms:
            if not fresh(arm.key):
                continue
            seen = effects.get(arm.key)
            if seen and _mean(seen) <= 0:
                stale.append((_mean(seen), arm.key, len(seen)))  # did not help on an ancestor: step 4
                continue
            prior = arm.technique.expected_delta
            estimate = _mean(seen) if seen else (better * prior if prior is not None else 0.0)
            scored.append((estimate + EXPLORE * ctx.rng.random(), estimate, arm.key, len(seen or ())))
        for _, estimate, key, n in sorted(scored, reverse=True):
            why = (f"measured {n} time(s) before, mean improvement {estimate:+.6f}" if n
                   else "not tried yet")
            known = n or by_key[key].technique.expected_delta is not None
            p = make([key], why, estimate if known else None)
            if p:
                return p, stale
        return None, stale

    def _retest_stale(self, ctx, library, stale, code, fresh, make, effects) -> Proposal | None:
        """Once no agent of the run has a new arm left: what did not help on an ancestor, re-tested on the best."""
        def new(arm: Arm) -> bool:
            seen = effects.get(arm.key)
            return fresh(arm.key) and (not seen or _mean(seen) > 0) and resolve(code, arm.edits()) is not None

        active = {r.agent for r in ctx.view.history + ctx.view.in_flight} - {ctx.specialist.name}  # agents of this run
        if any(new(Arm(t, v)) for t in library if t.specialist in active for v in t.values):
            return None  # another agent's new arm comes first; I am asked again after the next verdict
        for estimate, key, n in sorted(stale, reverse=True):
            p = make([key], f"re-tests on the current best: it did not help on an ancestor ({n} time(s), mean "
                            f"improvement {estimate:+.6f}), and other knobs have changed since", None)
            if p:
                return p
        return None

    def _follow_ups(self, last, arms, by_key, fresh, make, code):
        keys = last.technique.split("+")
        base = [k for k in keys if k in by_key]
        if last.status in FOLLOW_UP_TAG:
            tag = FOLLOW_UP_TAG[last.status]
            fixes = [a.key for a in arms if tag in a.technique.tags and a.key not in keys]
            why = f"{last.trial_id} was {last.status} ({last.feedback[:120]})"
            for fix in fixes:
                pair = base + [fix]
                if base and fresh("+".join(pair)):
                    p = make(pair, f"{why}: the same idea paired with a {tag} edit ({fix})", None)
                    if p:
                        yield p
            for fix in fixes:
                if fresh(fix):
                    p = make([fix], f"{why}: a {tag} edit first ({fix})", None)
                    if p:
                        yield p
            return
        # disqualified: back off toward the parent's value
        for key in base:
            arm = by_key[key]
            milder = _milder_values(arm, code)
            for value in milder:
                k = Arm(arm.technique, value).key
                if fresh(k):
                    p = make([k], f"{last.trial_id} missed the gate ({last.feedback[:120]}): backing "
                                  f"{arm.technique.name} off from {arm.value} to {value}", None)
                    if p:
                        yield p


def _technique_names(key: str) -> set[str]:
    return {part.split("=", 1)[0] for part in key.split("+") if part}


def _relevant_effects(view, better: float) -> dict[str, list[float]]:
    """Realized improvements per arm, counting only trials measured where the arm's technique had
    the value it has now: on a parent in the best's chain at or after the chain's last change of
    that technique. An arm measured from another starting value tells little about this one
    (B=0 helps from B=1 and hurts from B=-1)."""
    position = {r.trial_id: i for i, r in enumerate(view.chain)}
    last_change: dict[str, int] = {}
    for i, r in enumerate(view.chain):
        for name in _technique_names(r.technique):
            last_change[name] = i
    effects: dict[str, list[float]] = {}
    for r in view.history:
        if r.realized_delta is None or not r.technique or r.parent_id not in position:
            continue
        at = position[r.parent_id]
        if all(at >= last_change.get(name, 0) for name in _technique_names(r.technique)):
            effects.setdefault(r.technique, []).append(better * r.realized_delta)
    return effects


def _mean(values: list[float] | None) -> float | None:
    return sum(values) / len(values) if values else None


def _milder_values(arm: Arm, code: dict[str, bytes]) -> list[str]:
    """The technique's values strictly between the parent's current value and the failed one,
    nearest to the failed one first."""
    edit = arm.technique.edits[0]
    current = rebase_edit(code, Edit(edit.path, edit.search.replace("{value}", arm.value), edit.replace))
    now = _number(current.search if current else edit.search)
    failed = _number(arm.value)
    if now is None or failed is None:
        return []
    between = [v for v in arm.technique.values if (n := _number(v)) is not None and min(now, failed) < n < max(now, failed)]
    return sorted(between, key=lambda v: abs(_number(v) - failed))


def _number(text: str) -> float | None:
    m = re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", text.rsplit("=", 1)[-1])
    try:
        return float(m[-1]) if m else None
    except ValueError:
        return None
