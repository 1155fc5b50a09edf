"""A hostile recipe attacks the evaluator through what it writes: outputs no parser expects
(empty, a zip, an npy header that claims terabytes), numbers printed so that float() raises,
knobs that make the score infinite or below any real recipe's. Each must be the recipe's own
failure label: an evaluator that raises makes it a harness_abort (an infrastructure failure,
hidden from agents and open to a retry), and an infinite score would be the best for ever.

The evaluators are pure functions of the recorded outputs, so these record outputs directly."""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
import pytest

from actors.judge import judge
from environments import registry
from environments.spec import Budget, Tier
from evaluators import airbench, dryrun, nanochat_d12
from events import BlobStore, Phase, TrialExecuted


def executed(blobs: BlobStore, phases: list[str], files: dict[str, bytes]) -> TrialExecuted:
    return TrialExecuted(trial_id="t1", attempt=1, executor="test",
                         phases=[Phase(name=n, exit_code=0, wall_s=1.0, cpu_s=0.5, budget_s=100.0) for n in phases],
                         outputs={name: blobs.put(data) for name, data in files.items()})


def npy_header(shape: tuple[int, ...]) -> bytes:
    header = f"{{'descr': '<i8', 'fortran_order': False, 'shape': {shape}, }}".encode()
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def npz() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("arr_0.npy", b"")
    return buf.getvalue()


@pytest.fixture
def blobs(tmp_path):
    return BlobStore(tmp_path / "blobs", fsync=False)


@pytest.fixture
def digits(tmp_path):
    (tmp_path / "data" / "heldout").mkdir(parents=True)
    labels = np.arange(20) % 10
    np.save(tmp_path / "data" / "heldout" / "test_labels.npy", labels)
    return tmp_path / "data", labels


@pytest.mark.parametrize("pred", [b"", npz(), npy_header((10**12,)), npy_header((20,)) + b"\0" * 8],
                         ids=["empty", "a zip", "a header claiming 8 TB", "truncated"])
def test_airbench_predictions_no_parser_expects_are_the_recipes_crash(blobs, digits, pred):
    data, labels = digits
    spec = registry.get("airbench-mini")
    tier = spec.tier("micro")
    seeds = tier.repeats["train"]
    files = {"out/pred_0.npy": pred, **{f"out/pred_{s}.npy": _npy(labels) for s in range(1, seeds)}}
    ex = executed(blobs, ["smoke", *(f"train:{s}" for s in range(seeds))], files)
    got = judge(airbench.evaluate, ex, blobs, data, tier)
    assert got.verdict == "crash", got.feedback
    assert "seed 0: unreadable predictions" in got.feedback


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _knobs(a="3", b="-1", width="64", precision="16") -> bytes:
    return f"A = {a}\nB = {b}\nWIDTH = {width}\nPRECISION = {precision}\n".encode()


@pytest.mark.parametrize("knobs", [_knobs(width="0"), _knobs(width="-1e-300"), _knobs(a="1e999"),
                                   _knobs(precision="[16]"), _knobs(b="10**400"), b"A = " + b"-" * 100_000 + b"1\n"],
                         ids=["width 0", "negative width", "infinite A", "a list", "too big for a float", "deep"])
def test_dryrun_knobs_that_break_the_loss_are_the_recipes_crash(blobs, knobs):
    spec = registry.get("dryrun")
    ex = executed(blobs, ["train"], {"out/knobs.py": knobs})
    got = judge(dryrun.evaluate, ex, blobs, None, spec.tier(next(iter(spec.tiers))))
    assert got.verdict == "crash", (got.verdict, got.score, got.feedback)
    assert got.score is None


def test_a_valid_verdict_never_carries_a_score_that_is_not_finite(blobs):
    from evaluators.verdict import verdict

    ex = executed(blobs, ["train"], {})
    for bad in (math.inf, -math.inf, math.nan, None):
        got = verdict(ex, "x", "1", "valid", "fine", [], score=bad)
        assert got.verdict == "crash" and got.score is None
        assert [c.name for c in got.checks if not c.passed] == ["score_finite"]
    assert verdict(ex, "x", "1", "valid", "fine", [], score=1.5).verdict == "valid"


@pytest.mark.parametrize("train_log, eval_log", [
    ("Validation bpb: 1.2.3\n", "autorecipe-depth: blocks=12\nCORE metric: 0.25\n"),
    ("Validation bpb: .\n", "autorecipe-depth: blocks=12\nCORE metric: 0.25\n"),
    ("", "autorecipe-depth: blocks=12\nCORE metric: 0.2.5\n"),
], ids=["bpb 1.2.3", "bpb .", "core 0.2.5"])
def test_nanochat_metric_lines_float_cannot_read_never_make_the_evaluator_raise(blobs, train_log, eval_log):
    tier = Tier("full", {"smoke": Budget(100), "train": Budget(100), "eval": Budget(100)}, limits={"depth": 12.0})
    ex = executed(blobs, ["smoke", "train", "eval"],
                  {"logs/smoke": b"", "logs/train": train_log.encode(), "logs/eval": eval_log.encode()})
    got = judge(nanochat_d12.evaluate, ex, blobs, None, tier)
    assert got.verdict != "harness_abort", got.feedback
    if "CORE metric: 0.25" in eval_log:
        assert got.verdict == "valid" and got.score == 0.25 and "val_bpb" not in got.metrics
    else:
        assert got.verdict == "crash"


def test_chat_judge_reads_no_zip_bomb_the_recipe_left_as_its_checkpoint(tmp_path):
    """The judge runs outside the sandbox with no memory limit and reads the checkpoint the recipe
    wrote: a data.pkl that inflates to 2 GiB from a few MiB. Read under a 1 GiB address-space
    limit here, so reading it whole fails where it would otherwise take the host's memory."""
    import subprocess
    import sys
    from pathlib import Path

    bomb = tmp_path / "ckpt.pt"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("archive/data.pkl", "w", force_zip64=True) as f:
            chunk = b"\0" * 64 * 1024**2
            for _ in range(32):
                f.write(chunk)
    assert bomb.stat().st_size < 8 * 1024**2  # the bomb: small on disk
    judge_dir = Path(__file__).parent.parent / "environments" / "chat_mini" / "judge"
    probe = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
             f"sys.path.insert(0, {str(judge_dir)!r}); import chat_judge; "
             f"print(chat_judge.checkpoint_depth({str(bomb)!r}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "-1", done.stderr[-2000:]


@pytest.mark.hostile
def test_golf_a_server_that_inflates_every_distribution_within_the_probes_tolerance_gains_nothing(harness):
    """The normalization probe allows a logsumexp off by 1e-3 (float error). A server that adds
    0.00099 to every log-probability passes it, and was paid 0.00099 nats (0.0014 bits) in every
    scored byte: most of the noise margin, for nothing. Scored on the renormalized distributions,
    it gets the baseline's score; training is deterministic, so the two agree to float error."""
    from environments.spec import Edit

    g = harness("golf-mini")
    inflate = Edit("train_gpt_mini.py", "return F.log_softmax(self.forward(idx).float(), dim=-1)",
                   "return F.log_softmax(self.forward(idx).float(), dim=-1) + 0.00099")
    _, verdict = g.trial(g.edited([inflate]), trial_id="inflated")
    baseline = g.baseline[1]
    assert verdict.verdict == baseline.verdict == "valid", verdict.feedback
    normalized = next(c for c in verdict.checks if c.name == "normalized")
    assert normalized.passed and normalized.measured > 0.0009, normalized  # the attack was made
    assert abs(verdict.score - baseline.score) < 1e-5, (verdict.score, baseline.score)


def test_a_judge_gets_no_more_memory_than_the_phase_it_judges(tmp_path):
    """A judge runs outside the sandbox; a server can make its replies as large as the protocol
    allows. Under the phase's 1 GiB address space, a judge that would hold 2 GiB fails (its log
    kept, no result: the recipe's crash) instead of taking the host's memory."""
    import sys

    from actors.sandbox import Limits
    from actors.trial_runner import judged_run

    script = tmp_path / "judge.py"
    script.write_text("big = bytearray(2 << 30)\nopen('eval.json', 'w').write('{}')\n")
    work = tmp_path / "work"
    work.mkdir(mode=0o755)
    limits = Limits(kill_after_s=60, address_space=1 << 30, isolate=False)
    done, files, _ = judged_run(script, tmp_path / "side", [sys.executable, "-c", "pass"], work, {}, {}, limits,
                                None)
    assert done.exit_code == 0
    assert "eval.json" not in files and b"MemoryError" in files["judge.log"], files


def test_harvest_reads_only_the_files_an_environment_asks_for(tmp_path):
    """out/ is the recipe's to fill: a file no pattern names is not opened by the (root) runner,
    whatever it is or holds. Seen by its access time, which a read would move."""
    import os

    from actors.trial_runner import harvest

    spec = registry.get("dryrun")
    out, carried = tmp_path / "work" / "out", tmp_path / "carried"
    out.mkdir(parents=True)
    carried.mkdir()
    (out / "knobs.py").write_text("A = 1.0\n")
    junk = out / "junk.bin"
    junk.write_bytes(b"x" * 4096)
    os.utime(junk, ns=(1, 2_000_000_000_000_000_000))  # an access long before its change: any read moves it
    got = harvest(spec, spec.phases[0], tmp_path / "work", carried, BlobStore(tmp_path / "blobs"))
    assert list(got) == ["out/knobs.py"], got
    assert os.stat(junk).st_atime_ns == 1, "the runner read a file no output pattern names"
