"""Progress lines of the three real tasks, by adapter name (kept apart from the adapters so
they stay as they are). Each matches the line its upstream script prints; the CPU stand-ins in
tests/fixtures/upstream print the same formats.

- parameter-golf: records/*/train_gpt.py, `log0(f"step:{step}/{args.iterations} train_loss:...
  train_time:...ms step_avg:...ms")` and the validation line `step:{step}/{iterations}
  val_loss:... val_bpb:...` (stand-in: tests/fixtures/upstream/parameter-golf/train_gpt.py:69,81)
- nanochat-d12: scripts/base_train.py, `print0(f"step {step:05d}/{num_iterations:05d}
  ({pct:.2f}%) | loss: {loss:.6f} | ...")` (stand-in: tests/fixtures/upstream/nanochat/scripts/base_train.py:37)
- airbench96: airbench96_faster.py's per-epoch table row, `| epoch | train_loss | ... |`
  (stand-in: tests/fixtures/upstream/airbench/airbench96_faster.py:29)
"""

NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"

PATTERNS: dict[str, tuple[str, ...]] = {
    "parameter-golf": (
        rf"^step:(?P<step>\d+)/(?P<total>\d+) train_loss:(?P<train_loss>{NUM})",
        rf"^step:(?P<step>\d+)/(?P<total>\d+) val_loss:(?P<val_loss>{NUM}) val_bpb:(?P<val_bpb>{NUM})",
    ),
    "nanochat-d12": (
        rf"^step (?P<step>\d+)/(?P<total>\d+) \([\d.]+%\) \| loss: (?P<train_loss>{NUM})",
    ),
    "airbench96": (
        rf"^\|\s*(?P<step>\d+)\s*\|\s*(?:train_loss\s+)?(?P<train_loss>{NUM})\s*\|",
    ),
}
