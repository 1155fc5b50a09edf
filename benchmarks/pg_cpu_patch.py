"""Swap the CUDA calls of openai/parameter-golf's baseline train_gpt.py for CPU ones, so the
real script runs through autorecipe's parameter-golf adapter on a machine without a GPU.

Each replacement is exact text from upstream train_gpt.py (commit 4908dc46f) and must match the
number of times given, so a changed upstream fails here loudly instead of running half-patched.
Only device handling changes: logging, serialization, quantization and evaluation are untouched
(every log0 line, the .pt/.ptz files, the int8+zlib round trip and eval_val run as upstream).
torch.compile becomes the identity: inductor would compile for minutes on two busy cores and
computes the same function.

    python benchmarks/pg_cpu_patch.py CHECKOUT/train_gpt.py   # rewrites it in place
"""

from __future__ import annotations

import sys
from pathlib import Path

REPLACEMENTS = [  # (upstream text, CPU text, occurrences)
    ('    if not torch.cuda.is_available():\n        raise RuntimeError("CUDA is required")\n'
     '    device = torch.device("cuda", local_rank)\n    torch.cuda.set_device(device)\n',
     '    device = torch.device("cpu")\n', 1),
    ('dist.init_process_group(backend="nccl", device_id=device)', 'dist.init_process_group(backend="gloo")', 1),
    ("torch.cuda.synchronize()", "torch.cpu.synchronize()", 5),
    ('torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=True)',
     'torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=True)', 3),
    ("enable_math_sdp(False)", "enable_math_sdp(True)", 1),  # the CPU kernels for GQA
    ("torch.cuda.max_memory_allocated()", "0", 1),
    ("torch.cuda.max_memory_reserved()", "0", 1),
    ('subprocess.run(["nvidia-smi"]', 'subprocess.run(["echo", "nvidia-smi: no GPU (CPU run)"]', 1),
    ("DDP(compiled_model, device_ids=[local_rank], broadcast_buffers=False)",
     "DDP(compiled_model, broadcast_buffers=False)", 1),
    ("zeropower_via_newtonschulz5 = torch.compile(zeropower_via_newtonschulz5)",
     "zeropower_via_newtonschulz5 = zeropower_via_newtonschulz5", 1),
    ("compiled_model = torch.compile(base_model, dynamic=False, fullgraph=True)", "compiled_model = base_model", 1),
]


def patch(src: str) -> str:
    for old, new, times in REPLACEMENTS:
        found = src.count(old)
        if found != times:
            raise SystemExit(f"pg_cpu_patch: expected {times}x {old!r} in train_gpt.py, found {found}: "
                             "upstream changed; update the patch")
        src = src.replace(old, new)
    return src


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(patch(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"patched {path} for CPU ({len(REPLACEMENTS)} replacements)")
