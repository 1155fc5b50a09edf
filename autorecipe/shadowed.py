"""Our top-level packages carry names other projects use too (`events` is among the package
index's most downloaded). Before any of them is imported, check that each name resolves to ours,
the folder beside `autorecipe/`, and whose `__init__.py` is the one our install recorded; a
package found elsewhere, or installed over ours, is named with where it is and how to fix it,
instead of an ImportError deep inside a command. Standard library only: this runs first.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGES = ("events", "actors", "agents", "environments", "evaluators", "examples")
HOME = Path(__file__).resolve().parent.parent  # the folder that holds autorecipe/ holds the others too
README_SECTION = 'README: "Install it in its own environment"'


def found_at(name: str) -> Path | None:
    """Where Python would import `name` from (a package's folder, a module's file); None if nowhere."""
    try:
        spec = importlib.util.find_spec(name)  # a top-level name: located, not imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(spec.origin).resolve() if spec.origin else None


def recorded_hashes(home: Path = HOME) -> dict[str, str]:
    """`name/__init__.py` -> its sha256 as our wheel's RECORD lists it; empty for a checkout or an
    editable install, where the location check is the whole check."""
    for record in home.glob("autorecipe-*.dist-info/RECORD"):
        out = {}
        for line in record.read_text(errors="replace").splitlines():
            path, _, rest = line.partition(",")
            digest = rest.partition(",")[0]
            if path.endswith("/__init__.py") and path.count("/") == 1 and digest.startswith("sha256="):
                out[path] = digest.removeprefix("sha256=")
        return out
    return {}


def file_hash(path: Path) -> str:
    """As a wheel's RECORD writes it: urlsafe base64 of the sha256, unpadded."""
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()


def installed_over(name: str, home: Path = HOME) -> list[str]:
    """The other distributions whose RECORD also claims `name/__init__.py`: who wrote over ours."""
    out = []
    for record in home.glob("*.dist-info/RECORD"):
        if not record.parent.name.startswith("autorecipe-") and f"\n{name}/__init__.py," in "\n" + record.read_text(
                errors="replace"):
            out.append(record.parent.name.removesuffix(".dist-info"))
    return out


def problems(home: Path = HOME) -> list[str]:
    """One sentence per package name that does not resolve to ours; empty when all is well."""
    out = []
    hashes = recorded_hashes(home)
    for name in PACKAGES:
        ours, at = home / name, found_at(name)
        if at is None:
            out.append(f"Python finds no package `{name}`; autorecipe's own is expected at {ours}: "
                       "the install is incomplete")
        elif at != ours.resolve():
            out.append(f"`{name}` resolves to {at}, not to autorecipe's own at {ours} (another project's "
                       f"package or a folder named {name} earlier on sys.path)")
        elif f"{name}/__init__.py" in hashes and file_hash(at / "__init__.py") != hashes[f"{name}/__init__.py"]:
            others = installed_over(name, home)
            who = f" ({', '.join(others)})" if others else ""
            out.append(f"`{name}` at {at} is not the one autorecipe installed: another project's `{name}`{who} "
                       "was installed over it")
    return out


def refusal(found: list[str]) -> str:
    lines = "\n".join(f"  {p}" for p in found)
    return (f"error: autorecipe's own top-level packages are shadowed, so it cannot start:\n{lines}\n"
            f"autorecipe installs the packages {', '.join(PACKAGES)} at the top of its environment, and "
            "other projects use some of these names.\n"
            "Fix: install autorecipe into an environment of its own, e.g.\n"
            "  python -m venv ~/.venvs/autorecipe && ~/.venvs/autorecipe/bin/pip install PATH_TO_AUTORECIPE\n"
            "  (or: pipx install PATH_TO_AUTORECIPE, or uv tool install PATH_TO_AUTORECIPE)\n"
            f"and run it without a PYTHONPATH or current folder that holds a package of one of these names "
            f"({README_SECTION}).")


def refuse_if_shadowed() -> None:
    found = problems()
    if found:
        print(refusal(found), file=sys.stderr)
        sys.exit(2)
