"""Fault-injection recipes for chat-mini: the baseline plus one edit each, the verdict each must
get, and a string its evidence must contain."""

from environments.spec import Edit

T, M = "train.py", "model.py"
STEP = "        opt.step()\n"

FAULTS: dict[str, tuple[str, tuple[Edit, ...], str]] = {
    "crash": ("crash", (Edit(T, STEP, STEP + "        if not smoke and step == 5:\n"
                                            "            raise FloatingPointError('fault: loss is nan')\n"),),
              "FloatingPointError: fault: loss is nan at recipe/train.py"),
    "preflight_crash": ("preflight_crash", (Edit(M, "import torch\n", "import torch\nimport nanochat_mini_missing\n"),),
                        "ModuleNotFoundError"),
    "train_budget_overrun": ("train_budget_overrun", (Edit(T, "TARGET_PARAM_DATA_RATIO = {\"micro\": 6,",
                                                           "TARGET_PARAM_DATA_RATIO = {\"micro\": 60,"),), "budget"),
    "depth_changed": ("disqualified", (Edit(M, "Block(dim) for _ in range(depth))", "Block(dim) for _ in range(depth - 1))"),),
                      "3 blocks"),
    "read_tasks": ("disqualified", (Edit(T, "    torch.set_num_threads(THREADS)\n",
                                         "    torch.set_num_threads(THREADS)\n"
                                         "    for d in os.environ.get('AUTORECIPE_PROTECTED', '').split(os.pathsep):\n"
                                         "        try:\n            open(os.path.join(d, 'tasks.jsonl')).read()\n"
                                         "        except OSError:\n            pass\n"),), "held-out"),
}
