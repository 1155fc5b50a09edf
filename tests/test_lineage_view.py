"""What a specialist sees: the reference system's lineage layout, its caps, the ablation."""

from agents.lineage_view import KNOWLEDGE_BYTES, LEADERBOARD_BYTES, build_view, render
from events import RunState
from tests.conftest import lifecycle, new, run_started


def _state(n_fail: int = 0, many: int = 0) -> RunState:
    events = [new(run_started(), "run", -1)]
    events += lifecycle("t0", 3.0, agent="baseline")
    events += lifecycle("t1", 2.5, "t0", agent="opt")
    events += lifecycle("t2", None, "t1", verdict="size_blocked", agent="quant")
    events += lifecycle("t3", 2.6, "t1", agent="arch")
    events += lifecycle("t4", None, "t1", verdict="harness_abort", agent="arch")
    for i in range(many):
        events += lifecycle(f"k{i:03d}", 2.4 - i * 1e-4, f"k{i - 1:03d}" if i else "t1", agent="opt")
    st = RunState()
    from events import Record

    for offset, e in enumerate(events):
        st.apply(Record(offset=offset, stream=e.stream, stream_version=0, event_id=e.event_id, producer="t",
                        wall_time_ns=1, event=e.event))
    return st


def test_the_view_holds_the_best_its_chain_its_children_and_recent_activity():
    st = _state()
    v = build_view(st.trials.rows, st.trials.best_id, "opt", "val_bpb", "minimize")
    assert v.best.trial_id == "t1"
    assert [r.trial_id for r in v.chain] == ["t0", "t1"]
    assert {r.trial_id for r in v.best_children} == {"t2", "t3"}  # failures included, aborts hidden
    assert "t4" not in {r.trial_id for r in v.recent}
    assert [r.trial_id for r in v.mine] == ["t1"]
    text = render(v, "Optimizer.")
    assert "Current best: **t1**" in text and "← BEST" in text and "size_blocked" in text
    assert "t4" not in text


def test_without_lineage_only_the_best_is_shown():
    st = _state()
    v = build_view(st.trials.rows, st.trials.best_id, "opt", "val_bpb", "minimize", lineage=False)
    assert v.best.trial_id == "t1" and not v.history and not v.chain
    text = render(v)
    assert "t1" in text and "t2" not in text and "Leaderboard" not in text


def test_sections_are_cut_at_the_reference_caps():
    st = _state(many=200)
    v = build_view(st.trials.rows, st.trials.best_id, "opt", "val_bpb", "minimize")
    assert len(v.top_kept) == 20 and len(v.recent) == 10
    text = render(v)
    board = text[text.index("## Leaderboard"):text.index("## Knowledge")]
    knowledge = text[text.index("## Knowledge"):text.index("## Recent activity")]
    assert len(board.encode()) <= LEADERBOARD_BYTES + 2
    assert len(knowledge.encode()) <= KNOWLEDGE_BYTES + 2 and "cut at the byte cap" in knowledge


def test_saturation_nudge_after_five_trials_that_moved_nothing():
    events_state = _state()
    rows = events_state.trials.rows
    v = build_view(rows, events_state.trials.best_id, "arch", "val_bpb", "minimize")
    assert not v.saturated  # arch has one judged trial
    from agents.lineage_view import _saturated

    flat = [r for r in rows.values() if r.trial_id == "t2"] * 5
    assert _saturated(tuple(flat))
