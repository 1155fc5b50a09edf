"""results.tsv: the trials table as a plain file a person can read, grep and diff.

Two layouts. `autoresearch`: karpathy/autoresearch's five columns (commit, score, memory_gb,
status, description), our full status label in the status column. There, `commit` is git's short
hash of the code trained; here it is the short hash of the trial's recipe (7 hex digits of the
sha256 over its files' paths and contents' hashes: the same recipe, the same commit), and
`memory_gb` is the trial's peak resident memory in GiB, the largest of its phases (autoresearch
reports peak GPU memory; a CPU trial's is its RSS). `reference`: the reference
system's trial columns for the environment's family (Parameter Golf, NanoChat, Airbench), in
its byte-significant order. Text fields never contain tabs or newlines, so no quoting is needed
(quoting is what broke 46 rows of the reference system's own file).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone

from events.projections.state import RunState
from events.projections.trials import TrialRow

REFERENCE_COLUMNS = {
    "golf": "exp_id timestamp specialist parent_exp baseline_exp domain hypothesis expected_delta "
            "status {score} delta_vs_best artifact_bytes train_s eval_s total_s job_name snapshot_path notes",
    "airbench": "exp_id timestamp specialist parent_exp baseline_exp domain hypothesis expected_delta "
                "status {score} accuracy acc_std n_seeds delta_vs_best total_s job_name snapshot_path notes",
    "chat": "exp_id timestamp specialist parent_exp baseline_exp domain hypothesis expected_delta "
            "status {score} val_bpb delta_vs_best train_s total_s job_name snapshot_path notes",
    "generic": "exp_id timestamp specialist parent_exp baseline_exp domain hypothesis expected_delta "
               "status {score} delta_vs_best train_s eval_s total_s job_name snapshot_path notes",
}


def family(environment: str | None) -> str:
    env = (environment or "").lower()
    if "golf" in env:
        return "golf"
    if "airbench" in env or "cifar" in env:
        return "airbench"
    if "chat" in env:
        return "chat"
    return "generic"


def text(value: str | None) -> str:
    return " ".join((value or "").split())


def number(value, signed: bool = False, digits: int = 6) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and not signed and abs(value) < 1e15 and digits == 0:
            return str(int(value))
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return str(value)


def _timestamp(ns: int | None) -> str:
    if not ns:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def evaluated_rows(state: RunState) -> list[TrialRow]:
    """Trials with a verdict, in the order the verdicts were recorded."""
    rows = [r for r in state.trials.rows.values() if r.status is not None]
    return sorted(rows, key=lambda r: r.evaluated_offset)


def code_hash(row: TrialRow) -> str:
    """The recipe's short hash: what git's short commit hash is to autoresearch."""
    listing = "".join(f"{path}\0{ref.sha256}\n" for path, ref in sorted(row.code.items()))
    return hashlib.sha256(listing.encode()).hexdigest()[:7]


def memory_gib(row: TrialRow) -> float:
    if row.peak_rss_bytes:
        return row.peak_rss_bytes / 2**30
    return row.metrics.get("memory_gb", 0.0)  # an environment that measures it itself


def autoresearch_tsv(state: RunState) -> str:
    metric = state.trials.keep_rule.metric
    lines = ["\t".join(("commit", metric, "memory_gb", "status", "description"))]
    for r in evaluated_rows(state):
        lines.append("\t".join((code_hash(r), number(r.score if r.score is not None else 0.0),
                                f"{memory_gib(r):.1f}", r.status, text(r.hypothesis))))
    return "\n".join(lines) + "\n"


def reference_tsv(state: RunState) -> str:
    metric = state.trials.keep_rule.metric
    columns = REFERENCE_COLUMNS[family(state.run.environment)].format(score=metric).split()
    lines = ["\t".join(columns)]
    run = state.run.run_id or "run"
    for i, r in enumerate(evaluated_rows(state)):
        lines.append("\t".join(_cell(c, r, metric, run, i) for c in columns))
    return "\n".join(lines) + "\n"


def _cell(column: str, r: TrialRow, metric: str, run: str, index: int) -> str:
    m = r.metrics
    if column == metric:
        return number(r.score)
    match column:
        case "exp_id":
            return r.trial_id
        case "timestamp":
            return _timestamp(r.evaluated_wall_ns)
        case "specialist":
            return r.agent
        case "domain":
            return r.surface
        case "parent_exp":
            return r.parent_id or ""
        case "baseline_exp":
            return r.baseline_id or ""
        case "hypothesis":
            return text(r.hypothesis)
        case "expected_delta":
            return number(r.expected_delta, signed=True, digits=4)
        case "status":
            return r.status or ""
        case "delta_vs_best":
            return number(r.delta_vs_best, signed=True)
        case "train_s" | "eval_s" | "total_s":
            return number(getattr(r, column), digits=1)
        case "job_name":
            return f"{run}-{r.agent[:4]}-{index:04d}"
        case "snapshot_path":
            return f"blobs/{next(iter(r.code.values())).sha256}" if r.status == "keep" and r.code else ""
        case "notes":
            return text(" ".join(x for x in (r.notes, r.feedback) if x))
        case "artifact_bytes" | "n_seeds":
            return number(m.get(column), digits=0)
    return number(m.get(column))
