"""Parameter Golf launcher (harness: staged fresh for every trial, never edited by a recipe).

Runs the record's train_gpt.py the way its README does, `torchrun --standalone
--nproc_per_node=N train_gpt.py`, from out/ (upstream writes its logs/ and artifact next to the
script), with the data, the seed, the 600 s training cap and the record's own variables in the
environment. Both ways records find data are set: DATA_PATH + TOKENIZER_PATH + VOCAB_SIZE (the
baseline, train_gpt.py:41,44,63) and DATA_DIR (records from 2026-04-01 on derive
datasets/fineweb10B_sp<VOCAB_SIZE> and tokenizers/fineweb_<VOCAB_SIZE>_bpe.model from it). The
venv's bin is put first on PATH, so records that call `pyminify` find it. The executor times the
training and the evaluation separately from the log and kills either at its cap.

The first line printed is the code the evaluator counts, by the record's rule (pg_pack.py):
`autorecipe-code: train_gpt.py bytes=RAW sha256=H counted=N rule=R`.

--smoke: a short run that stops once the compressed artifact is on disk: at the first `Total
submission size` line after a qualified `Serialized model <how>: N bytes` line
(train_gpt.py:1088-1092), not at the one for the raw .pt printed before quantization
(train_gpt.py:1072-1074); it prints `smoke_pack_bytes: total=N`
from the files (code + compressed model); over the byte cap it exits 3, so the full run is never
paid for (the reference harness's pre-run size gate).
"""

import glob
import hashlib
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pg_pack  # noqa: E402

E = os.environ
out = os.path.abspath("out")
code = open("recipe/train_gpt.py", "rb").read()
bindir = os.path.dirname(sys.executable)
path = bindir + os.pathsep + E.get("PATH", "/usr/bin:/bin")
rule, flags = E.get("AUTORECIPE_PG_CODE_RULE", "raw"), tuple(E.get("AUTORECIPE_PG_PYMINIFY_FLAGS", "").split())
counted = pg_pack.counted_bytes(code, rule, flags or pg_pack.DEFAULT_FLAGS, os.path.join(bindir, "pyminify"))
# first line of the phase's log, written before the recipe runs: the code the evaluator counts
print(f"autorecipe-code: train_gpt.py bytes={len(code)} sha256={hashlib.sha256(code).hexdigest()} "
      f"counted={counted} rule={rule}", flush=True)
# the GPUs Ray gave this trial's executor, as torchrun's ranks will see them
print(f"autorecipe-devices: CUDA_VISIBLE_DEVICES={E.get('CUDA_VISIBLE_DEVICES', '')}", flush=True)
with open(os.path.join(out, "train_gpt.py"), "wb") as f:
    f.write(code)

smoke = "--smoke" in sys.argv
data = E["AUTORECIPE_PG_DATA"]
variant = E["AUTORECIPE_PG_VARIANT"]
vocab = re.sub(r"\D", "", variant) or "1024"
env = dict(E, **json.loads(E.get("AUTORECIPE_PG_RECORD_ENV", "{}")))
env |= dict(PYTHONUNBUFFERED="1", PATH=path, RUN_ID="autorecipe", SEED=E.get("AUTORECIPE_SEED", "1337"),
            DATA_DIR=data, DATA_PATH=os.path.join(data, "datasets", f"fineweb10B_{variant}"),
            TOKENIZER_PATH=os.path.join(data, "tokenizers", f"fineweb_{vocab}_bpe.model"), VOCAB_SIZE=vocab,
            MAX_WALLCLOCK_SECONDS=E["AUTORECIPE_PG_SMOKE_TRAIN_S" if smoke else "AUTORECIPE_PG_TRAIN_S"])
if smoke:
    env |= {"VAL_LOSS_EVERY": "0", "ITERATIONS": E["AUTORECIPE_PG_SMOKE_STEPS"]}
argv = [sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={E['AUTORECIPE_PG_GPUS']}", "train_gpt.py"]
os.chdir(out)
if not smoke:
    sys.stdout.flush()
    os.execve(argv[0], argv, env)

COMPRESSED = re.compile(rb"^(?:\d{9,}\.\d+ )?Serialized model \S+: \d+ bytes")
TOTAL = re.compile(rb"^(?:\d{9,}\.\d+ )?Total submission size(?: \S+)?: \d+ bytes")
proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
compressed = packed = False
for raw in proc.stdout:
    sys.stdout.buffer.write(raw)
    sys.stdout.flush()
    compressed = compressed or bool(COMPRESSED.match(raw))
    if compressed and TOTAL.match(raw):
        packed = True
        break
if packed:
    os.killpg(proc.pid, signal.SIGKILL)
proc.wait()
artifacts = sorted(glob.glob(E["AUTORECIPE_PG_ARTIFACT"]), key=os.path.getmtime)
if not packed or not artifacts:
    print(f"smoke: the run ended (exit {proc.returncode}) before it wrote its artifact", flush=True)
    sys.exit(proc.returncode or 1)
model = os.path.getsize(artifacts[-1])
total, cap = counted + model, int(E["AUTORECIPE_PG_CAP"])
print(f"smoke_pack_bytes: total={total} code={counted} model={model} cap={cap}", flush=True)
if total > cap:
    print(f"smoke: the artifact is {total - cap} bytes over the cap; the full run is skipped", flush=True)
    sys.exit(3)
