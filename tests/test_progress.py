"""trial.progress: each environment's progress lines are read, at a bounded rate, from a real
sandboxed trial's output; nothing that judges a trial reads them."""

import math

import pytest

from actors.config import RunConfig
from actors.local_loop import run_local
from actors.progress import ProgressReporter
from agents.library import LibraryProposer
from environments import registry
from environments.progress import parse_line, patterns_for
from events import RunDir, TrialProgress
from events.replay import replay

LINES = {  # a line each harness prints, in the format of the file:line cited
    "golf-mini": "step 300 loss 4.812 (61% of budget)",  # environments/golf_mini/recipe/train_gpt_mini.py:132
    "chat-mini": "step 12/40 loss 3.250",  # environments/chat_mini/recipe/train.py:59
    "airbench-mini": "epoch 3/48 step 150/2400",  # environments/airbench_mini/recipe/airbench_mini.py
    # the stand-ins print the upstream formats (tests/fixtures/upstream/...)
    "parameter-golf": "step:200/20000 train_loss:2.1000 train_time:8000ms step_avg:40.00ms",
    "nanochat-d12": "step 00100/21400 (0.47%) | loss: 3.2100 | dt: 40.00ms",
    "airbench96": None,  # below: the fork's table row, built as it builds it
}


def airbench96_row(**values) -> str:
    """A row of the fork's per-epoch table (multi_agent_cifar/airbench96.py:472-496): each value
    right-justified to its column's name, floats as {:0.4f}, a missing one blank."""
    cols = ["run   ", "epoch", "train_loss", "train_acc", "val_acc", "tta_val_acc", "total_time_seconds"]
    cells = [(f"{v:0.4f}" if isinstance(v, float) else "" if v is None else str(v)).rjust(len(c))
             for c, v in ((c, values.get(c.strip())) for c in cols)]
    return "".join(f"|  {cell}  " for cell in cells) + "|"


LINES["airbench96"] = airbench96_row(epoch=3, train_loss=0.61, train_acc=0.91, val_acc=0.95, total_time_seconds=8.5)


def test_every_environment_that_runs_a_process_declares_a_progress_format_that_reads_its_lines():
    want = {"golf-mini": (300, None, {"train_loss": 4.812}), "chat-mini": (12, 40, {"train_loss": 3.25}),
            "airbench-mini": (150, 2400, {}), "parameter-golf": (200, 20000, {"train_loss": 2.1}),
            "nanochat-d12": (100, 21400, {"train_loss": 3.21}), "airbench96": (3, None, {"train_loss": 0.61})}
    for name, line in LINES.items():
        patterns = patterns_for(registry.get(name)) if name in registry.names() else _upstream(name)
        got = parse_line(patterns, line)
        assert got is not None, name
        assert (got["step"], got["total"], got["metrics"]) == want[name], name
    golf = _upstream("parameter-golf")
    assert parse_line(golf, "step:400/20000 val_loss:2.0700 val_bpb:1.2244 train_time:16000ms")["metrics"] == {
        "val_loss": 2.07, "val_bpb": 1.2244}
    # the April 2026 records' lines (2026-04-27_SmearGateBOSFix.../train_seed42.log), one with the
    # unix time 2026-04-13_VarLenAttn_PhasingTTT2000/logs/train0.txt puts in front
    got = parse_line(golf, "4500/20000 train_loss: 2.2778 train_time: 9.1m tok/s: 6516065")
    assert (got["step"], got["total"], got["metrics"]) == (4500, 20000, {"train_loss": 2.2778})
    got = parse_line(golf, "1776142990.123 4900/20000 val_loss: 2.3541 val_bpb: 1.0757")
    assert (got["step"], got["metrics"]) == (4900, {"val_loss": 2.3541, "val_bpb": 1.0757})
    # the first row of a run carries its number: the step is the epoch all the same
    bench = _upstream("airbench96")
    got = parse_line(bench, airbench96_row(run=7, epoch=0, train_loss=0.0012, train_acc=0.91, val_acc=0.94))
    assert (got["step"], got["metrics"]) == (0, {"train_loss": 0.0012})
    assert parse_line(bench, airbench96_row(run="run", epoch="epoch", train_loss="train_loss")) is None  # the head


def test_a_recipe_printing_nonsense_gets_no_points_and_no_error():
    patterns = patterns_for(registry.get("golf-mini"))
    for line in ("step x loss y", "step 5 loss nan", "step 5 loss inf", "", "step " + "9" * 5000 + " loss 1",
                 "\x00\xff step 1 loss 1"):
        got = parse_line(patterns, line)
        assert got is None or all(math.isfinite(v) for v in got["metrics"].values())
    assert parse_line(patterns, "step 5 loss 1e999") == {"step": 5, "total": None, "metrics": {}}  # diverged: no loss


def _upstream(name):
    from environments.upstream.progress import PATTERNS

    return PATTERNS[name]


def test_the_reporter_sends_at_a_bounded_rate_and_the_last_point_of_each_phase():
    now = [0.0]
    sent = []
    rep = ProgressReporter(patterns_for(registry.get("chat-mini")), sent.append, "t1", 1, interval_s=2.0, limit=40,
                           clock=lambda: now[0])
    on_line = rep.phase("train", 60.0)
    for i in range(10_000):  # a recipe printing 100 lines a second for 100 s
        now[0] = i / 100
        on_line(f"step {i}/10000 loss {3 - i / 10_000:.4f}".encode())
        rep.flush()
    rep.phase("eval", 10.0)  # the train phase's last point goes out as the next begins
    assert 40 == len(sent)  # the cap: 50 would be due at 1 per 2 s
    sent.clear()
    rep2 = ProgressReporter(patterns_for(registry.get("chat-mini")), sent.append, "t1", 1, clock=lambda: now[0])
    cb = rep2.phase("train", 60.0)
    now[0] = 0.0
    for i in range(500):
        now[0] = i / 100
        cb(f"step {i}/500 loss 1.0".encode())
        rep2.flush()
    rep2.flush(force=True)
    assert 3 <= len(sent) <= 5 and sent[-1].step == 499 and sent[-1].phase == "train"
    assert all(isinstance(p, TrialProgress) and p.budget_s == 60.0 for p in sent)

    def broken(point):
        raise ConnectionError("log gone")

    rep3 = ProgressReporter(patterns_for(registry.get("chat-mini")), broken, "t1", 1)
    rep3.phase("train", 1.0)(b"step 1/2 loss 1.0")
    rep3.flush(force=True)  # dropped, not raised: the trial goes on


@pytest.mark.slow
def test_the_loop_records_progress_on_its_own_streams_and_replay_ignores_it(tmp_path, data_root):
    from autorecipe.local_trial import prepared_data

    spec = registry.get("golf-mini")
    data = prepared_data(spec, root=data_root, log=lambda m: None)
    run = tmp_path / "run"
    run_local(run, spec, RunConfig(env="golf-mini", fsync=False, trials=1), {"opt": LibraryProposer()}, data=data,
              scratch=tmp_path / "work")
    records = list(RunDir(run).reader().iter_records())
    progress = [r for r in records if r.type == "trial.progress"]
    assert progress and all(r.stream == f"progress/{r.event.trial_id}" for r in progress)
    train = [r.event for r in progress if r.event.phase == "train"]  # golf-mini prints a line every 100 steps
    assert train and all(p.step % 100 == 0 and 0 < p.metrics["train_loss"] < 20 for p in train)
    assert all(p.budget_s == spec.tier("micro").budgets["train"].seconds and p.elapsed_s >= 0 for p in train)
    walls = {(r.event.trial_id, ph.name): ph.wall_s for r in records if r.type == "trial.executed"
             for ph in r.event.phases}
    assert all(p.elapsed_s <= walls[(p.trial_id, "train")] + 0.5 for p in train)
    assert {r.event.trial_id for r in progress} <= {r.event.trial_id for r in records if r.type == "trial.executed"}
    without = [r for r in records if r.type != "trial.progress"]
    import msgspec

    from events.projections import RunState

    def table(recs):  # what anything decides from: the trials table, the best, the agents' records
        st = RunState().apply_all(recs)
        return msgspec.msgpack.encode([list(st.trials.rows.values()), st.trials.best_id,
                                       list(st.agents.by_agent.values())])

    assert table(records) == table(without)
    assert replay(run).trials.best_id == RunState().apply_all(without).trials.best_id
