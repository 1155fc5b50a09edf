"""`autorecipe check ENV`: an environment validated before any trial is spent on it.

Every field of the spec, the budgets against the phases (and their stages), the surfaces'
files and regions against the recipe, the evaluator (it imports, and takes
`(executed, blobs, data, tier)`), `prepare(folder, cache, log)` and the data it makes, and each
technique's edits against the baseline (an arm whose SEARCH text matches nothing would be
dropped silently and the run end "exhausted": an error, or a warning with `--lenient`).
Each problem names the field and the file it is in. `run` and `trial` run the same check first.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from agents.library import Arm, rebase_edit
from environments.spec import Budget, EnvironmentSpec, Phase, Tier
from events.ranking import DIRECTIONS

REGION = re.compile(r"^\s*#\s*(end)?region\s+(\S+)\s*$", re.M)
MEASURES = ("cpu", "wall")


@dataclass
class Report:
    source: str  # the file the spec is defined in
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, where: str, what: str) -> None:
        self.errors.append(f"{self.source}: {where}: {what}")

    def warn(self, where: str, what: str) -> None:
        self.warnings.append(f"{self.source}: {where}: {what}")

    @property
    def ok(self) -> bool:
        return not self.errors


def source_of(name: str) -> str:
    """The file an environment's spec is written in, for messages."""
    from environments import registry

    if name in registry.adapters():
        module = registry.adapter_module(name)
    elif name in registry.names():
        module = registry.package(name)
    else:
        module = name.partition(":")[0]
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    return found.origin if found is not None and found.origin else module


def check(spec: EnvironmentSpec, source: str, lenient: bool = False, data: bool = True, log=lambda m: None) -> Report:
    report = Report(source)
    _fields(spec, report)
    phases = _phases(spec, report)
    _tiers(spec, phases, report)
    code = _recipe(spec, report)
    _surfaces(spec, code, report)
    _evaluator(spec, report)
    _prepare(spec, report, data, log)
    _techniques(spec, code, report, lenient)
    return report


def _fields(spec: EnvironmentSpec, r: Report) -> None:
    if not isinstance(spec.name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.name or ""):
        r.error("name", f"{spec.name!r} must be a plain name (letters, digits, . _ -): it names the data folder")
    if not isinstance(spec.root, Path) or not spec.root.is_dir():
        r.error("root", f"{spec.root!r} is not a folder (write root=Path(__file__).parent)")
    if spec.direction not in DIRECTIONS:
        r.error("direction", f"{spec.direction!r}: write one of {', '.join(DIRECTIONS)}")
    if not isinstance(spec.metric, str) or not spec.metric:
        r.error("metric", "name the score (e.g. val_loss)")
    if not isinstance(spec.noise_margin, (int, float)) or spec.noise_margin < 0:
        r.error("noise_margin", f"{spec.noise_margin!r} must be a number >= 0")
    res = spec.resources
    for name in ("cpus", "gpus"):
        value = getattr(res, name)
        if not isinstance(value, (int, float)) or value < 0:
            r.error(f"resources.{name}", f"{value!r} must be a number >= 0")
    for name in ("threads", "processes", "file_bytes"):
        value = getattr(res, name)
        if not isinstance(value, int) or value < 1:
            r.error(f"resources.{name}", f"{value!r} must be a whole number >= 1")
    for name in ("memory_bytes", "disk_bytes"):
        value = getattr(res, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            r.error(f"resources.{name}", f"{value!r} must be a whole number of bytes, or None for no cap")
    for pattern in spec.outputs:
        if pattern.startswith(("out/", "/")):
            r.error("outputs", f"{pattern!r}: outputs are names inside out/, without the out/ prefix "
                               f"(write {pattern.split('/')[-1]!r})")
    if spec.recipe_tree is not None and not Path(spec.recipe_tree).is_dir():
        r.error("recipe_tree", f"{spec.recipe_tree} is not a folder")
    if spec.recipe_root is not None and not Path(spec.recipe_root).is_dir():
        r.error("recipe_root", f"{spec.recipe_root} is not a folder")
    for path in spec.reach:
        if not Path(path).exists():
            r.warn("reach", f"{path} does not exist on this machine (trials read it)")
    if spec.preflight is not None and not callable(spec.preflight):
        r.error("preflight", "must be a function (code, tier) -> [Check], or None")


def _phases(spec: EnvironmentSpec, r: Report) -> dict[str, Phase]:
    phases: dict[str, Phase] = {}
    if not spec.phases:
        r.error("phases", "no phase: a trial would run nothing")
    for i, phase in enumerate(spec.phases):
        where = f"phases[{i}]"
        if not isinstance(phase, Phase):
            r.error(where, f"a {type(phase).__name__}, not a Phase")
            continue
        if phase.name in phases:
            r.error(f"{where}.name", f"{phase.name!r} is used twice")
        phases[phase.name] = phase
        if not phase.argv or not all(isinstance(a, str) for a in phase.argv):
            r.error(f"{where}.argv", f"{phase.argv!r} must be a non-empty tuple of strings, e.g. "
                                     "(\"{python}\", \"harness/run.py\")")
        if not isinstance(phase.repeats, int) or phase.repeats < 1:
            r.error(f"{where}.repeats", f"{phase.repeats!r} must be a whole number >= 1")
    for rel in _names(spec.harness_files, "harness_files", r):
        if not (spec.root / "harness" / rel).is_file():
            r.error("harness_files", f"{rel!r}: no file {spec.root / 'harness' / rel}")
    return phases


def _names(names, field: str, r: Report) -> list[str]:
    """The file names of `field` that can be staged: relative paths that stay inside their folder
    (the trial runner refuses any other, so check says so first); the others are errors."""
    if isinstance(names, str):
        r.error(field, f"{names!r} must be a tuple of file names, e.g. ({names!r},)")
        return []
    good = []
    for rel in names:
        parts = Path(rel).parts if isinstance(rel, str) else ()
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in parts:
            r.error(field, f"{rel!r} must be a path relative to its folder that stays inside it (no '..', "
                           "not absolute)")
        else:
            good.append(rel)
    return good


def _tiers(spec: EnvironmentSpec, phases: dict[str, Phase], r: Report) -> None:
    if not spec.tiers:
        r.error("tiers", "no tier: write at least one, e.g. {\"micro\": Tier(\"micro\", {...})}")
    timed = {st.name for p in phases.values() for st in p.stages} | {p.name for p in phases.values() if not p.stages}
    for key, tier in spec.tiers.items():
        where = f"tiers[{key!r}]"
        if not isinstance(tier, Tier):
            r.error(where, f"a {type(tier).__name__}, not a Tier")
            continue
        if tier.name != key:
            r.error(f"{where}.name", f"{tier.name!r} differs from its key {key!r}")
        for name, budget in tier.budgets.items():
            if name not in timed:
                r.error(f"{where}.budgets", f"{name!r} names no phase or stage (they are {', '.join(sorted(timed))})")
            if not isinstance(budget, Budget):
                r.error(f"{where}.budgets[{name!r}]", f"a {type(budget).__name__}, not a Budget")
                continue
            if not isinstance(budget.seconds, (int, float)) or budget.seconds <= 0:
                r.error(f"{where}.budgets[{name!r}].seconds", f"{budget.seconds!r} must be > 0")
            if not isinstance(budget.kill_factor, (int, float)) or budget.kill_factor < 1:
                r.error(f"{where}.budgets[{name!r}].kill_factor", f"{budget.kill_factor!r} must be >= 1")
            if budget.measure not in MEASURES:
                r.error(f"{where}.budgets[{name!r}].measure", f"{budget.measure!r}: write one of {', '.join(MEASURES)}")
        for p in phases.values():
            needed = [p.name] + [st.name for st in p.stages]
            for name in needed:
                if name not in tier.budgets:
                    r.error(f"{where}.budgets", f"phase {p.name!r} has no budget {name!r}: every trial would fail "
                                                "before it ran")
        for name, n in tier.repeats.items():
            if name not in phases:
                r.error(f"{where}.repeats", f"{name!r} names no phase (they are {', '.join(phases)})")
            elif not isinstance(n, int) or n < 1:
                r.error(f"{where}.repeats[{name!r}]", f"{n!r} must be a whole number >= 1")


def _recipe(spec: EnvironmentSpec, r: Report) -> dict[str, bytes]:
    code = {}
    if not spec.recipe_files:
        r.error("recipe_files", "no recipe file: there would be nothing to improve")
    for rel in _names(spec.recipe_files, "recipe_files", r):
        path = spec.recipe_path(rel)
        if not path.is_file():
            r.error("recipe_files", f"{rel!r}: no file {path}")
            continue
        code[rel] = path.read_bytes()
        if rel.endswith(".py"):
            try:
                compile(code[rel], str(path), "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                r.error("recipe_files", f"{path}: the baseline does not compile: {exc}")
    return code


def _surfaces(spec: EnvironmentSpec, code: dict[str, bytes], r: Report) -> None:
    if not spec.specialists:
        r.error("specialists", "no specialist: nobody would propose anything")
    seen = set()
    for s in spec.specialists:
        where = f"specialists[{s.name!r}]"
        if s.name in seen:
            r.error(where, "the name is used twice")
        seen.add(s.name)
        for f in s.surface.files:
            if f not in spec.recipe_files:
                r.error(f"{where}.surface.files", f"{f!r} is not a recipe file ({', '.join(spec.recipe_files)})")
        for region in s.surface.regions:
            marks = {(m.group(1) or "", m.group(2)) for f in s.surface.files if f in code
                     for m in REGION.finditer(code[f].decode(errors="replace"))}
            for end, word in (("", "# region"), ("end", "# endregion")):
                if (end, region) not in marks:
                    r.error(f"{where}.surface.regions", f"{region!r}: no line `{word} {region}` in "
                                                        f"{', '.join(s.surface.files)}")


def _evaluator(spec: EnvironmentSpec, r: Report) -> None:
    module, sep, name = (spec.evaluator or "").partition(":")
    if not sep or not module or not name:
        r.error("evaluator", f"{spec.evaluator!r}: write \"package.module:function\"")
        return
    try:
        fn = getattr(importlib.import_module(module), name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to see
        r.error("evaluator", f"{spec.evaluator!r} does not import: {type(exc).__name__}: {exc} "
                             "(is its package on PYTHONPATH?)")
        return
    _takes(fn, ("executed", "blobs", "data", "tier"), "evaluator", r)


def _takes(fn, args: tuple[str, ...], where: str, r: Report) -> bool:
    if not callable(fn):
        r.error(where, f"{fn!r} is not a function")
        return False
    try:
        inspect.signature(fn).bind(*args)
    except TypeError as exc:
        r.error(where, f"must take ({', '.join(args)}): {exc}")
        return False
    except ValueError:  # a builtin without a signature: cannot tell
        pass
    return True


def _prepare(spec: EnvironmentSpec, r: Report, data: bool, log) -> None:
    if not _takes(spec.prepare, ("folder", "cache", "log"), "prepare", r) or not data:
        return
    from environments.data import prepared_data

    try:
        folder = prepared_data(spec, log=log)
    except Exception as exc:  # noqa: BLE001
        r.error("prepare", f"preparing the data failed: {type(exc).__name__}: {exc}")
        return
    for rel in spec.train_data:
        if not (folder / "train" / rel).is_file():
            r.error("train_data", f"{rel!r}: prepare made no {folder / 'train' / rel}")
    for p in spec.phases:
        for rel in p.heldout:
            if not (folder / "heldout" / rel).is_file():
                r.error(f"phases[{p.name!r}].heldout", f"{rel!r}: prepare made no {folder / 'heldout' / rel}")


def _techniques(spec: EnvironmentSpec, code: dict[str, bytes], r: Report, lenient: bool) -> None:
    names = {s.name for s in spec.specialists}
    for t in spec.techniques:
        where = f"techniques[{t.name!r}]"
        if t.specialist not in names:
            r.error(f"{where}.specialist", f"{t.specialist!r} is no specialist ({', '.join(sorted(names))})")
        if not t.values:
            r.error(f"{where}.values", "no value: the technique has no arm (write values=(\"\",) for one)")
        for value in t.values:
            for i, edit in enumerate(Arm(t, value).edits()):
                at = f"{where}.edits[{i}]" + (f" with value {value!r}" if value else "")
                if edit.path not in code:
                    r.error(at, f"{edit.path!r} is not a recipe file ({', '.join(spec.recipe_files)})")
                    continue
                if rebase_edit(code, edit) is not None:
                    continue
                count = code[edit.path].decode(errors="replace").count(edit.search)
                if count == 1:  # the value the baseline already has: this arm changes nothing
                    r.warn(at, "changes nothing in the baseline (it already has this value)")
                    continue
                what = "matches nothing in" if count == 0 else f"matches {count} places in"
                say = r.warn if lenient else r.error
                say(at, f"the SEARCH text {edit.search[:60]!r} {what} the baseline {edit.path}: this arm would be "
                        "dropped" + ("" if lenient else " (--lenient makes this a warning)"))
