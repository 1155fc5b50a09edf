"""`autorecipe init NAME --recipe train.py`: a working environment package around a user's
training script, which `autorecipe check NAME:SPEC` passes and `autorecipe run --env NAME:SPEC`
runs as it is. The files come from the templates beside this module; what is filled in is the
name, the metric and one technique found in the script (its first top-level `NAME = number`).
"""

from __future__ import annotations

import ast
import keyword
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from environments.source import parse
from events.ranking import DIRECTIONS

TEMPLATES = Path(__file__).parent / "templates"


class ScaffoldError(ValueError):
    pass


@dataclass(frozen=True)
class Knob:
    """A top-level numeric constant of the script: the scaffold's one technique varies it."""

    name: str
    line: str  # the whole source line, the technique's SEARCH text
    values: tuple[str, str]  # milder to stronger: half, then double


def find_knob(source: str) -> Knob | None:
    try:
        tree = parse(source)
    except SyntaxError as exc:
        raise ScaffoldError(f"the recipe does not parse: line {exc.lineno}: {exc.msg}") from None
    lines = source.splitlines()
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if not (isinstance(value, ast.Constant) and type(value.value) in (int, float)) or node.lineno != node.end_lineno:
            continue
        line, v = lines[node.lineno - 1], value.value
        if source.count(line) != 1 or v == 0:
            continue
        values = (str(max(1, v // 2)), str(v * 2)) if isinstance(v, int) else (repr(v / 2), repr(v * 2))
        if str(v) in values:
            continue
        return Knob(node.targets[0].id, line, values)
    return None


def frameworks(source: str, beside: Path) -> tuple[str, ...]:
    """The installed packages the recipe imports (top-level names, neither the standard library's
    nor files beside the recipe): the harness imports them before its audit hook, whose reports
    are for what the recipe does, not for a framework's own start-up."""
    names = set()
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return tuple(sorted(n for n in names if n not in sys.stdlib_module_names and n != "__future__"
                        and not (beside / f"{n}.py").exists() and not (beside / n).is_dir()))


def scaffold(name: str, recipe: Path, where: Path, metric: str = "loss", direction: str = "minimize",
             budget_s: float = 300.0) -> Path:
    """Write the package `where/name` and return its folder."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ScaffoldError(f"{name!r} must be a Python identifier (it is the package's name): e.g. my_env")
    if direction not in DIRECTIONS:
        raise ScaffoldError(f"direction {direction!r}: minimize or maximize")
    if not metric.isidentifier():
        raise ScaffoldError(f"metric {metric!r} must be a plain name such as val_loss")
    recipe = Path(recipe)
    if not recipe.is_file() or recipe.suffix != ".py":
        raise ScaffoldError(f"{recipe}: not a Python file")
    folder = Path(where) / name
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists; pick another NAME or remove it")
    source = recipe.read_text()
    knob = find_knob(source)
    fields = {"NAME": name, "RECIPE": recipe.name, "METRIC": metric, "DIRECTION": direction,
              "BUDGET_S": f"{budget_s:g}", "SPEC_NAME": name.replace("_", "-"),
              "FRAMEWORKS": repr(frameworks(source, recipe.parent))}
    folder.mkdir(parents=True)
    try:
        for template in sorted(TEMPLATES.rglob("*.tmpl")):
            rel = template.relative_to(TEMPLATES).with_suffix("")
            text = template.read_text()
            for key, value in fields.items():
                text = text.replace("{{" + key + "}}", value)
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        (folder / "recipe").mkdir(exist_ok=True)
        shutil.copy2(recipe, folder / "recipe" / recipe.name)
        (folder / "techniques.py").write_text(_techniques(recipe.name, knob))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _techniques(recipe: str, knob: Knob | None) -> str:
    head = ('"""The offline proposer\'s ideas: each Technique is one SEARCH/REPLACE edit per value.\n\n'
            "`{value}` in the hypothesis and the edits is replaced literally, by each of `values` in\n"
            "turn, from mild to strong (after a failure the proposer backs off toward the start).\n"
            "The SEARCH text must occur exactly once in the baseline: `autorecipe check` says when not.\n"
            '"""\n\nfrom environments.spec import Edit, Technique\n\n')
    if knob is None:
        return head + ("# No top-level NAME = number was found in the recipe to vary; add your own, e.g.\n"
                       f"# Technique(\"lr\", \"recipe\", \"LR {{value}}\", (Edit(\"{recipe}\", \"LR = 0.1\", "
                       "\"LR = {value}\"),), values=(\"0.05\", \"0.2\"))\nTECHNIQUES = ()\n")
    replace = knob.line.replace(knob.line.strip(), f"{knob.name} = {{value}}")
    hypothesis = f"{knob.name} = {{value}} makes the recipe better"
    return head + (
        "TECHNIQUES = (\n"
        f"    Technique(\n        name={knob.name.lower()!r},\n        specialist=\"recipe\",\n"
        f"        hypothesis={hypothesis!r},\n"
        f"        edits=(Edit({recipe!r}, {knob.line!r}, {replace!r}),),\n"
        f"        values={knob.values!r},\n    ),\n)\n")
