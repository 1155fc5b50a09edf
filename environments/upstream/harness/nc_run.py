"""NanoChat-D12 launcher (harness: staged fresh for every trial, never edited by a recipe).

Runs `torchrun --standalone --nproc_per_node=N -m scripts.base_train -- --depth=12 ...
--window-pattern=W` in the trial's copy of the nanochat checkout, offline, with a base dir in out/ that links the
tokenizer and the pretraining shards but not the eval bundle: evaluation data is not there
while the model trains. The final checkpoint lands in out/base/base_checkpoints/<tag>/.

--smoke: the reference harness's preflight, a few iterations on one GPU, no eval, no CORE.
"""

import os
import shlex
import shutil
import sys

E = os.environ
base = os.path.abspath("out/base")
os.makedirs(base, exist_ok=True)
source = E["AUTORECIPE_NC_BASE_DIR"]
# What training reads (nanochat/dataset.py's base_data_climbmix, tokenizer.py's tokenizer/), and
# nothing else: not the eval bundle nor its zip, nor whatever else a base dir has come to hold.
TRAINING_READS = ("base_data", "tokenizer")
for name in sorted(os.listdir(source)):
    if not name.startswith(TRAINING_READS):
        continue
    link = os.path.join(base, name)
    if os.path.lexists(link):  # the smoke run's, or anything a run left there
        shutil.rmtree(link) if os.path.isdir(link) and not os.path.islink(link) else os.unlink(link)
    os.symlink(os.path.join(source, name), link)

smoke = "--smoke" in sys.argv
gpus = "1" if smoke else E["AUTORECIPE_NC_GPUS"]
args = shlex.split(E["AUTORECIPE_NC_SMOKE_ARGS" if smoke else "AUTORECIPE_NC_TRAIN_ARGS"])
if E.get("AUTORECIPE_NC_WINDOW"):
    args.append(f"--window-pattern={E['AUTORECIPE_NC_WINDOW']}")
if "AUTORECIPE_SEED" in E:
    print(f"autorecipe-seed: {E['AUTORECIPE_SEED']} not passed: base_train.py has no seed flag (nanochat/common.py "
          "seeds 42); repeats differ only by GPU nondeterminism", flush=True)
argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
        "-m", "scripts.base_train", "--", "--depth=12", *args]
# HF_HUB_OFFLINE: upstream's FA3 lookup (flash_attention.py) fails at once instead of retrying; the
# fork's vendored copy reads NANOCHAT_DISABLE_REMOTE_FA3 instead (upstream ignores it)
env = dict(E, NANOCHAT_BASE_DIR=base, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", NANOCHAT_DISABLE_REMOTE_FA3="1",
           PYTHONUNBUFFERED="1", WANDB_MODE="disabled")
print("autorecipe-launch: " + shlex.join(argv[2:]), flush=True)
os.chdir("recipe")
os.execve(argv[0], argv, env)
