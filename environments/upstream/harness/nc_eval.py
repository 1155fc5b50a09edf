"""NanoChat-D12 CORE (harness, evaluator-owned): the pinned checkout's own scripts/base_eval.py
and nanochat/core_eval.py score the trial's final checkpoint. Those files are not on any
specialist's surface, so they are the upstream's, read-only, in every trial; the eval bundle is
linked in only now, over anything the training run left at that path.

Before scoring, the depth rule is checked on the checkpoint itself: the number of transformer
blocks in its state dict (a `--depth` flag can be ignored by an edited trainer; weights cannot
lie about their count). Prints `autorecipe-depth: blocks=N`.
"""

import glob
import os
import pickletools
import re
import shlex
import shutil
import sys
import zipfile

E = os.environ
base = os.path.abspath("out/base")
bundle = os.path.join(base, "eval_bundle")
if os.path.islink(bundle) or os.path.isfile(bundle):
    os.unlink(bundle)
elif os.path.isdir(bundle):
    shutil.rmtree(bundle)
os.symlink(os.path.join(E["AUTORECIPE_NC_BASE_DIR"], "eval_bundle"), bundle)

tag = E["AUTORECIPE_NC_TAG"]
checkpoints = sorted(glob.glob(os.path.join(base, "base_checkpoints", tag, "model_*.pt")))
if not checkpoints:
    print(f"autorecipe-eval: no checkpoint under out/base/base_checkpoints/{tag}/", flush=True)
    sys.exit(4)



def state_dict_keys(path):
    """The string constants of a torch.save file's pickle (a zip holding */data.pkl): the state
    dict's keys among them. Read without torch and without touching the tensors' bytes, so a
    multi-GB checkpoint costs nothing here."""
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
        data = z.read(name)
    return {arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str)}


blocks = {int(m[1]) for k in state_dict_keys(checkpoints[-1]) for m in [re.search(r"(?:^|\.)h\.(\d+)\.", k)] if m}
print(f"autorecipe-depth: blocks={len(blocks)} checkpoint={os.path.basename(checkpoints[-1])}", flush=True)

argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={E['AUTORECIPE_NC_GPUS']}",
        "-m", "scripts.base_eval", "--", *shlex.split(E["AUTORECIPE_NC_EVAL_ARGS"])]
env = dict(E, NANOCHAT_BASE_DIR=base, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", NANOCHAT_DISABLE_REMOTE_FA3="1",
           PYTHONUNBUFFERED="1")
print("autorecipe-launch: " + shlex.join(argv[2:]), flush=True)
os.chdir("recipe")
os.execve(argv[0], argv, env)
