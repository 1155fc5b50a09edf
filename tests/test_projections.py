import math

from events import (
    BudgetCharged,
    LlmExchanged,
    Record,
    RunState,
    TrialCancelled,
    TrialLost,
    TrialRetried,
    Usage,
)
from events.projections import chain, children, preorder
from events.schema import BlobRef
from tests.conftest import claimed, evaluated, executed, proposed, run_started


class Log:
    """Feeds events straight into a RunState with consecutive offsets."""

    def __init__(self, direction="minimize", margin=0.0):
        self.state = RunState()
        self.offset = 0
        self.add(run_started(direction, margin), "run")

    def add(self, event, stream="x"):
        self.state.apply(Record(offset=self.offset, stream=stream, stream_version=0, event_id=f"e{self.offset}",
                                producer="p", event=event))
        self.offset += 1

    def trial(self, tid, score, parent=None, verdict="valid", agent="opt"):
        for ev in (proposed(tid, parent, agent), claimed(tid), executed(tid), evaluated(tid, score, verdict)):
            self.add(ev)
        return self.state.trials.rows[tid]


def test_keep_is_decided_in_log_order_against_the_best_at_that_moment():
    log = Log("minimize")
    assert log.trial("t0", 2.0).status == "keep"
    assert log.trial("t1", 1.9, "t0").status == "keep"
    late = log.trial("t2", 1.95, "t0")  # better than its parent, not than the best
    assert (late.status, late.baseline_id) == ("discard", "t1")
    assert math.isclose(late.realized_delta, -0.05) and math.isclose(late.delta_vs_best, 0.05)
    assert log.state.trials.best_id == "t1"
    assert [p.trial_id for p in log.state.trials.best_history] == ["t0", "t1"]


def test_maximize_and_noise_margin():
    log = Log("maximize", margin=0.1)
    log.trial("t0", 1.0)
    assert log.trial("t1", 1.05, "t0").status == "discard"  # within the noise margin
    assert log.trial("t2", 1.2, "t0").status == "keep"


def test_nan_and_missing_scores_are_never_kept():
    log = Log()
    log.trial("t0", 2.0)
    assert log.trial("t1", math.nan, "t0").status == "discard"
    assert log.trial("t2", None, "t0").status == "discard"
    assert log.state.trials.best_id == "t0"


def test_failures_carry_their_label_and_do_not_move_the_best():
    log = Log()
    log.trial("t0", 2.0)
    assert log.trial("t1", None, "t0", verdict="size_blocked").status == "size_blocked"
    assert log.state.agents.by_agent["opt"].statuses == {"keep": 1, "size_blocked": 1}


def test_harness_abort_is_retried_and_taken_out_of_the_agents_record():
    log = Log()
    log.trial("t0", 2.0)
    log.trial("t1", None, "t0", verdict="harness_abort")
    assert "t1" not in log.state.queue
    log.add(TrialRetried(trial_id="t1", attempt=2, reason="harness_abort"))
    row = log.state.trials.rows["t1"]
    assert (row.phase, row.attempt, row.status) == ("runnable", 2, None)
    assert log.state.queue.oldest() == ["t1"]
    assert "harness_abort" not in log.state.agents.by_agent["opt"].statuses
    log.add(claimed("t1", 2))
    log.add(executed("t1", 2))
    log.add(evaluated("t1", 1.5, attempt=2))
    assert log.state.trials.rows["t1"].status == "keep"


def test_lost_attempts_are_retried_and_stale_events_ignored():
    log = Log()
    log.add(proposed("t0"))
    log.add(claimed("t0"))
    log.add(TrialLost(trial_id="t0", attempt=1, reason="executor died"))
    log.add(evaluated("t0", 1.0))  # a late verdict for the lost attempt
    assert log.state.trials.rows["t0"].phase == "lost" and log.state.trials.ignored == 1
    log.add(TrialRetried(trial_id="t0", attempt=2, reason="lost"))
    log.add(claimed("t0", 1))  # a claim for the old attempt
    assert log.state.trials.rows["t0"].phase == "runnable"
    log.add(claimed("t0", 2))
    assert log.state.trials.rows["t0"].phase == "claimed"


def test_only_one_claim_and_one_verdict_per_attempt():
    log = Log()
    log.add(proposed("t0"))
    log.add(claimed("t0"))
    log.add(claimed("t0"))
    log.add(executed("t0"))
    log.add(evaluated("t0", 1.0))
    log.add(evaluated("t0", 0.1))
    assert log.state.trials.rows["t0"].score == 1.0 and log.state.trials.ignored == 2


def test_queue_is_oldest_runnable_first():
    log = Log()
    for t in ("a", "b", "c"):
        log.add(proposed(t))
    log.add(claimed("b"))
    log.add(TrialCancelled(trial_id="c", reason="stop"))
    log.add(proposed("d"))
    assert log.state.queue.oldest() == ["a", "d"]
    assert log.state.trials.rows["c"].phase == "cancelled"


def test_invalid_edit_can_be_judged_without_running():
    log = Log()
    log.add(proposed("t0"))
    log.add(evaluated("t0", None, verdict="invalid_edit"))
    assert log.state.trials.rows["t0"].status == "invalid_edit" and len(log.state.queue) == 0


def test_ledger_sums_compute_llm_and_other_spend():
    log = Log()
    log.trial("t0", 1.0, agent="opt")
    blob = BlobRef(sha256="0" * 64, size=1)
    log.add(LlmExchanged(session_id="s", agent="opt", call_seq=0, provider="p", model="m", request=blob,
                         request_hash="h", response=blob, usage=Usage(input_tokens=100, output_tokens=10,
                                                                      cached_input_tokens=50), cost_usd=0.5))
    log.add(BudgetCharged(resource="usd", amount=2.0, reason="nodes"))
    log.add(BudgetCharged(resource="gpu_s", amount=30.0, agent="arch"))
    total, opt = log.state.ledger.total, log.state.ledger.by_agent["opt"]
    assert (total.cpu_s, total.gpu_s, total.usd, total.tokens, total.llm_calls) == (3.0, 30.0, 2.5, 110, 1)
    assert (opt.cpu_s, opt.usd, opt.cached_input_tokens) == (3.0, 0.5, 50)
    assert log.state.ledger.by_agent["arch"].gpu_s == 30.0


def test_lineage_chain_children_and_preorder():
    log = Log()
    log.trial("t0", 2.0)
    log.trial("t1", 1.9, "t0")
    log.trial("t2", 2.1, "t0")
    log.trial("t3", 1.8, "t1")
    rows = log.state.trials.rows
    assert [r.trial_id for r in chain(rows, "t3")] == ["t0", "t1", "t3"]
    assert [r.depth for r in chain(rows, "t3")] == [0, 1, 2]
    assert children(rows) == {None: ["t0"], "t0": ["t1", "t2"], "t1": ["t3"]}
    assert [(r.trial_id, p) for r, p in preorder(rows)] == [("t0", "000"), ("t1", "000/001"), ("t3", "000/001/003"),
                                                           ("t2", "000/002")]


def test_a_duplicate_trial_id_is_ignored():
    log = Log()
    log.add(proposed("t0", agent="a"))
    log.add(proposed("t0", agent="b"))
    assert log.state.trials.rows["t0"].agent == "a" and log.state.agents.by_agent.get("b") is None
