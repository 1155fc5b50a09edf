"""Parameter Golf launcher (harness: staged fresh for every trial, never edited by a recipe).

Runs the record's train_gpt.py the way its README does, `torchrun --standalone
--nproc_per_node=N train_gpt.py`, from out/ (upstream writes its artifact and logs next to the
script), with the data, the seed and the 600 s training cap in the environment. The executor
times the training and the evaluation separately from the log (the eval starts at
AUTORECIPE_PG_EVAL_STARTS) and kills either at its cap.

--smoke: a short run that stops as soon as the artifact is written, and prints
`smoke_pack_bytes: total=N` from the files (code + compressed model); over the byte cap it exits
3, so the full run is never paid for (the reference harness's pre-run size gate).
"""

import glob
import hashlib
import os
import re
import signal
import subprocess
import sys

E = os.environ
out = os.path.abspath("out")
code = open("recipe/train_gpt.py", "rb").read()
# first line of the phase's log, written before the recipe runs: the code the evaluator counts
print(f"autorecipe-code: train_gpt.py bytes={len(code)} sha256={hashlib.sha256(code).hexdigest()}", flush=True)
with open(os.path.join(out, "train_gpt.py"), "wb") as f:
    f.write(code)

smoke = "--smoke" in sys.argv
data = E["AUTORECIPE_PG_DATA"]
variant = E["AUTORECIPE_PG_VARIANT"]
vocab = re.sub(r"\D", "", variant) or "1024"
env = dict(E, PYTHONUNBUFFERED="1", RUN_ID="autorecipe", SEED=E.get("AUTORECIPE_SEED", "1337"),
           DATA_PATH=os.path.join(data, "datasets", f"fineweb10B_{variant}"),
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

proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
packed = False
for raw in proc.stdout:
    sys.stdout.buffer.write(raw)
    sys.stdout.flush()
    if raw.startswith(b"Total submission size"):
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
total, cap = len(code) + model, int(E["AUTORECIPE_PG_CAP"])
print(f"smoke_pack_bytes: total={total} code={len(code)} model={model} cap={cap}", flush=True)
if total > cap:
    print(f"smoke: the artifact is {total - cap} bytes over the cap; the full run is skipped", flush=True)
    sys.exit(3)
