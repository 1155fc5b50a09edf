"""Fault-injection recipes for golf-mini: the baseline plus one edit each, the verdict each must
get, and a string its evidence must contain."""

from environments.spec import Edit

R = "train_gpt_mini.py"
TRAIN = "    start = time.process_time()\n"
LOGPROBS = "        return F.log_softmax(self.forward(idx).float(), dim=-1)\n"
EXPORT = "    return zlib.compress(buf.getvalue(), 9)\n"


def _at_train_start(code: str) -> tuple[Edit, ...]:
    return (Edit.after(R, TRAIN, code),)


FAULTS: dict[str, tuple[str, tuple[Edit, ...], str]] = {
    "crash": ("crash", (Edit(R, "        step += 1\n", "        step += 1\n        if not smoke and step == 5:\n"
                                                        "            raise FloatingPointError('fault: loss is nan')\n"),),
              "FloatingPointError: fault: loss is nan at recipe/train_gpt_mini.py"),
    "preflight_crash": ("preflight_crash", (Edit(R, "MLP_MULT = 2", "MLP_MULT = = 2"),), "SyntaxError"),
    "size_blocked": ("size_blocked", (Edit(R, EXPORT, "    return zlib.compress(buf.getvalue(), 9) + bytes(5000)\n"),),
                     "over the"),
    "train_budget_overrun": ("train_budget_overrun", (Edit(R, "if used >= 1.0 or", "if used >= 1e9 or"),), "budget"),
    "eval_budget_overrun": ("eval_budget_overrun", (Edit(R, "def load(blob: bytes):\n",
                                                         "def load(blob: bytes):\n    end = time.process_time() + 13\n"
                                                         "    while time.process_time() < end:\n        pass\n"),),
                            "budget"),
    "unnormalized": ("disqualified", (Edit(R, LOGPROBS, "        return F.log_softmax(self.forward(idx).float(), dim=-1) + 0.5\n"),),
                     "normalized failed"),
    "peeks_ahead": ("disqualified", (Edit(R, LOGPROBS, "        logits = self.forward(idx).float()\n"
                                                       "        ahead = torch.roll(idx, -1, dims=1).unsqueeze(-1)\n"
                                                       "        logits = logits.scatter_add(-1, ahead, torch.full(ahead.shape, 6.0))\n"
                                                       "        return F.log_softmax(logits, dim=-1)\n"),),
                    "causal failed"),
    "read_heldout": ("disqualified", _at_train_start(
        "for d in os.environ.get('AUTORECIPE_PROTECTED', '').split(os.pathsep):\n"
        "    try:\n        open(os.path.join(d, 'val_000.bin'), 'rb').read()\n    except OSError:\n        pass"),
        "held-out"),
    "forged_score": ("valid", _at_train_start("print('val_bpb: 0.0001')"), "score-like"),
}
