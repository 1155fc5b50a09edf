"""The cheap preflight: what can be decided about a recipe from its code alone, in well under a
second and without running it, before a trial is spent on it.

Two checks hold for every environment: each recipe file compiles (the compiler rejects more than
the parser: `return` outside a function, a misplaced `nonlocal`), and every name the harness
reads from a recipe module (`recipe.train`, `from model import load`) is still defined at its top
level. An environment adds its own through `EnvironmentSpec.preflight(code, tier)`: a byte cap
it can measure on the code, a fixed value the evaluator will insist on. A check passes when the
code cannot be shown to fail it: the evaluator still decides the outcome from the trial itself.
"""

from __future__ import annotations

import ast

from environments.source import compile_check, literal_value, parse
from environments.spec import EnvironmentSpec, Tier
from events import Check


def run(spec: EnvironmentSpec, code: dict[str, bytes], tier: Tier) -> list[Check]:
    """Every preflight check of `code` (a whole recipe) under `tier`, passed or not."""
    checks = [compiles(code), harness_names(spec, code)]
    return checks + (list(spec.preflight(code, tier)) if spec.preflight else [])


def compiles(code: dict[str, bytes]) -> Check:
    files = sorted(p for p in code if p.endswith(".py"))
    for path in files:
        try:
            compile_check(code[path], path)
        except SyntaxError as exc:
            return Check(name="compiles", passed=False, evidence=f"{path}:{exc.lineno}: {exc.msg}")
    return Check(name="compiles", passed=True, evidence=f"{len(files)} recipe file(s) compile")


def harness_names(spec: EnvironmentSpec, code: dict[str, bytes]) -> Check:
    """Whether the recipe still defines what the harness reads from it: a rename here is otherwise
    a crash found only after the smoke run."""
    needed = harness_reads(spec)
    if not needed:
        return Check(name="harness_names", passed=True, evidence="the harness reads no names from the recipe")
    missing, unsure = [], []
    for path, names in sorted(needed.items()):
        try:
            defined = top_level_names(code[path]) if path in code else set()
        except (SyntaxError, ValueError):
            defined = None  # `compiles` reports it
        if defined is None:
            unsure.append(path)
            continue
        missing += [f"{path}: {n} ({', '.join(sorted(where))})" for n, where in sorted(names.items()) if n not in defined]
    read = "; ".join(f"{p}: {', '.join(sorted(n))}" for p, n in sorted(needed.items()))
    if missing:
        return Check(name="harness_names", passed=False, evidence="the harness reads names the recipe no longer "
                     "defines at top level: " + "; ".join(missing))
    note = f" (not decidable for {', '.join(unsure)}: a star import or a module __getattr__)" if unsure else ""
    return Check(name="harness_names", passed=True, evidence=f"the harness reads {read}: all defined{note}")


def harness_reads(spec: EnvironmentSpec) -> dict[str, dict[str, set[str]]]:
    """recipe file -> name -> the harness files that read it, from `import m [as x]` followed by
    `x.name`, and `from m import name`. Harness files are fixed, so this is the same every call."""
    modules = {rel[:-3].replace("/", "."): rel for rel in spec.recipe_files if rel.endswith(".py")}
    out: dict[str, dict[str, set[str]]] = {}
    for name in spec.harness_files:
        path = spec.root / "harness" / name
        if not path.is_file():
            continue
        tree = ast.parse(path.read_bytes(), filename=name)
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases |= {a.asname or a.name: a.name for a in node.names if a.name in modules
                            and (a.asname or "." not in a.name)}
            elif isinstance(node, ast.ImportFrom) and node.module in modules and not node.level:
                for a in node.names:
                    if a.name != "*":
                        out.setdefault(modules[node.module], {}).setdefault(a.name, set()).add(name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                out.setdefault(modules[aliases[node.value.id]], {}).setdefault(node.attr, set()).add(name)
    return out


def top_level_names(source: bytes) -> set[str] | None:
    """Names bound at module scope, or None where that cannot be told statically (a star import,
    a module `__getattr__`, writes through `globals()`)."""
    tree = parse(source)
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if node.name == "__getattr__" and not isinstance(node, ast.ClassDef):
                return None  # any name may resolve
            pending += node.decorator_list  # its body is another scope; `global` is counted below
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue  # their own scopes
        else:
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
            pending += ast.iter_child_nodes(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            names |= set(node.names)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("globals", "vars"):
            return None
    return names


def literal(source: bytes, name: str):
    """The value of the last module-level `NAME = <literal>`. Raises LookupError when there is
    none or its value is not a literal (then the check cannot be decided from the code)."""
    value, found = None, False
    for node in parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                value, found = literal_value(node.value), True
            except ValueError:
                raise LookupError(f"{name} is not a literal") from None
    if not found:
        raise LookupError(f"no top-level {name} = ...")
    return value


def byte_cap(name: str, measured: int, cap: int, what: str, shared_with: str = "the model") -> Check:
    """`measured` bytes against a cap. Where the cap is shared (code + model), code over it alone
    cannot pass whatever the rest weighs; `shared_with=""` when `measured` is the whole artifact."""
    rest = f" before any bytes of {shared_with}" if shared_with else ""
    if measured > cap:
        return Check(name=name, passed=False, measured=float(measured), limit=float(cap),
                     evidence=f"{what} {measured:,} bytes, over the {cap:,}-byte cap by {measured - cap:,}{rest}: "
                              "the trial would be size_blocked")
    left = f"; {cap - measured:,} left for {shared_with}" if shared_with else ""
    return Check(name=name, passed=True, measured=float(measured), limit=float(cap),
                 evidence=f"{what} {measured:,} bytes of the {cap:,}-byte cap{left}")
