"""Progress lines of the three real tasks, by adapter name (kept apart from the adapters so
they stay as they are). Each matches the lines its upstream script prints; the CPU stand-ins in
tests/fixtures/upstream print the same formats.

- parameter-golf, the baseline train_gpt.py (openai/parameter-golf 4908dc4, :1043-1046 and
  :992-995): `step:{step}/{iterations} train_loss:{:.4f} train_time:{}ms step_avg:{:.2f}ms` and
  `step:{step}/{iterations} val_loss:{:.4f} val_bpb:{:.4f} ...`; the records from 2026-04 on
  print `{step}/{iterations} train_loss: {:.4f} train_time: {:.1f}m tok/s: {}` and
  `{step}/{iterations} val_loss: {:.4f} val_bpb: {:.4f}` (no `step:`, a space after each colon;
  e.g. records/track_10min_16mb/2026-04-27_SmearGateBOSFix*/train_seed42.log), some with a unix
  time in front (2026-04-13_VarLenAttn_PhasingTTT2000/logs/train0.txt). Stand-in:
  tests/fixtures/upstream/parameter-golf/train_gpt.py:144-145 (val) and :157 (train).
- nanochat-d12: scripts/base_train.py:567 (karpathy/nanochat 92d63d4), `print0(f"step
  {step:05d}/{num_iterations:05d} ({pct_done:.2f}%) | loss: {debiased_smooth_loss:.6f} | ...")`
  (stand-in: tests/fixtures/upstream/nanochat/scripts/base_train.py:105).
- airbench96: the fork's multi_agent_cifar/airbench96.py (cxcscmu/Auto-Research-Recipes
  f039d42), print_training_details :484-496 over the columns of :483, `|  run   |  epoch  |
  train_loss  | ...`, each value right-justified to its column's name; the run number only on an
  epoch's first row (:725), blank after. Stand-in:
  tests/fixtures/upstream/airbench/multi_agent_cifar/airbench96.py:105-117.
"""

NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"

PATTERNS: dict[str, tuple[str, ...]] = {
    "parameter-golf": (
        rf"^(?:\d+\.\d+ )?(?:step:)?(?P<step>\d+)/(?P<total>\d+) train_loss: ?(?P<train_loss>{NUM})",
        rf"^(?:\d+\.\d+ )?(?:step:)?(?P<step>\d+)/(?P<total>\d+) val_loss: ?(?P<val_loss>{NUM}) "
        rf"val_bpb: ?(?P<val_bpb>{NUM})",
    ),
    "nanochat-d12": (
        rf"^step (?P<step>\d+)/(?P<total>\d+) \([\d.]+%\) \| loss: (?P<train_loss>{NUM})",
    ),
    "airbench96": (  # | run (on the first row only) | epoch | train_loss | ...
        rf"^\|\s*(?:\d+)?\s*\|\s*(?P<step>\d+)\s*\|\s*(?P<train_loss>{NUM})\s*\|",
    ),
}
