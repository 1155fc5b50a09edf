"""What every environment promises, checked on each at the micro tier: a valid baseline; every
fault recipe gets exactly its status with its evidence; every known-good edit beats the
baseline; the evaluator is a pure function of the recorded outputs.

golf-mini and chat-mini, whose trials take seconds each, run these tests from files of their
own (test_env_contract_golf.py, test_env_contract_chat.py: each names its ENVS), so that
pytest-xdist's whole-file workers run the three side by side; this file checks the rest."""

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


OWN_FILES = ("golf-mini", "chat-mini")
ENVS = tuple(n for n in registry.names() if n not in OWN_FILES)
ROUNDS = 5  # of interleaved trials, for an environment whose score is a time


def envs(names) -> list:
    return [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in names]


def cases(names, module: str, attr: str) -> list:
    return [pytest.param(name, key, id=f"{name}-{key}", marks=[pytest.mark.slow] if name in SLOW else [])
            for name in names for key in sorted(table(name, module, attr))]


def pytest_generate_tests(metafunc):
    names = metafunc.module.ENVS
    if "fault" in metafunc.fixturenames:
        metafunc.parametrize("name,fault", cases(names, "faults", "FAULTS"))
    elif "edit" in metafunc.fixturenames:
        metafunc.parametrize("name,edit", cases(names, "techniques", "KNOWN_GOOD"))
    elif "name" in metafunc.fixturenames:
        metafunc.parametrize("name", envs(names))


_timed: dict[str, dict] = {}


def timed_medians(env, name: str) -> dict:
    """For an environment whose score is a time (a noisy sample): the median verdict of the
    baseline (key None) and of every known-good edit over ROUNDS rounds, each round one trial of
    each, interleaved so that a slow minute of the machine hits all of them alike. One set of
    baseline trials serves every edit."""
    if name not in _timed:
        edits = table(name, "techniques", "KNOWN_GOOD")
        runs: dict = {None: [], **{e: [] for e in edits}}
        for i in range(ROUNDS):
            runs[None].append(env.trial(env.spec.baseline_code(), trial_id=f"b{i}")[1])
            for e in sorted(edits):
                runs[e].append(env.trial(env.edited(edits[e]), trial_id=f"{e}-{i}")[1])
        _timed[name] = {k: sorted(v, key=lambda ev: (ev.score is None, ev.score or 0.0))[ROUNDS // 2]
                        for k, v in runs.items()}
    return _timed[name]


def test_the_baseline_is_valid_within_its_budgets(harness, name):
    executed, ev = harness(name).baseline
    assert ev.verdict == "valid" and ev.score is not None, ev.feedback
    assert not any(p.timed_out for p in executed.phases)
    assert all(c.passed for c in ev.checks), [c for c in ev.checks if not c.passed]


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


def test_known_good_edits_beat_the_baseline(harness, name, edit):
    env = harness(name)
    if env.spec.timed_score:
        medians = timed_medians(env, name)
        base, ev = medians[None], medians[edit]
    else:  # training is step-capped and seeded: one trial each is exact
        base, ev = env.baseline[1], env.trial(env.edited(table(name, "techniques", "KNOWN_GOOD")[edit]), trial_id=edit)[1]
    assert ev.verdict == "valid", ev.feedback
    margin = env.spec.noise_margin
    better = ev.score < base.score - margin if env.spec.direction == "minimize" else ev.score > base.score + margin
    assert better, (ev.score, base.score)


def test_the_evaluator_is_pure(harness, name):
    env = harness(name)
    executed, first = env.baseline
    again = evaluator_of(env.spec)(executed, BlobStore(env.blobs.root), env.data, env.spec.tier("micro"))
    assert msgspec.msgpack.encode(again) == msgspec.msgpack.encode(first)
