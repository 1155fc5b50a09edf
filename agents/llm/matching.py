"""Finding a model's SEARCH text in a file, tolerantly but never fuzzily.

The ladder, first rung with exactly one match wins: the exact text; the text with trailing
whitespace ignored on each line; the text at a uniform indent offset (the REPLACE text is then
re-indented by the same offset). No match, or several, is an error whose message quotes the
closest lines of the file with their numbers, so the model can correct itself. The result is an
exact edit (the file's own text as SEARCH), which is what gets recorded and re-applied.
"""

from __future__ import annotations

import difflib

from environments.spec import Edit


class MatchError(ValueError):
    pass


def resolve(files: dict[str, bytes], path: str, search: str, replace: str) -> Edit:
    if path not in files:
        raise MatchError(f"no recipe file {path!r}; the files are {', '.join(sorted(files))}")
    text = files[path].decode()
    search, replace = search.replace("\r\n", "\n"), replace.replace("\r\n", "\n")
    if not search.strip():
        raise MatchError("the SEARCH text is empty: quote the lines to change, exactly as they are in the file")
    count = text.count(search)
    if count == 1:
        return Edit(path, search, replace)
    if count > 1:
        raise MatchError(f"the SEARCH text occurs {count} times in {path}; include more surrounding lines so it "
                         "occurs once")
    lines, want = text.splitlines(keepends=True), search.splitlines()
    n = len(want)
    # trailing whitespace ignored
    hits = [i for i in range(len(lines) - n + 1)
            if [line.rstrip() for line in lines[i:i + n]] == [w.rstrip() for w in want]]
    if len(hits) == 1:
        return Edit(path, "".join(lines[hits[0]:hits[0] + n]), replace)
    # a uniform indent offset
    found = []
    for i in range(len(lines) - n + 1):
        shift = _shift(want, [line.rstrip("\n") for line in lines[i:i + n]])
        if shift is not None:
            found.append((i, shift))
    if len(found) == 1:
        i, shift = found[0]
        return Edit(path, "".join(lines[i:i + n]), _reindent(replace, shift))
    if len(hits) > 1 or len(found) > 1:
        raise MatchError(f"the SEARCH text matches {max(len(hits), len(found))} places in {path} once whitespace is "
                         "ignored; include more surrounding lines")
    raise MatchError(f"the SEARCH text is not in {path}.{nearest(lines, want)}\nSEARCH must match the file exactly, "
                     "comments and blank lines included; read the file again if unsure.")


def nearest(lines: list[str], want: list[str]) -> str:
    """The window of the file most like the SEARCH text, with line numbers."""
    n = max(1, len(want))
    target = "\n".join(w.strip() for w in want)
    best, at = 0.0, 0
    for i in range(max(1, len(lines) - n + 1)):
        ratio = difflib.SequenceMatcher(None, target, "\n".join(x.strip() for x in lines[i:i + n])).ratio()
        if ratio > best:
            best, at = ratio, i
    if best < 0.5:
        return " Nothing in the file is close to it."
    shown = "".join(f"{at + k + 1:>5}| {line}" for k, line in enumerate(lines[at:at + n]))
    return f" The closest lines ({best:.0%} alike) are:\n{shown.rstrip()}"


def _shift(want: list[str], have: list[str]) -> str | int | None:
    """The indent to add to `want` to get `have` (a string to add, or a count to remove)."""
    shift = None
    for w, h in zip(want, have):
        if not w.strip() and not h.strip():
            continue
        if w.strip() != h.strip():
            return None
        wi, hi = len(w) - len(w.lstrip()), len(h) - len(h.lstrip())
        d = hi - wi
        if shift is None:
            shift = d
        elif d != shift:
            return None
    return shift if shift else None


def _reindent(text: str, shift: int) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        if not line.strip():
            out.append(line)
        elif shift > 0:
            out.append(" " * shift + line)
        else:
            cut = min(-shift, len(line) - len(line.lstrip()))
            out.append(line[cut:])
    return "".join(out)
