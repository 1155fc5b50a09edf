"""What every environment promises, checked on each at the micro tier: a valid baseline; every
fault recipe gets exactly its status with its evidence; every known-good edit beats the
baseline; the evaluator is a pure function of the recorded outputs."""

import msgspec
import pytest

from autorecipe.local_trial import evaluator_of
from environments import registry
from events import BlobStore
from tests.envs import evidence, table

SLOW = {"golf-mini", "chat-mini"}  # torch trials take seconds each
# The most budget the phase an overrun fault overruns gets. The fault runs until the watchdog stops
# it, so this finds the same overrun as the micro tier's own budget (up to 48 s, all of it burnt).
OVERRUN_BUDGET_S = 5.0


def cases(module: str, attr: str) -> list:
    return [pytest.param(name, key, id=f"{name}-{key}", marks=[pytest.mark.slow] if name in SLOW else [])
            for name in registry.names() for key in sorted(table(name, module, attr))]


def envs():
    return [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in registry.names()]


@pytest.mark.parametrize("name", envs())
def test_the_baseline_is_valid_within_its_budgets(harness, name):
    executed, ev = harness(name).baseline
    assert ev.verdict == "valid" and ev.score is not None, ev.feedback
    assert not any(p.timed_out for p in executed.phases)
    assert all(c.passed for c in ev.checks), [c for c in ev.checks if not c.passed]


@pytest.mark.parametrize("name,fault", cases("faults", "FAULTS"))
def test_each_fault_gets_exactly_its_status_and_evidence(harness, name, fault):
    env = harness(name)
    expected, edits, needle = table(name, "faults", "FAULTS")[fault]
    phase = expected.removesuffix("_budget_overrun")
    if phase != expected:  # it runs until the watchdog stops it: a short budget stops it sooner
        seconds = min(env.spec.tier("micro").budgets[phase].seconds, OVERRUN_BUDGET_S)
        _, ev = env.trial_within(env.edited(edits), phase, seconds, trial_id=fault)
    else:
        _, ev = env.trial(env.edited(edits), trial_id=fault)
    assert ev.verdict == expected, ev.feedback
    assert needle.lower() in evidence(ev), ev.feedback
    assert (ev.score is None) == (expected != "valid")


@pytest.mark.parametrize("name,edit", cases("techniques", "KNOWN_GOOD"))
def test_known_good_edits_beat_the_baseline(harness, name, edit):
    env = harness(name)
    code = env.edited(table(name, "techniques", "KNOWN_GOOD")[edit])
    if env.spec.timed_score:  # a time is a noisy sample: compare medians of interleaved trials
        pairs = [(env.trial(env.spec.baseline_code(), trial_id=f"b{i}")[1], env.trial(code, trial_id=f"e{i}")[1])
                 for i in range(5)]
        base, ev = (sorted((p[k] for p in pairs), key=lambda e: e.score)[len(pairs) // 2] for k in (0, 1))
    else:  # training is step-capped and seeded: one trial each is exact
        base, ev = env.baseline[1], env.trial(code, trial_id=edit)[1]
    assert ev.verdict == "valid", ev.feedback
    margin = env.spec.noise_margin
    better = ev.score < base.score - margin if env.spec.direction == "minimize" else ev.score > base.score + margin
    assert better, (ev.score, base.score)


@pytest.mark.parametrize("name", envs())
def test_the_evaluator_is_pure(harness, name):
    env = harness(name)
    executed, first = env.baseline
    again = evaluator_of(env.spec)(executed, BlobStore(env.blobs.root), env.data, env.spec.tier("micro"))
    assert msgspec.msgpack.encode(again) == msgspec.msgpack.encode(first)
