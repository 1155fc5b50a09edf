"""What every evaluator shares: reading a trial's recorded outputs, the crash excerpt, the
legality checks from the sandbox's audit reports, and the verdict event itself.

An evaluator is a pure function of a `TrialExecuted` event, the blobs it names, the
environment's held-out data and the tier: no clock, no randomness, no network. Re-evaluating
recorded outputs gives the same verdict, byte for byte.
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from events import BlobStore, Check, TrialEvaluated, TrialExecuted

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$')
# How Python prints the exception that ends a traceback: "pkg.Name: message", or the bare name.
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?::\s.*|:)?$")
_SCORE_LINE = re.compile(r"(val_bpb|accuracy|score|core_metric|cpu_s|train_s)\s*[:=]\s*[-+0-9.eE]+", re.I)

# What each audit report kind means, for the verdict and the agent.
VIOLATIONS = {
    "read_protected": "read held-out or protected data",
    "write_outside": "wrote outside out/ and tmp/",
    "edit_harness": "changed harness, recipe or data files during the run",
    "network": "used the network",
    "spawn": "started another process",
}
# What a single-process recipe may not do, in the order its checks are listed.
SINGLE_PROCESS_FORBIDDEN = ("read_protected", "network", "write_outside", "edit_harness", "spawn")


@dataclass(frozen=True)
class Crash:
    exception: str  # "ValueError: shapes (32,64) and (10,) not aligned"
    frame: str  # deepest frame inside the recipe, "recipe/x.py:42 in train" ("" if none)

    def describe(self) -> str:
        return f"{self.exception} at {self.frame}" if self.frame else self.exception


def crash_from_log(log: str) -> Crash | None:
    """The last Python traceback in `log`: its exception and the deepest frame in the recipe.

    Other processes write to the same log (torchrun's ranks share one stdout and stderr, and a
    rank's buffered prints come out when it exits), so their lines can land inside a traceback:
    an unindented line ends the traceback only when it reads as an exception does
    ("Name: message" or a bare name); one that does not is skipped."""
    parsed = _last_traceback(log)
    return parsed and parsed[0]


def _last_traceback(log: str) -> tuple[Crash, bool] | None:
    """The crash the last traceback in `log` shows, and whether its exception line was there (a
    process killed while printing its traceback leaves none: then the first other line stands in)."""
    start = log.rfind("Traceback (most recent call last):")
    if start < 0:
        return None
    frames: list[str] = []
    exception = stray = ""
    for line in log[start:].splitlines()[1:]:
        m = _FRAME.match(line)
        if m:
            where = f"{_short(m['path'])}:{m['line']}" + (f" in {m['func']}" if m["func"] else "")
            frames.append(where)
        elif line and not line.startswith((" ", "\t")):
            if _EXCEPTION.match(line):
                exception = line.strip()
                break
            stray = stray or line.strip()  # another process's line, unless nothing better follows
    recipe = [f for f in frames if f.startswith("recipe/")]
    return Crash(exception=exception or stray or "unknown error", frame=(recipe or frames or [""])[-1]), bool(exception)


def worker_crash(log: str) -> Crash | None:
    """The crash of a torchrun worker: torchrun's own ChildFailedError traceback comes last and
    says only that a child failed, so a worker's traceback before it is the one that explains. The
    first to fail is the cause; torchrun then stops the others with SIGTERM, which can cut one off
    while it prints its own traceback, so a traceback whose exception line is there is preferred."""
    cut_off = child_failed = None
    end = len(log)
    while True:
        start = log.rfind("Traceback (most recent call last):", 0, end)
        if start < 0:
            break
        crash, complete = _last_traceback(log[start:end])
        if "ChildFailedError" in crash.exception:
            child_failed = child_failed or crash
        elif complete:
            return crash
        else:
            cut_off = cut_off or crash
        end = start
    return cut_off or child_failed


def _short(path: str) -> str:
    i = path.find("/recipe/")
    if i >= 0:
        return path[i + 1:]
    i = path.find("/harness/")
    return path[i + 1:] if i >= 0 else path


def log_text(executed: TrialExecuted, blobs: BlobStore, phase: str) -> str:
    ref = executed.outputs.get(f"logs/{phase}")
    return blobs.get(ref).decode(errors="replace") if ref else ""


def audit_reports(executed: TrialExecuted, blobs: BlobStore) -> list[tuple[str, dict]]:
    """(phase, report) for each line the audit hook wrote. The recipe holds the hook's descriptor
    too, so a line may be anything: what is not a JSON object with a string `kind` is `garbled`,
    never an exception (which would make the recipe's own doing a harness_abort)."""
    out = []
    for name, ref in executed.outputs.items():
        if name.startswith("audit/"):
            for line in blobs.get(ref).decode(errors="replace").splitlines():
                try:
                    report = json.loads(line)
                except ValueError:
                    report = None
                if not (isinstance(report, dict) and isinstance(report.get("kind"), str)):
                    report = {"kind": "garbled", "detail": line[:200]}
                out.append((name[6:], report))
    return out


def legality_checks(executed: TrialExecuted, blobs: BlobStore, forbidden: tuple[str, ...]) -> list[Check]:
    """One check per kind of forbidden behaviour, with the first offending detail as evidence."""
    reports = audit_reports(executed, blobs)
    checks = []
    for kind in forbidden:
        hits = [(phase, r) for phase, r in reports if r.get("kind") == kind]
        evidence = f"{len(hits)} attempt(s), first in {hits[0][0]}: {hits[0][1].get('detail', '')}" if hits else ""
        checks.append(Check(name=f"no_{kind}", passed=not hits, evidence=evidence, measured=float(len(hits)), limit=0.0))
    return checks


def self_report_check(executed: TrialExecuted, blobs: BlobStore) -> Check:
    """Score-like lines the recipe printed are never read; say so, so nobody is misled."""
    n = sum(len(_SCORE_LINE.findall(log_text(executed, blobs, p.name))) for p in executed.phases)
    return Check(name="self_reported_scores_ignored", passed=True, measured=float(n),
                 evidence=f"the recipe printed {n} score-like line(s); the evaluator measures instead" if n else "")


def load_npy(data: bytes) -> np.ndarray | str:
    """An array the recipe wrote in the npy format, or what is wrong with it. Whatever the bytes
    are (empty, a zip, a header that claims terabytes), this returns; it never raises: an
    evaluator that raised would make the recipe's mistake a harness_abort, hidden and retried."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            return f"npy format version {version} (this reads 1.0 and 2.0)"
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f)
        if dtype.hasobject:
            return "an array of Python objects"
        want = math.prod(shape) * dtype.itemsize
        if want != len(data) - f.tell():  # checked before numpy allocates what the header claims
            return f"the header says {shape} of {dtype} ({want:,} bytes) but {len(data) - f.tell():,} bytes follow"
        f.seek(0)
        array = np.load(f, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - anything the bytes make numpy raise is a bad file
        return f"not an npy array ({type(exc).__name__}: {str(exc)[:200]})"
    return array if isinstance(array, np.ndarray) else f"not an npy array (a {type(array).__name__})"


def judged(executed: TrialExecuted, blobs: BlobStore, name: str) -> tuple[dict | None, str]:
    """What a phase's judge wrote (judge/<name>: no recipe process can write there), or None and
    why there is nothing to score."""
    ref = executed.outputs.get(f"judge/{name}")
    if ref is None:
        log = executed.outputs.get("judge/judge.log")
        tail = blobs.get(log).decode(errors="replace").strip().splitlines()[-1:] if log else []
        return None, "the judge wrote no result" + (f" ({tail[0][:200]})" if tail else "")
    try:
        result = json.loads(blobs.get(ref))
    except ValueError as exc:
        return None, f"the judge's result is not JSON ({exc})"
    if "error" in result:
        return None, f"the judge could not score the model: {result['error']}"
    return result, ""


def judged_repeats(executed: TrialExecuted, blobs: BlobStore, stem: str) -> tuple[list[dict] | None, float, str]:
    """What the judges of a phase run as repeats wrote (judge/<stem>_<r>.json, one per process),
    and the largest causality difference between each probe's copy and its original, which two
    processes served (judge/probes_<r>.npz); or None and why there is nothing to score."""
    first, why = judged(executed, blobs, f"{stem}_0.json")
    if first is None:
        return None, 0.0, why
    halves, served = [first], {}
    for r in range(first.get("repeats", 1)):
        if r:
            half, why = judged(executed, blobs, f"{stem}_{r}.json")
            if half is None:
                return None, 0.0, why
            halves.append(half)
        ref = executed.outputs.get(f"judge/probes_{r}.npz")
        if ref is None:
            return None, 0.0, f"the judge of process {r} wrote no probes"
        with np.load(io.BytesIO(blobs.get(ref)), allow_pickle=False) as rows:
            served.update({name: rows[name] for name in rows.files})
    copies = [name.removeprefix("copy/") for name in served if name.startswith("copy/")]
    if len(copies) != first["probes"] or any(f"original/{k}" not in served for k in copies):
        return None, 0.0, f"the judges served {len(copies)} of {first['probes']} probes and their originals"
    causal = max((float(np.abs(served[f"copy/{k}"] - served[f"original/{k}"]).max()) for k in copies), default=0.0)
    return halves, causal, ""


def clock_check(executed: TrialExecuted) -> Check:
    """Which clock counted the CPU seconds: a cgroup counts every process of a phase; wait4 (where
    no cgroup could be made) misses children that are never reaped. Said in every verdict."""
    clocks = sorted({p.cpu_clock or "unrecorded" for p in executed.phases})
    weak = [c for c in clocks if not c.startswith("cgroup")]
    return Check(name="cpu_clock", passed=True, evidence="; ".join(clocks) + (
        ": CPU time of processes never reaped is not counted" if weak else ": every process of each phase counted"))


def failed(p) -> bool:
    """Whether a phase failed: a non-zero exit or a signal, or more on disk than the trial's cap
    (found after the phase may have exited 0)."""
    return p.exit_code != 0 or p.disk_bytes is not None


def _over_disk(p) -> str:
    return f"it held at least {p.disk_bytes:,} bytes under out/ and tmp/, over the trial's disk cap, and was stopped"


def phase_failure(executed: TrialExecuted, blobs: BlobStore, phase: str) -> str:
    """Why a single-process phase failed, for the verdict: over its CPU budget, the crash excerpt
    if there is one, else how it ended."""
    p = next((p for p in executed.phases if p.name == phase), None)
    return run_failure(p, lambda: log_text(executed, blobs, phase), crash=crash_from_log, cpu_budget=True)


def run_failure(phase, log: str | Callable[[], str], crash: Callable[[str], Crash | None] = worker_crash,
                cpu_budget: bool = False) -> str:
    """Why a run failed: over the disk cap; over its CPU budget where the phase is held to one
    (`cpu_budget`); the crash (a torchrun worker's by default); over its wall budget; else how it
    ended and its last line. `log` is the text, or a function that reads it when it is needed."""
    if phase is None:
        return "it did not run"
    if phase.disk_bytes is not None:
        return _over_disk(phase)
    if cpu_budget and phase.timed_out:
        return f"ran {phase.cpu_s:.2f} s CPU / {phase.wall_s:.2f} s wall, over its {phase.budget_s:.0f} s budget"
    text = log() if callable(log) else log
    found = crash(text)
    if found:
        return found.describe()
    if phase.timed_out:
        return f"it ran {phase.wall_s:.0f} s wall, over its {phase.budget_s:.0f} s budget"
    tail = [line for line in text.strip().splitlines() if line][-1:] or [""]
    return f"exit code {phase.exit_code}, signal {phase.signal}: {tail[0][:200]}"


def smoke_verdict(executed: TrialExecuted, blobs: BlobStore, evaluator: str, version: str, what: str,
                  checks: list[Check] | None = None,
                  single_process: bool = False) -> tuple[TrialEvaluated | None, list[Check]]:
    """preflight_crash when the smoke run (`what` says what it is) failed; else None. Either way the
    checks so far (`checks`) with the smoke check appended. A single-process smoke run's failure is
    told as `phase_failure` tells it, a torchrun's as `run_failure` does."""
    checks = [] if checks is None else checks
    smoke = next((p for p in executed.phases if p.name == "smoke"), None)
    if smoke is None or failed(smoke) or smoke.timed_out:
        why = phase_failure(executed, blobs, "smoke") if single_process else \
            run_failure(smoke, log_text(executed, blobs, "smoke"))
        checks.append(Check(name="smoke", passed=False, evidence=why))
        return verdict(executed, evaluator, version, "preflight_crash",
                       f"The smoke run ({what}) failed: {why}. No full run was spent.", checks), checks
    checks.append(Check(name="smoke", passed=True))
    return None, checks


def budget_check(p) -> Check:
    """A failed budget check for phase `p`, with both clocks in the evidence."""
    return Check(name=f"{p.name}_budget", passed=False, measured=p.cpu_s, limit=p.budget_s,
                 evidence=f"{p.cpu_s:.2f} s CPU ({p.wall_s:.2f} s wall) against a {p.budget_s:.0f} s CPU budget"
                          + (", killed by the watchdog" if p.signal else ""))


def verdict(executed: TrialExecuted, evaluator: str, version: str, verdict: str, feedback: str,
            checks: list[Check], score: float | None = None, metrics: dict[str, float] | None = None) -> TrialEvaluated:
    """The verdict event. A valid one must carry a finite score: an infinite one would be the best
    for ever (nothing ranks past it), a NaN one ranks nowhere; either is what the recipe wrote
    going wrong, so it is the recipe's crash, with the number as evidence."""
    if verdict == "valid" and (score is None or not math.isfinite(score)):
        checks = [*checks, Check(name="score_finite", passed=False, evidence=f"the score came out as {score!r}")]
        verdict, feedback, score = "crash", f"Crash: the score is not a finite number ({score!r}).", None
    return TrialEvaluated(trial_id=executed.trial_id, attempt=executed.attempt, evaluator=evaluator,
                          evaluator_version=version, verdict=verdict, score=score, metrics=metrics or {},
                          checks=checks, feedback=feedback)


def early_verdict(executed: TrialExecuted, blobs: BlobStore, evaluator: str, version: str,
                  forbidden: tuple[str, ...], smoke: str, overrun_advice: str) -> tuple[TrialEvaluated | None, list[Check]]:
    """The first three steps every single-run environment shares, in priority order:
    a forbidden behaviour (disqualified), a failed smoke run (preflight_crash), training over
    its budget (train_budget_overrun). Returns the verdict if one applies, and the checks so far."""
    checks = legality_checks(executed, blobs, forbidden)
    broken = [c for c in checks if not c.passed]
    if broken:
        what = "; ".join(f"{VIOLATIONS[c.name[3:]]} ({c.evidence})" for c in broken)
        return verdict(executed, evaluator, version, "disqualified", f"Disqualified: {what}.", checks), checks
    early, checks = smoke_verdict(executed, blobs, evaluator, version, smoke, checks, single_process=True)
    if early is not None:
        return early, checks
    train = {p.name: p for p in executed.phases}.get("train")
    if train is not None and train.timed_out:
        checks.append(budget_check(train))
        return verdict(executed, evaluator, version, "train_budget_overrun",
                       f"Training ran over budget: {checks[-1].evidence}. {overrun_advice}", checks), checks
    return None, checks


def phases_ran(executed: TrialExecuted, blobs: BlobStore, evaluator: str, version: str, names: tuple[str, ...],
               checks: list[Check], timed_out_ran: bool = False) -> TrialEvaluated | None:
    """A crash verdict for the first of `names` that did not run or failed (a timed-out phase counts
    as having run where `timed_out_ran`: its budget is judged later); None when all ran."""
    phases = {p.name: p for p in executed.phases}
    for name in names:
        p = phases.get(name)
        if p is None or (failed(p) and not (timed_out_ran and p.timed_out)):
            why = phase_failure(executed, blobs, name)
            checks.append(Check(name=f"{name}_ran", passed=False, evidence=why))
            return verdict(executed, evaluator, version, "crash", f"The {name} phase failed: {why}.", checks)
    return None


def probe_checks(result: dict, norm_tol: float, causal_tol: float, probed: str) -> list[Check]:
    """The judge's two probes of a served model: every distribution sums to one, and none changes
    when a later token does (`probed` says over what the judge probed). A model whose context
    holds two tokens or more can look ahead, so where the judge made no causality probe at all
    the check fails: it would pass a model nobody looked at."""
    norm, causal = result["normalization_error"], result["causality_diff"]
    unprobed = result.get("probes") == 0 and result.get("context", 2) > 1
    return [Check(name="normalized", passed=norm <= norm_tol, measured=norm, limit=norm_tol,
                  evidence=f"max |logsumexp| {norm:.2e} over every distribution the model served"),
            Check(name="causal", passed=causal <= causal_tol and not unprobed, measured=causal, limit=causal_tol,
                  evidence=f"no causality probe was made over a context of {result.get('context')}" if unprobed
                  else f"max change before a perturbed suffix {causal:.2e} over {probed}")]


def refused(executed: TrialExecuted, evaluator: str, version: str, checks: list[Check],
            metrics: dict[str, float]) -> TrialEvaluated | None:
    """Disqualified, naming every failed check; None when all passed."""
    failed_checks = [c for c in checks if not c.passed]
    if not failed_checks:
        return None
    return verdict(executed, evaluator, version, "disqualified",
                   "Disqualified: " + "; ".join(f"{c.name} failed ({c.evidence})" for c in failed_checks) + ".",
                   checks, metrics=metrics)
