"""What an environment is: the recipe being improved, the harness that runs it, the budgets, the
specialists and their surfaces, the data it needs and who judges it.

A user writes one of these for their own recipe (README: "Add your own environment"). Paths in a
spec are relative to the spec's `root` folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from events.schema import Direction


@dataclass(frozen=True)
class Budget:
    """Seconds a phase may take, measured by the executor. Past `seconds` the phase is over
    budget; at `seconds * kill_factor` the watchdog kills it."""

    seconds: float
    kill_factor: float = 1.25
    measure: str = "cpu"  # "cpu" (child user+sys, robust on shared machines) or "wall"


@dataclass(frozen=True)
class Stage:
    """A part of one phase's process that the executor times and kills on its own budget: it
    starts at the first output line matching `starts` (the first stage starts with the process)
    and ends where the next stage starts. Upstream trainers that train and then evaluate in one
    process get separate train and eval watchdogs this way."""

    name: str
    starts: str = ""  # a regular expression, searched in each output line


@dataclass(frozen=True)
class Phase:
    """One harness phase. `argv` is run in the trial's work dir with `{python}`, `{seed}` and
    `{repeat}` substituted; `repeats` cold processes run one after another (seeded 0..n-1)."""

    name: str  # smoke, train, eval, pack, ...
    argv: tuple[str, ...]
    repeats: int = 1
    optional: bool = False  # a failure here does not stop later phases
    heldout: tuple[str, ...] = ()  # held-out files this phase's judge reads; never where recipe code runs
    stages: tuple[Stage, ...] = ()  # timed parts, each with its own budget in the tier; none: the phase is one
    hidden: tuple[Path, ...] = ()  # folders and files this phase must not see (an eval bundle while training)
    # A judge (a script relative to the spec's root) that drives this phase's process over two
    # pipes and alone computes what the score is made of. It runs as the executor's user, outside
    # the sandbox, with AUTORECIPE_HELDOUT (the prepared held-out folder), AUTORECIPE_CARRIED (the
    # outputs carried into this phase, as earlier phases left them), AUTORECIPE_JUDGE_TO/FROM (its
    # pipe ends) and the tier's environment; what it writes in its working folder becomes the
    # outputs judge/<name>. The phase's process gets AUTORECIPE_JUDGE_IN/OUT (environments/common/wire.py).
    judge: str = ""
    # Files of out/ (globs) that later phases see, re-staged read-only; everything else in out/ and
    # all of tmp/ is gone before the next phase or repeat. None: out/ is left as it is (tmp/ is
    # still fresh), for environments that have not declared what crosses.
    carries: tuple[str, ...] | None = None
    # Files of out/ (globs, `{seed}` and `{repeat}` substituted) this phase's outputs are recorded
    # from; None: the environment's `outputs`. Where each repeat must make its own file, say so:
    # otherwise a file an earlier phase wrote under a repeat's name is recorded as the repeat's.
    outputs: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Tier:
    name: str  # micro, standard, full
    budgets: dict[str, Budget]  # phase name -> budget
    repeats: dict[str, int] = field(default_factory=dict)  # phase name -> cold processes
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every phase
    limits: dict[str, float] = field(default_factory=dict)  # environment-specific caps (bytes, gate, ...)


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0
    memory_bytes: int | None = 2 * 1024**3  # address space; None for GPU trials (CUDA maps far more than it uses)
    threads: int = 1  # OMP/MKL/OpenBLAS/torch threads, fixed by the harness
    processes: int = 64  # threads count too: a torchrun of 8 ranks needs thousands
    file_bytes: int = 256 * 1024**2  # the largest file a trial may write (checkpoints)
    disk_bytes: int | None = 1024**3  # all a trial may hold under out/ and tmp/ at once
    # resident memory of all of a phase's processes together (and the tmpfs they fill), held by a
    # cgroup; None: memory_bytes plus 1 GiB, or, for GPU trials, 80% of the machine's memory
    ram_bytes: int | None = None


@dataclass(frozen=True)
class Surface:
    """What one specialist may change: whole files, or named regions inside them (between
    `# region NAME` and `# endregion NAME` comments)."""

    files: tuple[str, ...]
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Specialist:
    name: str
    surface: Surface
    brief: str


@dataclass(frozen=True)
class Edit:
    """A SEARCH/REPLACE edit on one recipe file, the format LLM agents use too."""

    path: str
    search: str
    replace: str

    @staticmethod
    def after(path: str, anchor: str, code: str, indent: str = "    ") -> Edit:
        """Insert `code`, each line indented by `indent`, right after the line `anchor`."""
        return Edit(path, anchor, anchor + "".join(f"{indent}{line}\n" for line in code.strip().splitlines()))


@dataclass(frozen=True)
class Technique:
    """A parameterized idea for the offline proposer: one edit per parameter value. `{value}` in
    the hypothesis and the edits is replaced literally (no str.format: recipes are full of braces)."""

    name: str
    specialist: str
    hypothesis: str  # may use {value}
    edits: tuple[Edit, ...]  # search/replace may use {value}
    values: tuple[str, ...] = ("",)  # from mild to strong: backing off moves toward the start
    expected_delta: float | None = None
    tags: tuple[str, ...] = ()  # what else it does: "smaller" (cuts artifact bytes), "faster" (cuts time)


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    description: str
    root: Path
    recipe_files: tuple[str, ...]  # editable, relative to root/recipe
    harness_files: tuple[str, ...]  # re-staged for every trial, relative to root/harness
    phases: tuple[Phase, ...]
    tiers: dict[str, Tier]
    resources: Resources
    specialists: tuple[Specialist, ...]
    metric: str
    direction: Direction
    evaluator: str  # importable "module:function"
    prepare: Callable[..., dict]  # prepare(folder, cache, log) -> what was made; idempotent
    train_data: tuple[str, ...]  # files of the prepared train/ folder a trial sees; nothing else is staged
    outputs: tuple[str, ...] = ()  # files under out/ that the executor stores as blobs (globs)
    techniques: tuple[Technique, ...] = ()
    noise_margin: float = 0.0
    timed_score: bool = False  # the score is a measured time: one trial is a noisy sample of it
    recipe_root: Path | None = None  # where the editable files are read from; None: root/recipe
    recipe_tree: Path | None = None  # a checkout copied under recipe/ first (the editable files go over it)
    reach: tuple[Path, ...] = ()  # folders outside the work dir a trial reads: datasets, toolchains
    # preflight(code, tier) -> [events.Check]: what this environment can decide from a recipe's code
    # alone, in milliseconds (a byte cap on the code, a fixed value); an agent's `check` tool runs it
    # before it spends a trial. environments/preflight.py adds the checks every environment gets.
    preflight: Callable[[dict[str, bytes], Tier], list] | None = None
    # regexes for the harness's progress lines (environments/progress.py): named groups step,
    # total and any metric (train_loss, ...); the executor turns matches into trial.progress
    progress: tuple[str, ...] = ()

    def tier(self, name: str) -> Tier:
        try:
            return self.tiers[name]
        except KeyError:
            raise KeyError(f"{self.name} has no tier {name!r}; it has {', '.join(self.tiers)}") from None

    def recipe_path(self, rel: str) -> Path:
        return (self.recipe_root or self.root / "recipe") / rel

    def baseline_code(self) -> dict[str, bytes]:
        return {rel: self.recipe_path(rel).read_bytes() for rel in self.recipe_files}

    def specialist(self, name: str) -> Specialist:
        for s in self.specialists:
            if s.name == name:
                return s
        raise KeyError(f"{self.name} has no specialist {name!r}")
