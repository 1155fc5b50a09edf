"""The edit protocol for models without tool calling: the reply is plain text in a fixed shape,
parsed strictly (aider's SEARCH/REPLACE blocks, or one whole file per fence for weak models).

    HYPOTHESIS: one falsifiable sentence
    EXPECTED_DELTA: -0.01                       (optional)
    train.py
    <<<<<<< SEARCH
    lines copied exactly from the file
    =======
    the lines that replace them
    >>>>>>> REPLACE

Whole-file replies carry, after the HYPOTHESIS line, one fenced block per file whose info string
names it: ```python train.py ... ```. A marker out of order, a block never closed, a path the
recipe does not have, or no block at all is a FormatError naming what and where; the session
sends it back to the model, as it sends back a malformed tool call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
NUMBERED = re.compile(r"^\s*\d+\| ?")
FENCE = re.compile(r"^```")


class FormatError(ValueError):
    pass


@dataclass(frozen=True)
class TextEdit:
    path: str
    search: str  # "" with whole=True: the content replaces the file
    replace: str
    whole: bool = False


@dataclass(frozen=True)
class TextReply:
    hypothesis: str
    expected_delta: float | None
    edits: tuple[TextEdit, ...]


def instructions(whole: bool, files: list[str]) -> str:
    example = files[0] if files else "train.py"
    if whole:
        return "\n".join([
            "Reply in exactly this format and nothing else (no tools are available):",
            "HYPOTHESIS: <one sentence: what you change and why it improves the metric>",
            "EXPECTED_DELTA: <a number, optional>",
            f"```python {example}",
            "<the complete new content of the file>",
            "```",
            "Write the whole file, every line, in one fenced block whose first line names the file.",
        ])
    return "\n".join([
        "Reply in exactly this format and nothing else (no tools are available):",
        "HYPOTHESIS: <one sentence: what you change and why it improves the metric>",
        "EXPECTED_DELTA: <a number, optional>",
        example,
        SEARCH,
        "<lines copied exactly from the file, without line numbers>",
        DIVIDER,
        "<the new lines>",
        REPLACE,
        "Rules: the line before <<<<<<< SEARCH is the file's path; SEARCH must match the file exactly and once; "
        "keep each block small (a few lines); one or more blocks.",
    ])


def parse(text: str, files: list[str], whole: bool) -> TextReply:
    text = _strip_think(text).replace("\r\n", "\n")
    hypothesis, delta = _header(text)
    edits = _whole_files(text, files) if whole else _blocks(text, files)
    if not edits:
        what = "a fenced block naming a file" if whole else f"a {SEARCH} ... {REPLACE} block"
        raise FormatError(f"the reply has no edit: expected {what}")
    return TextReply(hypothesis or "(no hypothesis)", delta, tuple(edits))


def _strip_think(text: str) -> str:
    """The text without its <think>...</think> spans: one pass (a regex here, `<think>.*?</think>`,
    is quadratic in the number of unclosed tags a reply holds)."""
    out, at = [], 0
    while (start := text.find("<think>", at)) >= 0 and (end := text.find("</think>", start)) >= 0:
        out.append(text[at:start])
        at = end + len("</think>")
    out.append(text[at:])
    return "".join(out)


def _header(text: str) -> tuple[str, float | None]:
    # [ \t]*, not \s*, at the start of a line: \s* runs on over blank lines, from each of them
    hyp = re.search(r"^[ \t]*\**HYPOTHESIS\**\s*:\s*(.+)$", text, re.M)
    delta = re.search(r"^[ \t]*\**EXPECTED_DELTA\**\s*:\s*([-+]?[0-9.eE+-]+)", text, re.M)
    try:
        value = float(delta.group(1)) if delta else None
    except ValueError:
        value = None
    return (hyp.group(1).strip()[:500] if hyp else ""), value


def _blocks(text: str, files: list[str]) -> list[TextEdit]:
    lines = text.split("\n")
    edits, i = [], 0
    while i < len(lines):
        if lines[i].strip() in (DIVIDER, REPLACE):
            raise FormatError(f"line {i + 1}: {lines[i].strip()} before any {SEARCH}")
        if lines[i].strip() != SEARCH:
            i += 1
            continue
        block = len(edits) + 1
        path = _path_before(lines, i, files, block)
        mid = _marker(lines, i, DIVIDER, block, f"block {block} (line {i + 1}): {SEARCH} is never followed by {DIVIDER}")
        end = _marker(lines, mid, REPLACE, block, f"block {block} (line {i + 1}): never closed with {REPLACE}")
        search, replace = _unnumbered(lines[i + 1:mid]), _unnumbered(lines[mid + 1:end])
        edits.append(TextEdit(path, "\n".join(search) + "\n", "\n".join(replace) + "\n" if replace else ""))
        i = end + 1
    return edits


def _marker(lines: list[str], after: int, expected: str, block: int, missing: str) -> int:
    """The line of the next marker after line `after`, which must be `expected`."""
    try:
        at = next(j for j in range(after + 1, len(lines)) if lines[j].strip() in (DIVIDER, SEARCH, REPLACE))
    except StopIteration:
        raise FormatError(f"{missing}; the reply may have been cut off") from None
    if lines[at].strip() != expected:
        raise FormatError(f"block {block}: line {at + 1} is {lines[at].strip()!r}, expected {expected}")
    return at


def _unnumbered(lines: list[str]) -> list[str]:
    """Lines as copied from a numbered view ("   12| x = 1"): the numbers go when every line has one."""
    full = [x for x in lines if x.strip()]
    if full and all(NUMBERED.match(x) for x in full):
        return [NUMBERED.sub("", x, count=1) for x in lines]
    return lines


def _path_before(lines: list[str], i: int, files: list[str], n: int) -> str:
    j = i - 1
    while j >= 0 and (not lines[j].strip() or FENCE.match(lines[j].strip())):
        j -= 1
    candidate = lines[j].strip().strip("`*#: ") if j >= 0 else ""
    for f in files:
        if candidate == f or candidate.endswith("/" + f) or candidate.split()[-1:] == [f]:
            return f
    if len(files) == 1:
        return files[0]  # one file in the surface: the block can only be for it
    raise FormatError(f"block {n}: the line before {SEARCH} must name the file, one of {', '.join(files)}; "
                      f"it is {candidate[:80]!r}")


def _whole_files(text: str, files: list[str]) -> list[TextEdit]:
    lines = text.split("\n")
    edits, i = [], 0
    while i < len(lines):
        m = re.match(r"^```\s*(\S*)\s*(\S*)\s*$", lines[i].strip())
        if not m:
            i += 1
            continue
        name = next((f for f in files if f in (m.group(1), m.group(2))), None)
        if name is None and len(files) == 1:
            name = files[0]
        try:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        except StopIteration:
            raise FormatError(f"the fenced block at line {i + 1} is never closed with ```; the reply may have been "
                              "cut off") from None
        if name is None:
            raise FormatError(f"the fenced block at line {i + 1} names no recipe file; write ```python FILE with "
                              f"FILE one of {', '.join(files)}")
        edits.append(TextEdit(name, "", "\n".join(lines[i + 1:end]) + "\n", whole=True))
        i = end + 1
    return edits
