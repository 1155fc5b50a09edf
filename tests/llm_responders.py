"""A fake model for dryrun: it reads the current program from the prompt and climbs one knob a
session (alpha: A toward 3, beta: B toward -1) through the edit, check and submit tools."""

import json
import re


def _first_user_text(api: str, body: dict) -> str:
    if api == "openai_chat":
        return next(m["content"] for m in body["messages"] if m["role"] == "user")
    if api == "openai_responses":
        return next(i["content"] for i in body["input"] if i.get("role") == "user")
    return next(m["content"] for m in body["messages"] if m["role"] == "user" and isinstance(m["content"], str))


def _last_tool_result(api: str, body: dict) -> str | None:
    if api == "openai_chat":
        last = body["messages"][-1]
        return last["content"] if last["role"] == "tool" else None
    if api == "openai_responses":
        last = body["input"][-1]
        return last["output"] if last.get("type") == "function_call_output" else None
    last = body["messages"][-1]
    if last["role"] == "user" and isinstance(last["content"], list):
        return last["content"][-1]["content"]
    return None


def climber(tag: str, api: str, body: dict) -> dict:
    result = _last_tool_result(api, body)
    if result is not None and result.startswith("applied"):
        return {"text": "Checking.", "tool_calls": [{"name": "check", "arguments": {}}]}
    if result is not None and result.startswith("ok"):
        return {"tool_calls": [{"name": "submit", "arguments": {
            "hypothesis": "moving the knob one step toward its optimum lowers the loss", "expected_delta": -1.0}}]}
    knob, target, step = ("A", 3.0, 1.0) if tag == "alpha" else ("B", -1.0, -1.0)
    current = float(re.search(rf"^{knob} = (\S+)$", _first_user_text(api, body), re.M).group(1))
    new = current + step if current != target else current - step
    return {"text": f"I will move {knob}.", "tool_calls": [{"name": "edit", "arguments": {
        "path": "knobs.py", "search": f"{knob} = {current}", "replace": f"{knob} = {new}"}}]}


def never_submits(tag: str, api: str, body: dict) -> dict:
    """Edits that never apply and tool calls that are not JSON: every turn needs a repair."""
    n = len(body.get("messages") or body.get("input") or [])
    if n % 2:
        return {"tool_calls": [{"name": "edit", "arguments": "{not json"}]}
    return {"tool_calls": [{"name": "edit", "arguments": json.dumps(
        {"path": "knobs.py", "search": "A = 0.00", "replace": "A = 9.0"})}]}


GOLF_EDITS = {"opt": ("LR = 3e-3", "LR = 5e-3"), "quant": ("/ 127", "/ 63"), "arch": ("MLP_MULT = 2", "MLP_MULT = 1")}


def golf_tuner(tag: str, api: str, body: dict) -> dict:
    """For golf-mini (openai_chat): one edit in the agent's own region, check, submit."""
    result = _last_tool_result(api, body)
    if result is not None and result.startswith("applied"):
        return {"tool_calls": [{"name": "check", "arguments": {}}]}
    if result is not None and result.startswith("ok"):
        return {"tool_calls": [{"name": "submit", "arguments": {"hypothesis": f"{tag}: a modest change helps"}}]}
    search, replace = GOLF_EDITS[tag]
    return {"tool_calls": [{"name": "edit", "arguments": {"path": "train_gpt_mini.py", "search": search,
                                                          "replace": replace}}]}
