"""What a Parameter Golf run's log says, read the way the records print it.

Pure functions over the text of a run's console log (or a record's shipped log), checked against
every log under openai/parameter-golf records/ (tests/fixtures/upstream/parameter-golf-records/
records.json, tests/test_pg_record_logs.py). The formats, with the upstream file that prints them:

- the scored line. The baseline (train_gpt.py:1115-1119) ends with
  `final_int8_zlib_roundtrip_exact val_loss:V val_bpb:B`; later records print more final lines
  after it and report the last: `final_sliding_window_exact` (2026-03-19 records),
  `final_int6_sliding_window_exact`, `legal_ttt_exact` (2026-03-23 on), `quantized_sliding_window`
  (2026-04-05), `quantized_ttt_lora` / `quantized_ttt_phased` (2026-04-10 on), `final_sliding ...
  (stride=16, T=0.90)` (the ternary record). So the rule is the record's own: the LAST final metric
  line, a line that opens with a metric name followed by a space and carries `val_bpb:`. Step
  lines (`step:N/M val_loss...`, `4945/20000 val_loss: ...`), `diagnostic ...`/`DIAGNOSTIC ...`
  and `pre-quantization ...` lines are not final. `line=NAME` takes the last line of that name
  instead (a log run with an extra eval the record did not report, as 2026-04-04's seed-42 TTT).
- `train_time:590103ms` (baseline, train_gpt.py:1002) and `train_time: 599592ms` (2026-04 records,
  with a space); per-step lines of 2026-04 records say `train_time: 9.0m` (minutes, one decimal),
  read only when no millisecond figure is printed.
- sizes: `Serialized model <how>: N bytes` once the compressed artifact is written, then
  `Total submission size <how>: N bytes` (train_gpt.py:1088-1092; unqualified in
  2026-03-23_DGAttention); the unqualified `Serialized model: N bytes` / `Total submission size:
  N bytes` before them are the raw .pt (train_gpt.py:1072-1074); code as
  `Code size: N bytes` (raw, train_gpt.py:1073) or `Code size (uncompressed)` / `Code size
  (compressed)` (records that count minified+compressed code, 2026-04-10 on).
Lines may carry a `<unix time> ` prefix (2026-04-13's logs/ files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TS = r"(?:\d{9,}\.\d+ )?"
NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
FINAL = re.compile(rf"^{_TS}([A-Za-z][\w]*)\s(?:.*?\s)?val_bpb[:=]\s*{NUM}", re.M)
NOT_FINAL = {"step", "diagnostic", "DIAGNOSTIC", "pre", "val_bpb"}
LOSS = re.compile(rf"val_loss[:=]\s*{NUM}")
TRAIN_MS = re.compile(r"train_time:\s*(\d+(?:\.\d+)?)ms\b")
TRAIN_MIN = re.compile(r"train_time:\s*(\d+(?:\.\d+)?)m\b(?!s)")
MODEL = re.compile(rf"^{_TS}Serialized model (\S+): (\d+) bytes", re.M)
TOTAL = re.compile(rf"^{_TS}Total submission size(?: \S+)?: (\d+) bytes", re.M)
CODE_RAW = re.compile(rf"^{_TS}Code size(?: \(uncompressed\))?: (\d+) bytes", re.M)
CODE_PACKED = re.compile(rf"^{_TS}Code size \(compressed\): (\d+) bytes", re.M)


@dataclass(frozen=True)
class Score:
    line: str  # the metric line's name, e.g. final_int8_zlib_roundtrip_exact
    val_bpb: float
    val_loss: float | None


def finals(log: str) -> list[Score]:
    out = []
    for m in FINAL.finditer(log):
        if m[1] in NOT_FINAL:
            continue
        end = log.find("\n", m.start())
        loss = LOSS.search(log, m.start(), m.start(2) if end < 0 else end)
        out.append(Score(m[1], float(m[2]), float(loss[1]) if loss else None))
    return out


def score(log: str, line: str = "last") -> Score | None:
    """The scored line: the last final metric line, or the last one named `line`."""
    found = [s for s in finals(log) if line == "last" or s.line == line]
    return found[-1] if found else None


def train_time_s(log: str) -> float | None:
    """The longest logged training time, in seconds; None if the log prints none."""
    ms = [float(v) for v in TRAIN_MS.findall(log)]
    if ms:
        return max(ms) / 1000
    minutes = [float(v) for v in TRAIN_MIN.findall(log)]
    return max(minutes) * 60 if minutes else None


def logged_sizes(log: str, packed: bool) -> dict[str, int] | None:
    """The record's own byte accounting, from its log: the code (raw, or minified+compressed
    where the record counts that), the compressed model and the total it printed."""
    models = list(MODEL.finditer(log))
    code = (CODE_PACKED.findall(log) if packed else []) or CODE_RAW.findall(log)
    if not models or not code:
        return None
    out = {"code": int(code[-1]), "model": int(models[-1][2])}
    total = TOTAL.search(log, models[-1].end())  # the total printed after the compressed model
    if total:
        out["total"] = int(total[1])
    return out
