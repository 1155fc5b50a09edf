"""A session's first message, fitted to the endpoint's context window.

Local servers truncate or refuse silently past their window (llama.cpp's n_ctx, Ollama's
num_ctx), so the prompt is budgeted before it is sent: the window less the output tokens, the
system prompt, the tool definitions and a reserve for the turns that follow. What does not fit is
cut in this order, and each cut is said in the prompt (and so recorded with the request):

    the lineage view's sections, least useful first: recent activity, the best's children, the
    leaderboard, the best's lineage;
    the program, to the specialist's own regions (with their line numbers);
    the program, cut at the budget (read_file, where there are tools, shows the rest).

Tokens are estimated as characters / 3: code tokenizes densely and an overestimate only cuts more.
"""

from __future__ import annotations

import dataclasses

from agents.changes import region_map
from agents.lineage_view import render

CHARS_PER_TOKEN = 3
TURN_RESERVE = 0.3  # of what is left after the fixed parts: the conversation grows turn by turn
VIEW_CUTS = (("recent", "recent activity"), ("best_children", "the children of the best"),
             ("top_kept", "the leaderboard"), ("chain", "the lineage of the best"))


def tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def budget(context: int | None, max_output: int, fixed_text: str) -> int | None:
    """Tokens the first user message may take; None when the window is unknown."""
    if not context:
        return None
    room = context - max_output - tokens(fixed_text)
    return max(0, int(room * (1 - TURN_RESERVE)))


def fitted(view, brief: str, code: dict[str, bytes], files: tuple[str, ...], regions: tuple[str, ...],
           limit: int | None) -> tuple[str, list[str]]:
    """(the user message, what was cut)."""
    cuts: list[str] = []
    lineage = render(view, brief)
    program = _program(code, files)
    if limit is None or tokens(lineage + program) <= limit:
        return _message(lineage, program, cuts), cuts
    for attr, said in VIEW_CUTS:
        if tokens(lineage + program) <= limit:
            break
        if getattr(view, attr, ()):
            view = dataclasses.replace(view, **{attr: ()})
            lineage = render(view, brief)
            cuts.append(f"{said} (lineage view)")
    if tokens(lineage + program) > limit and regions:
        program = _regions_only(code, files, regions)
        cuts.append(f"the program outside your regions ({', '.join(regions)})")
    if tokens(lineage + program) > limit:
        keep = max(0, (limit - tokens(lineage)) * CHARS_PER_TOKEN)
        program = program[:keep].rsplit("\n", 1)[0] + "\n[... the rest of the program is not shown ...]\n"
        cuts.append(f"the program past {keep:,} characters")
    return _message(lineage, program, cuts), cuts


def _message(lineage: str, program: str, cuts: list[str]) -> str:
    note = ""
    if cuts:
        note = ("\nTo fit the model's context window, this prompt leaves out: " + "; ".join(cuts) + ".\n")
    return lineage + note + "\n## Current program (the parent you start from)\n" + program


def _program(code: dict[str, bytes], files: tuple[str, ...]) -> str:
    return "\n".join(f"### {p}\n```python\n{code[p].decode()}\n```" for p in files if p in code)


def _regions_only(code: dict[str, bytes], files: tuple[str, ...], regions: tuple[str, ...]) -> str:
    out = []
    for p in files:
        if p not in code:
            continue
        lines = code[p].decode().splitlines()
        owner = region_map(lines)
        shown = [f"{i + 1:>5}| {line}" for i, line in enumerate(lines) if owner[i] in regions]
        out.append(f"### {p} (only your regions; line numbers are the file's, not part of it)\n```python\n"
                   + "\n".join(shown) + "\n```")
    return "\n".join(out)
