"""Forged outcomes: one recipe per class of attack (tests/forgeries.py), each run through the real
command line, `autorecipe trial`, and a compact set through a real `autorecipe run` on Ray with a
model that proposes them, whose `replay --verify` must pass. Before the judges moved out of the
recipe's process and the trials got cgroups and a root of their own, every one of these came back
`valid` with a forged score (the figures are in each test's docstring). Now each is scored for
what the recipe really did, or disqualified with the evidence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import pytest

from actors.sandbox import isolation_available
from agents.changes import apply_edits
from environments.airbench_mini.prepare import WHEEL
from environments.data import data_root, pip_download
from tests import forgeries as F

pytestmark = [pytest.mark.hostile,
              pytest.mark.skipif(not isolation_available(), reason="containment needs root on Linux (namespaces)")]

CLI = str(Path(sys.executable).parent / "autorecipe")
# Honest work per seed takes ~0.4 s CPU here and a forged seed ~0.13 s (the interpreter and numpy
# starting). CPU seconds of the same work vary by a fifth between runs on a loaded machine, so a
# seed is honest above this fraction of the baseline's; the accuracies, deterministic per seed,
# must match to the last digit.
SLOWER = 0.6


def cli_trial(harness, env: str, edits, tmp_path: Path, data: Path | None = None, status: int = 0) -> tuple[dict, dict]:
    """`autorecipe trial ENV --recipe ... --json` in a process of its own; (executed, evaluated).
    `status`: the exit status expected (1 for a verdict other than `valid`)."""
    h = harness(env)
    code = apply_edits(h.spec.baseline_code(), edits)
    recipes = tmp_path / "recipe"
    recipes.mkdir(exist_ok=True)
    args = []
    for rel, body in code.items():
        (recipes / rel).write_bytes(body)
        args += ["--recipe", str(recipes / rel)]
    root = data or h.data.parent  # the session's prepared data, or a copy elsewhere
    done = subprocess.run([CLI, "trial", env, *args, "--json", "--scratch", str(tmp_path / "scratch")],
                          capture_output=True, env={**os.environ, "AUTORECIPE_DATA": str(root)}, timeout=600)
    assert done.returncode == status, done.stderr.decode()[-3000:]
    got = orjson.loads(done.stdout)
    return got["executed"], got["evaluated"]


def check(ev: dict, name: str) -> dict:
    return next(c for c in ev["checks"] if c["name"] == name)


def cpu_per_seed(ev: dict) -> float:
    return ev["metrics"]["cpu_s"]


@pytest.fixture(scope="module")
def airbench_honest(harness, tmp_path_factory):
    """The baseline's CPU seconds per seed and accuracy, through the same command line."""
    _, ev = cli_trial(harness, "airbench-mini", (), tmp_path_factory.mktemp("honest"))
    assert ev["verdict"] == "valid", ev["feedback"]
    return ev


def test_golf_a_recipe_that_patches_the_judge_gets_its_honest_score(harness, tmp_path):
    """Before: the recipe's module replaced json.dump in the eval driver's process, and eval.json
    said 0.0014 bits per byte (`valid`). Now the judge is another process, as another user, and
    only the judges' judge/eval_*.json (which no recipe process can write) are read."""
    executed, ev = cli_trial(harness, "golf-mini", F.GOLF_PATCH_JUDGE, tmp_path)
    assert ev["verdict"] == "valid" and ev["score"] > 5.0, ev["feedback"]  # four steps of training: ~7.6 bits
    assert "judge/eval_0.json" in executed["outputs"] and "out/eval.json" not in executed["outputs"]


def test_golf_a_model_never_sees_the_validation_shard(harness, tmp_path):
    """Before: the shard was staged into data/ for the eval phase, and a model that memorised it
    scored 0.936 bits per byte (`valid`, better than the trained baseline), passing both probes.
    Now only the judge reads it; the model server gets token windows in the judge's order."""
    executed, ev = cli_trial(harness, "golf-mini", F.GOLF_MEMORISE, tmp_path)
    assert ev["verdict"] == "valid" and ev["score"] > 5.0, ev["feedback"]
    assert check(ev, "causal")["passed"] and check(ev, "normalized")["passed"]


def test_golf_the_eval_phase_cannot_replace_the_packed_code(harness, tmp_path):
    """Before: the eval phase (recipe code: its load()) wrote a 1-byte out/code.xz over the one the
    pack phase made, and that was the one recorded: a recipe packing to 5,700 bytes, over the cap
    with its model, came back `valid` with code_bytes 1. Now each output is recorded from the
    phase that declares it, and a later phase cannot replace it."""
    from environments.golf_mini import packed_code

    h = harness("golf-mini")
    executed, ev = cli_trial(harness, "golf-mini", F.GOLF_CODE_XZ_REWRITE, tmp_path, status=1)
    packed = len(packed_code(apply_edits(h.spec.baseline_code(), F.GOLF_CODE_XZ_REWRITE)))
    assert ev["metrics"]["code_bytes"] == packed, ev["feedback"]
    assert ev["verdict"] == "size_blocked" and "over the 23,500-byte cap" in ev["feedback"], ev["feedback"]


def test_golf_a_two_token_context_is_still_probed_for_causality(harness, tmp_path):
    """Before: a server saying its context is 2 got windows of two tokens, none of them probed
    (the judge probed windows wider than 2), and its row 0, answered from the next token, came
    back `valid` at 1.79 bits per byte from the trained baseline's 3.62. Now a window of two is
    probed like any other, and a causal check over no probe at all fails."""
    executed, ev = cli_trial(harness, "golf-mini", F.GOLF_CONTEXT_TWO, tmp_path, status=1)
    causal = check(ev, "causal")
    assert ev["verdict"] == "disqualified" and not causal["passed"] and causal["measured"] > 1.0, ev["feedback"]


def test_golf_a_server_that_remembers_what_it_served_cannot_pass_the_probe(harness, tmp_path):
    """Before: the server answered every row from the next token and, for a window sharing a prefix
    with one it had served, replayed the earlier rows over the prefix, so a probe's copy matched
    its original: `valid` at 0.90-0.95 bits per byte from a 4-step model, causal at 0.00. Now a
    probe and its original are served by two cold processes (two eval repeats), which cannot
    share what they saw."""
    executed, ev = cli_trial(harness, "golf-mini", F.GOLF_STATEFUL_PEEK, tmp_path, status=1)
    causal = check(ev, "causal")
    assert ev["verdict"] == "disqualified" and not causal["passed"] and causal["measured"] > 1.0, ev["feedback"]
    assert {"judge/probes_0.npz", "judge/probes_1.npz"} <= set(executed["outputs"])


def test_chat_a_model_never_sees_which_candidate_is_gold(harness, tmp_path):
    """Before: the task file, gold answers included, was staged into data/ while recipe code ran,
    and a model that looked them up scored CORE-mini 1.000 (`valid`). Now the judge alone reads
    the items and sends candidates without saying which is gold."""
    executed, ev = cli_trial(harness, "chat-mini", F.CHAT_ANSWERS, tmp_path)
    assert ev["verdict"] == "valid" and ev["score"] < 0.3, ev["feedback"]  # one token per parameter: ~0
    assert "judge/core_0.json" in executed["outputs"]


def test_chat_a_server_that_remembers_what_it_served_cannot_pass_the_probe(harness, tmp_path):
    """Before: the judge mixed each probe's copy into its item's own request, and a server that
    answered every position from the next token, replaying a row's answers over any prefix it
    had answered before, came back `valid` with its causal check at 0.00: a model that looks
    ahead everywhere, unseen. Now the copy is sent by the other eval process than its item."""
    executed, ev = cli_trial(harness, "chat-mini", F.CHAT_STATEFUL_PEEK, tmp_path, status=1)
    causal = check(ev, "causal")
    assert ev["verdict"] == "disqualified" and not causal["passed"] and causal["measured"] > 1.0, ev["feedback"]
    assert {"judge/core_0.json", "judge/core_1.json"} <= set(executed["outputs"])


def test_airbench_work_in_a_libc_fork_with_sigchld_ignored_is_charged(harness, tmp_path, airbench_honest):
    """Before: training in a child forked through libc (no audit event) with SIGCHLD ignored (so
    wait4 never counted it), after dup2 over the audit hook's pipe, was `valid` at 0.145-0.234 s
    per seed against the baseline's ~0.45 (and the child trained twice). Now each seed's cgroup counts every process; the audit hook,
    blinded, reports nothing, and nothing depends on it."""
    executed, ev = cli_trial(harness, "airbench-mini", F.AIRBENCH_LIBC_FORK, tmp_path)
    assert ev["verdict"] == "valid", ev["feedback"]
    # the child trains twice: charged, that is about twice the baseline's time
    assert cpu_per_seed(ev) > 1.2 * cpu_per_seed(airbench_honest), (ev["feedback"], airbench_honest["feedback"])
    assert ev["metrics"]["accuracy"] == airbench_honest["metrics"]["accuracy"]
    assert check(ev, "no_spawn")["passed"], "the hook saw the fork: the attack did not blind it"
    assert all(p["cpu_clock"].startswith("cgroup") for p in executed["phases"])
    assert "every process of each phase counted" in check(ev, "cpu_clock")["evidence"]


def test_airbench_nothing_carries_from_smoke_to_the_seeds(harness, tmp_path, airbench_honest):
    """Before: the unscored smoke run trained and cached its predictions in tmp/ and out/, and
    every timed seed loaded them: `valid` at 0.131 s per seed. Now every phase and seed starts
    with an empty tmp/ and an out/ holding only what the phase before declared it carries."""
    executed, ev = cli_trial(harness, "airbench-mini", F.AIRBENCH_CACHE, tmp_path)
    assert ev["verdict"] == "valid", ev["feedback"]
    # each seed trained from its own seed: the spread of accuracies is the baseline's, not zero
    assert ev["metrics"]["acc_std"] == airbench_honest["metrics"]["acc_std"] > 0
    assert cpu_per_seed(ev) > SLOWER * cpu_per_seed(airbench_honest), (ev["feedback"], airbench_honest["feedback"])


@pytest.fixture(scope="module")
def exposed_cache(harness):
    """A data root outside /tmp and /root that anyone may read, as a shared machine's often is:
    the prepared airbench-mini data and the scikit-learn wheel its labels come from."""
    h = harness("airbench-mini")
    Path("/srv").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(dir="/srv", prefix="autorecipe-forgery-"))
    (root / "downloads").mkdir(mode=0o755)
    os.chmod(root, 0o755)
    wheel = pip_download(WHEEL, data_root() / "downloads", log=lambda m: None)
    shutil.copy2(wheel, root / "downloads" / wheel.name)
    os.chmod(root / "downloads" / wheel.name, 0o644)
    shutil.copytree(h.data, root / "airbench-mini", symlinks=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_airbench_labels_in_a_world_readable_cache_are_out_of_view(harness, tmp_path, airbench_honest, exposed_cache):
    """Before: the recipe read the test labels out of the wheel in a world-readable download
    cache and trained nothing: `valid`, accuracy 1.000 at 0.154 s per seed. Now a trial's root
    holds the interpreter, its libraries and its work dir, and nothing else."""
    executed, ev = cli_trial(harness, "airbench-mini", F.airbench_machine_data(str(exposed_cache.parent)), tmp_path,
                             data=exposed_cache)
    assert ev["verdict"] == "valid", ev["feedback"]
    assert ev["metrics"]["accuracy"] == airbench_honest["metrics"]["accuracy"] < 1.0
    assert cpu_per_seed(ev) > SLOWER * cpu_per_seed(airbench_honest)
