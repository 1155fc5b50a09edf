"""Make the published fork's airbench96.py run on a machine without a GPU, its protocol untouched.

    python benchmarks/airbench_cpu_patch.py CHECKOUT     # CHECKOUT/multi_agent_cifar/airbench96.py, in place

CHECKOUT is a copy of cxcscmu/Auto-Research-Recipes outside this repository. What changes, and
nothing else (each replacement must match exactly once, or the script stops and says which):
  - `main` (the CUDA training: torch.cuda events, a compiled half-precision network) is replaced
    by a CPU stand-in that keeps its seeding (set_random_state(run, 0), data_seed = run), builds the
    real InfiniteCifarLoader for test and train (augmented with the run's seed), fits a
    nearest-class-mean classifier on one epoch of that loader, scores it with the script's own
    `evaluate` (with its test-time augmentation at hyp['net']['tta_level']) and prints the
    script's own rows (print_training_details) in the real order;
  - the loaders' `map_location='cuda'` and `.cuda()`, and make_net's `.cuda()`, become CPU;
  - `import torchvision` and `torchvision.transforms as T`: the only torchvision call left on the
    path once train.pt exists is T.Normalize, put in place with torchvision's own formula
    ((x - mean) / std per channel), because the package index here has only torchvision's CUDA
    wheel, which cannot load without libc10_cuda.
Untouched: the environment it reads (CIFAR_DATA_DIR, RUNS, SMOKE_TEST, MAGENT_SEED, WORKDIR), the
hyperparameters and the smoke override, the data loading and caching, the augmentation, the
evaluation, the RUNS loop with run = MAGENT_SEED + run, the summary lines, the result file
full_eval_results/<dir>/run_seed{N}.jsonl and logs/<uuid>/log.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

TORCHVISION = "import torchvision\nimport torchvision.transforms as T\n"
NORMALIZE = '''import types


class _Normalize:  # torchvision.transforms.Normalize on a tensor (torchvision/transforms/_functional_tensor.py)
    def __init__(self, mean, std):
        self.mean, self.std = torch.as_tensor(mean), torch.as_tensor(std)

    def __call__(self, x):
        return (x - self.mean.to(x.dtype).view(-1, 1, 1)) / self.std.to(x.dtype).view(-1, 1, 1)


T = types.SimpleNamespace(Normalize=_Normalize)  # autorecipe CPU patch: torchvision's CUDA wheel cannot load here
'''
STUB_MAIN = '''class NearestMean(nn.Module):  # autorecipe CPU patch: stands in for the trained network
    def __init__(self, means):
        super().__init__()
        self.means = means

    def forward(self, x):
        return -torch.cdist(x.float().flatten(1), self.means)


def main(run, hyp, model_proxy, model_trainbias, model_freezebias):
    # autorecipe CPU patch: the CUDA training replaced; seeding, loaders, evaluate() and the rows are the script's
    batch_size = hyp['opt']['batch_size']
    set_random_state(run, 0)
    data_seed = run
    test_loader = InfiniteCifarLoader(CIFAR_DATA_DIR, train=False, batch_size=2000)
    train_loader = InfiniteCifarLoader(CIFAR_DATA_DIR, train=True, batch_size=batch_size, aug=hyp['aug'],
                                       aug_seed=data_seed, order_seed=data_seed)
    steps_per_epoch = len(train_loader.images) // batch_size
    print('Main model parameters:', sum(p.numel() for p in model_trainbias.parameters()))
    print('Training small proxy...')
    print('Proxy parameters:', sum(p.numel() for p in model_proxy.parameters()))
    t0 = time.perf_counter()
    sums, counts = torch.zeros(10, 3 * 32 * 32), torch.zeros(10)
    for current_steps, (indices, inputs, labels) in zip(range(steps_per_epoch), train_loader):
        sums.index_add_(0, labels, inputs.float().flatten(1))
        counts += torch.bincount(labels, minlength=10)
    model = NearestMean(sums / counts.clamp(min=1)[:, None])
    epoch = 0
    train_loss = 0.0
    train_acc = evaluate(model, train_loader, tta_level=0)
    val_acc = evaluate(model, test_loader, tta_level=0)
    total_time_seconds = time.perf_counter() - t0
    print_training_details(locals(), is_final_entry=False)
    run = None # Only print the run number once
    tta_val_acc = evaluate(model, test_loader, tta_level=hyp['net']['tta_level'])
    total_time_seconds = time.perf_counter() - t0
    epoch = 'eval'
    print_training_details(locals(), is_final_entry=True)
    return tta_val_acc

'''
MAIN_START = "def main(run, hyp, model_proxy, model_trainbias, model_freezebias):\n"
MAIN_END = 'if __name__ == "__main__":\n'


def patch(text: str) -> str:
    for old, new in ((TORCHVISION, NORMALIZE), ("map_location='cuda'", "map_location='cpu'"),
                     ("torch.tensor([True]*len(self.images)).cuda()", "torch.tensor([True]*len(self.images))"),
                     ("net = net.half().cuda()", "net = net.half()")):
        if text.count(old) != 1:
            raise SystemExit(f"airbench_cpu_patch: expected {old!r} once, found it {text.count(old)} times")
        text = text.replace(old, new)
    if text.count(MAIN_START) != 1 or text.count(MAIN_END) != 1:
        raise SystemExit("airbench_cpu_patch: main() or the __main__ block is not where the fork has it")
    start, end = text.index(MAIN_START), text.index(MAIN_END)
    return text[:start] + STUB_MAIN + text[end:]


if __name__ == "__main__":
    path = Path(sys.argv[1]) / "multi_agent_cifar" / "airbench96.py"
    path.write_text(patch(path.read_text()))
    print(f"patched {path}")
