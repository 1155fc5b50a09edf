"""Specialist briefs for the real tasks, at the depth of the published system's preambles
(cxcscmu/Auto-Research-Recipes, ../shared/reference/reference-system.md §5, §10): what each
specialist owns, how far its edits should reach ("edit radius"), and what is known to work and to
fail on that task. The adapters keep their one-line summaries; `brief(task, key, short)` gives the
long form when there is one.
"""

from __future__ import annotations

RADIUS_PG = ("Edit radius: make a program-level change inside your domain (a new mechanism, a changed "
             "computation path, a different algorithm), not a single scalar tweak: if your hypothesis is "
             "'change one number', it belongs to opt or meta.")
RULES_PG = ("Rules: val_bpb on FineWeb validation, lower is better; the artifact (code after stripping, plus the "
            "compressed model) must stay under 16,000,000 bytes; training <= 600 s and evaluation <= 600 s on 8 "
            "GPUs; the SP8192 vocabulary is fixed; quantization, calibration and evaluation never read training or "
            "validation tokens; test-time training is legal only score-first under torch.inference_mode(). "
            "The seed artifact sits at ~15.99 MB and its eval at ~575-595 s: little headroom on either.")

PARAMETER_GOLF = {
    "arch": ("You own the block structure: attention variants, recurrence, residual topology (parallel residuals), "
             "MLP variants and widths, norms, embeddings and positions (rope dims). Known keeps: rope_dims 16->32, "
             "recurrence-aware ln_scale, per-head q_gain, a data-dependent attention-output gate. Pitfalls: arch "
             "edits are bimodal (crash or keep) - run check, keep shapes consistent, and count the bytes: every new "
             "parameter competes for the 16 MB cap, and a slower forward pass eats the eval budget."),
    "opt": ("You own the optimizer: Muon variants (momentum warmup and its cool target, Newton-Schulz steps, "
            "weight decay split by parameter type), AdamW for scalars and embeddings, LR schedule shape and "
            "warmdown, clipping, EMA/LAWA. Known keeps: Muon momentum-warmup fraction 0.33->0.22 (the largest single "
            "gain), decoupled momentum cool target, MLP-only Muon WD, lower scalar AdamW WD, a momentum floor. "
            "Pitfalls: schedule changes interact with the 600 s cap (fewer steps if a step gets slower)."),
    "tok": ("You own the token-to-trunk input layer: embedding parameterization and scale (per-feature embed_scale "
            "kept twice), hashed n-gram channels, the tied head. The vocabulary is fixed at SP8192. Pitfalls: "
            "embedding tables are the largest tensors - their bytes after quantization decide size_blocked."),
    "quant": ("You own export: GPTQ variants (block size 128->64 kept; Hessian damping schemes kept three times), "
              "bit allocation per tensor, SDClip, calibration (never on train or val tokens), dequantization, "
              "byte-shuffle + brotli. Everything serves the 16,000,000-byte cap; the smoke run prints "
              "smoke_pack_bytes - read it. Pitfalls: late in a run size_blocked is the most common label (13% -> 48% "
              "of trials): spend bytes saved here, and check the eval time of slower dequant paths."),
    "ttt": ("You own test-time training inside the eval budget: score first, then adapt, under "
            "torch.inference_mode() for scoring; stride, epochs (3->4 kept), per-document fast weights, LoRA at "
            "test time, the inner optimizer (Nesterov SGD kept, gradient centralization kept, halving the momentum "
            "buffer at chunk boundaries kept), freezing control scalars. Pitfalls: the eval phase already runs "
            "575-595 s of 600: any extra TTT work needs a matching saving, or it is eval_budget_overrun."),
    "curr": ("You own data order and packing: shard sampling (stratified and Latin-square phase cycling kept), "
             "sequence-length schedule, loss masking, shuffling. Pitfalls: never read validation data; changes "
             "that slow the loader cost training steps within the 600 s."),
    "loss": ("You own the objective: cross-entropy variants, z-loss (TTT-only z-loss kept), auxiliary heads, label "
             "smoothing. Pitfalls: an auxiliary head adds bytes to the artifact and time to eval; a loss that "
             "changes the scale of the logits interacts with the softcap."),
    "reg": ("You own regularization: dropout, stochastic depth, weight-decay targeting, token-level augmentation. "
            "Pitfalls: at 600 s of training the model is under-trained, so regularization that slows learning "
            "usually loses; prefer targeted changes."),
    "eval": ("You own evaluation: sliding-window stride (64), KV reuse, calibration at inference; causal, normalized, "
             "single pass. Pitfalls: the eval budget is nearly spent; a smaller stride is more accurate and slower. "
             "Any change must keep the score a legal causal estimate."),
    "meta": ("You are the analyst: small-radius hyperparameter moves across recent keeps - combine what worked, "
             "revisit a near-miss with a smaller step, undo a regression. One or two numbers per trial, chosen from "
             "the lineage's evidence; say which keeps you are combining."),
}

RADIUS_CIFAR = ("Edit radius: the score is the shell-measured training time, valid only if mean accuracy over 10 "
                "cold seeds is >= 0.96. Most trials (83%) missed that gate: trade time for accuracy deliberately, "
                "with the margin in mind (the baseline sits near 0.9594-0.9601).")
AIRBENCH96 = {
    "arch": ("You own the network: CifarNet widths and depth, the whitening layer, test-time augmentation level. "
             "Pitfalls: narrower nets train faster but miss the gate; every arch trial in the published run was "
             "disqualified or crashed in preflight - change one structural thing and check."),
    "opt": ("You own the optimizer: SGD learning rate, momentum, Nesterov, weight decay, warmup and decay (warmup "
            "10% -> 5% kept), Muon. Known keeps: epochs 45 -> 44 -> 42 with lr 9 -> 11 and evaluations skipped."),
    "aug": ("You own augmentation: flip, translate, cutout, TTA. Known keep: one more epoch with per-epoch logging "
            "evals skipped. Pitfalls: stronger augmentation needs more epochs to reach the gate."),
    "loss": ("You own the loss: label smoothing, PolyLoss, focal loss. A loss that converges faster is worth time "
             "only through fewer epochs, the real lever on train_s. Pitfalls: smoothing changes confidence and so "
             "what test-time augmentation adds; judge the gate over 10 cold seeds, not one lucky run."),
    "reg": ("You own regularization and the epoch count against the gate: EMA/Lookahead, weight-decay schedule, "
            "stochastic depth. Known keep: 43 epochs with evaluation every 5 epochs."),
}

RADIUS_NC = ("Edit radius: the run is a fixed 90-minute wall cap on 8 GPUs at depth 12 (--depth is fixed), scored by "
             "CORE (higher is better). The published gains came mostly from spending unused wall budget on a longer "
             "token horizon (target-param-data-ratio 12 -> 100 -> 130) and from making every layer take the fast "
             "attention path; structural edits are welcome but must finish within the cap.")
NANOCHAT = {
    "arch": ("You own the model at depth 12: aspect ratio and head dim, value embeddings, activations, logit softcap "
             "and bias (a learnable zero-init logit_bias after lm_head was the last keep). Keep --depth 12."),
    "opt": ("You own Muon and AdamW: Newton-Schulz iterations, parameter groups, weight-decay mechanics, betas, eps. "
            "Pitfalls: optimizer changes that slow a step cost horizon within the cap."),
    "data": ("You own packing, BOS handling, sharding and sequence length in the dataloader and tokenizer call "
             "sites. The vocabulary is frozen."),
    "sched": ("You own schedules and horizon: the LR multiplier, Muon momentum, weight decay, target param-data "
              "ratio, batch and LR scaling. Spend the wall clock: the baseline trained ~9 min of 90."),
    "sys": ("You own execution speed and stability with the same model and recipe: FP8, the attention backend "
            "(window pattern SSSL -> L put every layer on the Flash SDPA path), compile, precision."),
}

BRIEFS = {"parameter-golf": (PARAMETER_GOLF, RADIUS_PG, RULES_PG), "airbench96": (AIRBENCH96, RADIUS_CIFAR, ""),
          "nanochat-d12": (NANOCHAT, RADIUS_NC, "")}


def brief(task: str, key: str, short: str) -> str:
    """The long brief of `key` on `task` (its summary first), or `short` when there is none."""
    domain, radius, rules = BRIEFS.get(task, ({}, "", ""))
    if key not in domain:
        return short
    return " ".join(p for p in (short, domain[key], radius, rules) if p)
