"""The gateway's API as OpenAPI 3.1: every path, its parameters and what it answers."""

from __future__ import annotations

import msgspec

from events.projections.agents import AgentStats
from events.projections.ledger import Spend
from events.projections.live import ProgressPoint, Session
from events.projections.state import RunInfo
from events.projections.trials import BestPoint, TrialRow

LOG_LINES, MAX_LOG_LINES = 40, 2000
_, COMPONENTS = msgspec.json.schema_components((TrialRow, AgentStats, Spend, ProgressPoint, Session, RunInfo,
                                                BestPoint), ref_template="#/components/schemas/{name}")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(item: dict) -> dict:
    return {"type": "array", "items": item}


def _obj(**props) -> dict:
    return {"type": "object", "properties": props}


def _param(name: str, desc: str, kind: str = "integer") -> dict:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": kind}}


def _get(summary: str, schema: dict, params=(), media: str = "application/json", headers: dict | None = None) -> dict:
    ok = {"description": "OK", "content": {media: {"schema": schema}}}
    if headers:
        ok["headers"] = {k: {"description": v, "schema": {"type": "integer"}} for k, v in headers.items()}
    return {"get": {"summary": summary, "parameters": list(params),
                    "responses": {"200": ok, "400": _ERROR, "401": _ERROR, "421": _ERROR}}}


_ERROR = {"description": "a bad parameter (400), no or a wrong token (401), a Host not served (421)",
          "content": {"application/json": {"schema": _obj(error={"type": "string"})}}}
RECORD = {"$ref": "/schema/events#/$defs/Record"}
TRIAL = {"allOf": [_ref("TrialRow"), _obj(progress={"anyOf": [_ref("ProgressPoint"), {"type": "null"}]})]}
FILTERS = [_param("stream", "only streams starting with this prefix", "string"),
           _param("type", "only this event type (repeatable)", "string")]
TABLE = [_param("sort", "trial, agent, status, score, delta, expected, time, evaluated or depth", "string"),
         _param("order", "asc (default) or desc", "string"),
         _param("status", "comma-separated statuses; `running` means runnable, claimed or executed", "string"),
         _param("agent", "comma-separated agents", "string"), _param("q", "text in the id or hypothesis", "string"),
         _param("ids", "comma-separated trial ids", "string"), _param("offset", "skip this many"),
         _param("limit", "at most this many (default: all)")]
SPEND = {"allOf": [_ref("Spend"), _obj(tokens={"type": "integer"})]}

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "autorecipe gateway", "version": "2"},
    "paths": {
        "/events": _get("events from an offset, as JSON lines (one Record each); X-Next-Offset is where to go on",
                        RECORD, [_param("from", "first offset"), _param("limit", "at most this many (0: none)"),
                                 *FILTERS], media="application/x-ndjson", headers={"X-Next-Offset": "next offset"}),
        "/events/stream": _get("server-sent events; id is the global offset, event the type, data a Record; resume "
                               "with Last-Event-ID or ?from=", RECORD, [_param("from", "first offset"), *FILTERS],
                               media="text/event-stream"),
        "/trials": _get("the trials table: each row with its latest progress point", _array(TRIAL), TABLE,
                        headers={"X-Total-Count": "rows that matched the filters"}),
        "/trials/points": _get("every verdict for a scatter: points are [trial_id, seconds since the run started, "
                               "score, index into statuses, index into agents]",
                               _obj(statuses=_array({"type": "string"}), agents=_array({"type": "string"}),
                                    points=_array({"type": "array"}), baseline={"type": ["object", "null"]},
                                    best=_array({"type": "array"}), metric={"type": "string"},
                                    direction={"type": "string"}, noise_margin={"type": "number"})),
        "/trials/{trial_id}": _get("one trial: its row, diff (diff_text), phases, the tail of each phase's log "
                                   "(log_tails: {\"logs/<phase>\": text}) and its progress curve",
                                   {"allOf": [_ref("TrialRow"), _obj(diff_text={"type": ["string", "null"]},
                                                                     log_tails={"type": "object"},
                                                                     phases=_array({"type": "object"}),
                                                                     progress=_array(_ref("ProgressPoint")))]},
                                   [_param("log_lines", f"lines of each log's tail (default {LOG_LINES}, at most "
                                                        f"{MAX_LOG_LINES})")]),
        "/trials/{trial_id}/progress": _get("the trial's trial.progress points", _array(_ref("ProgressPoint"))),
        "/trials/{trial_id}/session": _get("the model session behind the trial as text lines, as `autorecipe show "
                                           "RUN TRIAL --session` prints it: every call with its messages, tool calls "
                                           "and reply, tokens, latency and cost, then how it ended (404 where the "
                                           "gateway was started without a session view)",
                                           _obj(trial_id={"type": "string"},
                                                lines={"type": "array", "items": {"type": "string"}})),
        "/lineage": _get("the lineage tree in preorder (prefix: the path of proposal indices)",
                         _array(_obj(trial_id={"type": "string"}, parent_id={"type": ["string", "null"]},
                                     depth={"type": "integer"}, agent={"type": "string"}, status={"type": "string"},
                                     score={"type": ["number", "null"]}, hypothesis={"type": "string"},
                                     prefix={"type": "string"}))),
        "/leaderboard": _get("valid trials by score, the best and its history",
                             _obj(metric={"type": "string"}, direction={"type": "string"},
                                  best={"type": ["string", "null"]}, next_offset={"type": "integer"},
                                  stopped={"type": ["string", "null"]}, best_history=_array(_ref("BestPoint")),
                                  top=_array(_ref("TrialRow"))), [_param("top", "how many (default 20)")]),
        "/agents": _get("per agent: proposals, verdicts, keeps, failure mix, spend, predicted vs realized delta",
                        _array({"allOf": [_ref("AgentStats"), _obj(spend=SPEND, predicted_vs_realized=_obj(
                            n={"type": "integer"}, predicted_mean={"type": ["number", "null"]},
                            realized_mean={"type": ["number", "null"]}))]})),
        "/ledger": _get("spend in total and per agent, against the run's limits",
                        _obj(total=SPEND, by_agent={"type": "object", "additionalProperties": SPEND},
                             limits=_obj(cpu_s={"type": ["number", "null"]}, usd={"type": ["number", "null"]},
                                         trials={"type": ["integer", "null"]}, wall_s={"type": ["number", "null"]}),
                             trials={"type": "integer"}, elapsed_s={"type": ["number", "null"]})),
        "/sessions": _get("agent sessions, newest first, each with its LLM exchanges",
                          _array(_ref("Session")), [_param("agent", "only this agent", "string"),
                                                    _param("limit", "at most this many (default 100)")],
                          headers={"X-Total-Count": "sessions that matched"}),
        "/run": _get("the run: id, environment, tier, keep rule, configuration, fingerprint, stop; status colours",
                     {"allOf": [_ref("RunInfo"), _obj(fingerprint={"type": ["object", "null"]},
                                                      status_colors={"type": "object"})]}),
        "/health": _get("served offset (what the tables hold) against committed offset (what the log holds); stale "
                        "when the tables lag for more than 2 s",
                        _obj(served_offset={"type": "integer"}, committed_offset={"type": "integer"},
                             behind={"type": "integer"}, stale={"type": "boolean"}, watching={"type": "boolean"},
                             watch_error={"type": ["string", "null"]}, stopped={"type": ["string", "null"]})),
        "/blobs/{sha256}": _get("a content-addressed blob, verified on read", {"type": "string", "format": "binary"},
                                media="application/octet-stream"),
        "/schema/events": _get("JSON Schema of a record: the envelope and every event type", {"type": "object"}),
    },
    "components": {"schemas": COMPONENTS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}, {}],
}
