import math

from events import RunState
from events.export import autoresearch_tsv, family, reference_tsv
from tests.conftest import proposed
from tests.test_projections import Log


def lines(text):
    return [line.split("\t") for line in text.rstrip("\n").split("\n")]


def test_autoresearch_five_columns_in_verdict_order():
    log = Log()
    log.trial("t0", 2.0)
    log.trial("t1", None, "t0", verdict="crash")
    log.add(proposed("t2", "t0"))
    rows = lines(autoresearch_tsv(log.state))
    assert rows[0] == ["commit", "val_bpb", "memory_gb", "status", "description"]
    assert rows[1][1:] == ["2.000000", "0.0", "keep", "idea t0"]
    assert rows[2][1:] == ["0.000000", "0.0", "crash", "idea t1"]
    assert len(rows) == 3  # t2 has no verdict yet


def test_autoresearch_commit_is_the_recipes_short_hash_and_memory_its_peak_rss():
    import msgspec

    from events import BlobRef
    from tests.conftest import claimed, evaluated, executed

    log = Log()
    code = {"train.py": BlobRef(sha256="ab" * 32, size=3)}
    for tid, rss in (("t0", 3 * 2**30), ("t1", None)):
        log.add(msgspec.structs.replace(proposed(tid), code=code if tid == "t0" else {}))
        log.add(claimed(tid))
        done = executed(tid)
        phases = [msgspec.structs.replace(p, peak_rss_bytes=rss and rss // (i + 1)) for i, p in enumerate(done.phases)]
        log.add(msgspec.structs.replace(done, phases=phases))
        log.add(evaluated(tid, 2.0))
    rows = lines(autoresearch_tsv(log.state))
    assert rows[1][2] == "3.0" and rows[2][2] == "0.0"  # GiB, the largest phase; none measured: 0.0
    assert len(rows[1][0]) == 7 and all(c in "0123456789abcdef" for c in rows[1][0])
    assert rows[1][0] != rows[2][0]  # another recipe, another commit


def test_reference_columns_follow_the_environment_family():
    log = Log()
    row = log.trial("t0", math.nan)
    row.hypothesis = "tabs\tand\nnewlines never\tbreak a row"
    rows = lines(reference_tsv(log.state))
    header = rows[0]
    assert header[:10] == ["exp_id", "timestamp", "specialist", "parent_exp", "baseline_exp", "domain",
                           "hypothesis", "expected_delta", "status", "val_bpb"]
    assert len(header) == 18 and all(len(r) == 18 for r in rows)
    cells = dict(zip(header, rows[1]))
    assert cells["hypothesis"] == "tabs and newlines never break a row"
    assert cells["val_bpb"] == "nan" and cells["status"] == "discard" and cells["expected_delta"] == "-0.0100"


def test_families():
    assert [family(e) for e in ("golf-mini", "parameter-golf", "airbench-mini", "chat-mini", "nanochat-d12", "mine", None)] == \
        ["golf", "golf", "airbench", "chat", "chat", "generic", "generic"]
    assert reference_tsv(RunState()).startswith("exp_id\t")
