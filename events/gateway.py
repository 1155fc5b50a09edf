"""The gateway: a run's events and projections over HTTP, for consumers outside the system.

It tails the run directory's files itself (never the EventLog actor), so it keeps serving while
Ray restarts, and serves a copied run directory the same way. It reads only what the writer has
acknowledged (log/COMMITTED), folds it into a RunState for the table endpoints, and wakes
streaming subscribers when the log grows.

    GET /events?from=&stream=&type=&limit=   JSON lines; X-Next-Offset says where to go on
    GET /events/stream?from=&stream=&type=   server-sent events: id = the global offset, so a
                                             client resumes with Last-Event-ID (or ?from=)
    GET /trials?sort=&order=&status=&agent=&q=&ids=&offset=&limit=
                                             the trials table, filtered, sorted, paged
                                             (X-Total-Count: how many matched)
    GET /trials/points                       every verdict as [id, seconds, score, status, agent]
    GET /trials/{id}?log_lines=  /trials/{id}/progress
                                             one trial: diff, phase log tails, progress curve
    GET /lineage  /leaderboard  /agents  /ledger  /sessions  /run  /blobs/{sha256}
    GET /health                              served vs committed offset: is this view stale?
    GET /schema/events                       JSON Schema of a record (envelope and events)
    GET /openapi.json                        this API, described
    GET /                                    the dashboard (events/dashboard.html, static/)

With a token, every request needs `Authorization: Bearer <token>` (or `?token=`, which the
dashboard uses because a browser's EventSource cannot send headers). Only Host headers naming
loopback are answered unless told otherwise (DNS rebinding); CORS is off unless an origin is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import re
import time
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl

import msgspec
import orjson
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from events.blobs import BlobCorrupt, BlobMissing
from events.colors import RUNNING, STATUS_COLORS
from events.envelope import record_to_jsonable
from events.feed import BATCH, RunFeed
from events.openapi import OPENAPI
from events.phase_logs import blob_text, log_tails
from events.projections import RunState
from events.projections.ledger import Spend
from events.projections.lineage import preorder
from events.projections.live import LiveState
from events.projections.trials import TrialRow
from events.ranking import ranked
from events.reader import Filter
from events.schema import EVENT_TYPES, TrialExecuted
from events.segments import CorruptLog

MAX_LIMIT = 10_000
PING_S = 15
LOG_LINES = 40  # as `autorecipe show` prints
MAX_LOG_LINES = 2000
SHA = re.compile(r"^[0-9a-f]{64}$")
STALE_S = 2.0  # the log is ahead of the tables for longer than this: /health says the view is stale
DASHBOARD = Path(__file__).with_name("dashboard.html")
STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css", "uPlot.LICENSE": "text/plain"}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


SessionView = Callable[[str, int], list[str]]  # (trial id, the log's end to read to) -> its model session, as lines

COUNT = re.compile(r"[0-9]{1,18}")  # ASCII digits, below any offset's 2^63: int() takes "²" and 4,000 digits too


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    text = value.strip()
    if not COUNT.fullmatch(text):
        if text.startswith("-") and COUNT.fullmatch(text[1:]):
            raise BadRequest(f"query parameter {name} must be >= 0")
        raise BadRequest(f"query parameter {name}={value[:40]!r} is not an integer (0 to 18 digits)")
    return int(text)


class BadRequest(ValueError):
    pass


def _filter(request: Request) -> Filter | None:
    stream = request.query_params.get("stream")
    types = request.query_params.getlist("type")
    return Filter(stream, types) if (stream or types) else None


def _json(obj, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


SORT_KEYS = {  # the trials table's sortable columns: missing values sort last either way
    "trial": lambda r: r.proposed_offset, "agent": lambda r: r.agent, "status": lambda r: r.status or r.phase,
    "score": lambda r: r.score, "delta": lambda r: r.realized_delta, "expected": lambda r: r.expected_delta,
    "time": lambda r: r.total_s, "evaluated": lambda r: r.evaluated_offset, "depth": lambda r: r.depth,
}


def select_trials(rows, live: LiveState, params) -> tuple[int, list[dict]]:
    """The trials table as asked: filtered (ids, status, agent, q), sorted, one page. Returns how
    many matched and the page's rows, each with its latest progress point."""
    rows = list(rows)
    ids = params.get("ids")
    if ids:
        wanted = set(ids.split(","))
        rows = [r for r in rows if r.trial_id in wanted]
    statuses = [x for x in (params.get("status") or "").split(",") if x]
    if statuses:
        want = set(statuses) | (set(RUNNING) if "running" in statuses else set())
        rows = [r for r in rows if (r.status or r.phase) in want]
    agents = [x for x in (params.get("agent") or "").split(",") if x]
    if agents:
        rows = [r for r in rows if r.agent in agents]
    q = (params.get("q") or "").lower()
    if q:
        rows = [r for r in rows if q in r.trial_id.lower() or q in r.hypothesis.lower()]
    sort, order = params.get("sort"), params.get("order")
    if order not in (None, "asc", "desc"):
        raise BadRequest(f"order={order[:40]!r}: asc or desc")
    if sort:
        if sort not in SORT_KEYS:
            raise BadRequest(f"sort={sort!r}: sort by one of {', '.join(SORT_KEYS)}")
        key = SORT_KEYS[sort]
        desc = params.get("order") == "desc"
        present = [r for r in rows if _sortable(key(r))]
        present.sort(key=key, reverse=desc)
        rows = present + [r for r in rows if not _sortable(key(r))]
    elif params.get("order") == "desc":
        rows.reverse()
    start, limit = params.get("offset", 0), params.get("limit")
    page = rows[start: start + limit] if limit is not None else rows[start:]
    out = []
    for r in page:
        d = msgspec.to_builtins(r)
        point = live.latest(r.trial_id)
        d["progress"] = msgspec.to_builtins(point) if point is not None and point.attempt == r.attempt else None
        out.append(d)
    return len(rows), out


def _sortable(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def baseline_row(rows: dict[str, TrialRow]) -> TrialRow | None:
    """The run's baseline: the first trial proposed with no parent."""
    return next((r for r in rows.values() if r.parent_id is None), None)


def _log_routes(feed: RunFeed) -> list[Route]:
    """The log itself: a page of records, and the live stream from an offset."""

    async def events(request: Request) -> Response:
        start = _int(request, "from", 0)
        limit = min(_int(request, "limit", 1000), MAX_LIMIT)
        try:
            records, nxt = feed.read(start, limit, _filter(request))
        except CorruptLog as exc:
            return _json(_damage(exc), 500)
        body = b"".join(orjson.dumps(record_to_jsonable(r)) + b"\n" for r in records)
        return Response(body, media_type="application/x-ndjson", headers={"X-Next-Offset": str(nxt)})

    async def stream(request: Request) -> Response:
        last = request.headers.get("last-event-id")
        if last is None:
            start = _int(request, "from", 0)
        elif COUNT.fullmatch(last.strip()):  # the last offset the client had: from the one after
            start = int(last) + 1
        else:
            raise BadRequest(f"Last-Event-ID {last[:40]!r} is not an offset")
        where = _filter(request)

        async def gen():
            at = start
            while True:
                try:
                    records, nxt = feed.read(at, BATCH, where)
                except CorruptLog as exc:  # everything before the damage went out; say where it is, and end
                    yield ServerSentEvent(data=orjson.dumps(_damage(exc)).decode(), event="error")
                    return
                for r in records:
                    yield ServerSentEvent(data=feed.json_of(r), id=str(r.offset), event=r.type)
                at = nxt
                await asyncio.sleep(0)  # let the disconnect listener run between batches
                if await request.is_disconnected():
                    return
                if at >= feed.end:  # at the end: sleep until a record at `at` is served (or the ping)
                    await feed.wait_past(at, request.app.state.ping_s)

        return EventSourceResponse(gen(), ping=request.app.state.ping_s, headers={"X-Accel-Buffering": "no"})

    return [Route("/events", events), Route("/events/stream", stream)]


def verdict_points(st: RunState) -> dict:
    """Every verdict as [trial, seconds into the run, score, status index, agent index] (the
    dashboard's scatter; indexes into the lists beside them keep it small), and the best's steps."""
    t0 = st.run.started_wall_ns or 0
    statuses, agents, out = {}, {}, []
    for r in st.trials.rows.values():
        if r.status is None or r.evaluated_wall_ns is None:
            continue
        s = statuses.setdefault(r.status, len(statuses))
        a = agents.setdefault(r.agent, len(agents))
        out.append([r.trial_id, max(0.0, round((r.evaluated_wall_ns - t0) / 1e9, 2)), r.score, s, a])
    base = baseline_row(st.trials.rows)
    rule = st.trials.keep_rule
    return {"statuses": list(statuses), "agents": list(agents), "points": out,
            "baseline": {"trial_id": base.trial_id, "score": base.score} if base else None,
            "metric": rule.metric, "direction": rule.direction, "noise_margin": rule.noise_margin,
            "best": [[round((st.trials.rows[p.trial_id].evaluated_wall_ns - t0) / 1e9, 2), p.score, p.trial_id]
                     for p in st.trials.best_history]}


def _trial_routes(feed: RunFeed, session_view: SessionView | None) -> list[Route]:
    """The trials: the table, every verdict as a point, one trial and its progress curve."""

    async def trials(request: Request) -> Response:
        params = {k: request.query_params.get(k) for k in ("ids", "status", "agent", "q", "sort", "order")}
        params["offset"] = _int(request, "offset", 0)
        if request.query_params.get("limit") is not None:
            params["limit"] = min(_int(request, "limit", 0), MAX_LIMIT)
        total, rows = select_trials(feed.state.trials.rows.values(), feed.live, params)
        return _json(rows, headers={"X-Total-Count": str(total)})

    async def points(request: Request) -> Response:
        return _json(verdict_points(feed.state))

    async def trial(request: Request) -> Response:
        tid = request.path_params["trial_id"]
        row = feed.state.trials.rows.get(tid)
        if row is None:
            return _json({"error": f"no trial {tid!r}"}, 404)
        lines = min(_int(request, "log_lines", LOG_LINES), MAX_LOG_LINES)
        out = msgspec.to_builtins(row)
        out["diff_text"] = blob_text(feed.blobs, row.diff) if row.diff else None
        executed = _executed(feed, row)
        out["log_tails"] = log_tails(feed.blobs, executed.outputs, lines) if executed else {}
        out["phases"] = [msgspec.to_builtins(p) for p in executed.phases] if executed else []
        out["progress"] = [msgspec.to_builtins(p) for p in feed.live.progress.get(tid, []) if p.attempt == row.attempt]
        return _json(out)

    async def progress(request: Request) -> Response:
        tid = request.path_params["trial_id"]
        if tid not in feed.state.trials.rows:
            return _json({"error": f"no trial {tid!r}"}, 404)
        return _json([msgspec.to_builtins(p) for p in feed.live.progress.get(tid, [])])

    async def session(request: Request) -> Response:
        tid = request.path_params["trial_id"]
        if tid not in feed.state.trials.rows:
            return _json({"error": f"no trial {tid!r}"}, 404)
        if session_view is None:
            return _json({"error": "this gateway renders no model sessions (`autorecipe serve` does; so does "
                                   "`autorecipe show RUN TRIAL --session`)"}, 404)
        # it reads the log (not on the event loop), no further than what this view has folded and serves
        lines = await asyncio.to_thread(session_view, tid, feed.state.next_offset)
        return _json({"trial_id": tid, "lines": lines})

    return [Route("/trials", trials), Route("/trials/points", points), Route("/trials/{trial_id}", trial),
            Route("/trials/{trial_id}/progress", progress), Route("/trials/{trial_id}/session", session)]


def _view_routes(feed: RunFeed) -> list[Route]:
    """The run's views: lineage, leaderboard, agents and the ledger."""

    async def lineage(request: Request) -> Response:
        return _json([{"trial_id": r.trial_id, "parent_id": r.parent_id, "depth": r.depth, "agent": r.agent,
                       "status": r.status or r.phase, "score": r.score, "hypothesis": r.hypothesis, "prefix": p}
                      for r, p in preorder(feed.state.trials.rows)])

    async def leaderboard(request: Request) -> Response:
        st = feed.state
        rule = st.trials.keep_rule
        valid = [r for r in st.trials.rows.values() if r.verdict == "valid" and r.score is not None]
        valid = ranked(valid, rule.direction)
        return _json({"metric": rule.metric, "direction": rule.direction, "best": st.trials.best_id,
                      "next_offset": st.next_offset, "stopped": st.run.stopped,
                      **({"log_damage": _damage(feed.log_damage)} if feed.log_damage else {}),
                      "best_history": [msgspec.to_builtins(p) for p in st.trials.best_history],
                      "top": [msgspec.to_builtins(r) for r in valid[: _int(request, "top", 20)]]})

    async def agents(request: Request) -> Response:
        st = feed.state
        pairs: dict[str, list] = {}
        for r in st.trials.rows.values():
            if r.expected_delta is not None and r.realized_delta is not None:
                pairs.setdefault(r.agent, []).append((r.expected_delta, r.realized_delta))
        out = []
        for a in st.agents.by_agent.values():
            got = pairs.get(a.agent, [])
            out.append({**msgspec.to_builtins(a),
                        "spend": _spend(st.ledger.by_agent.get(a.agent)),
                        "predicted_vs_realized": {"n": len(got),
                                                  "predicted_mean": sum(p for p, _ in got) / len(got) if got else None,
                                                  "realized_mean": sum(q for _, q in got) / len(got) if got else None}})
        return _json(out)

    async def ledger(request: Request) -> Response:
        st = feed.state
        cfg = st.run.config or {}
        limits = {"cpu_s": cfg["cpu_hours"] * 3600 if cfg.get("cpu_hours") else None,
                  "usd": cfg.get("cost_usd"), "trials": cfg.get("trials"),
                  "wall_s": cfg["hours"] * 3600 if cfg.get("hours") else None}
        started = st.run.started_wall_ns
        return _json({"total": _spend(st.ledger.total), "limits": limits,
                      "by_agent": {a: _spend(s) for a, s in st.ledger.by_agent.items()},
                      "trials": sum(1 for r in st.trials.rows.values() if r.parent_id is not None),
                      "elapsed_s": (time.time_ns() - started) / 1e9 if started and not st.run.stopped else None})

    return [Route("/lineage", lineage), Route("/leaderboard", leaderboard), Route("/agents", agents),
            Route("/ledger", ledger)]


def _run_routes(feed: RunFeed) -> list[Route]:
    """The run and this view of it: agent sessions, the run's record, the view's health."""

    async def sessions(request: Request) -> Response:
        agent = request.query_params.get("agent")
        limit = min(_int(request, "limit", 100), MAX_LIMIT)
        rows = [s for s in feed.live.sessions.values() if agent is None or s.agent == agent]
        return _json([msgspec.to_builtins(s) for s in reversed(rows[-limit:] if limit else [])],
                     headers={"X-Total-Count": str(len(rows))})

    async def run_info(request: Request) -> Response:
        st = feed.state
        return _json({**msgspec.to_builtins(st.run),
                      "fingerprint": msgspec.to_builtins(feed.live.fingerprint) if feed.live.fingerprint else None,
                      "status_colors": STATUS_COLORS})

    async def health(request: Request) -> Response:
        committed = feed.committed()
        served = feed.state.next_offset
        return _json({"served_offset": served, "committed_offset": committed, "behind": max(committed - served, 0),
                      "stale": committed > served and time.time() - feed.folded_wall > STALE_S,
                      "folded_at": feed.folded_wall, "now": time.time(), "watch_error": feed.watch_error,
                      "watching": request.app.state.watching(), "stopped": feed.state.run.stopped,
                      **({"log_damage": _damage(feed.log_damage)} if feed.log_damage else {}),
                      **({"witness_damage": feed.witness_damage} if feed.witness_damage else {})})

    return [Route("/sessions", sessions), Route("/run", run_info), Route("/health", health)]


def _file_routes(feed: RunFeed) -> list[Route]:
    """Files: blobs, the schemas, the dashboard and its static files."""

    async def blob(request: Request) -> Response:
        sha = request.path_params["sha256"]
        if not SHA.match(sha):
            return _json({"error": "a blob is named by 64 lowercase hex digits"}, 400)
        try:
            data = feed.blobs.get(sha)
        except BlobMissing:
            return _json({"error": f"no blob {sha}"}, 404)
        except BlobCorrupt as exc:
            return _json({"error": str(exc)}, 500)
        return Response(data, media_type="application/octet-stream")

    async def schema(request: Request) -> Response:
        return _json(event_schema())

    async def openapi(request: Request) -> Response:
        return _json(OPENAPI)

    async def dashboard(request: Request) -> Response:
        return HTMLResponse(DASHBOARD.read_text())

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return _json({"error": f"no static file {name!r}"}, 404)
        return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "max-age=86400"})

    return [Route("/blobs/{sha256}", blob), Route("/schema/events", schema), Route("/openapi.json", openapi),
            Route("/static/{name}", static), Route("/", dashboard)]


def create_app(run_dir: str | Path, token: str | None = None, allowed_hosts: tuple[str, ...] | None = None,
               cors_origins: tuple[str, ...] = (), session_view: SessionView | None = None) -> Starlette:
    """`allowed_hosts`: the Host headers answered (default: this machine's loopback names, which
    stops a DNS-rebinding page from reading a token-less server; ("*",) answers any).
    `cors_origins`: pages on these origins may call the API from a browser (none by default).
    `session_view`: a trial's model session as text lines, for /trials/{id}/session (reading a
    model's wire format is the agents' business, so the caller brings it)."""
    check_token(token)
    run_dir = Path(run_dir)
    if not (run_dir / "log").is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no log/)")
    feed = RunFeed(run_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        feed.end = feed.committed()
        feed.fold()
        damage = feed.log_damage
        if damage is not None:
            logging.getLogger("uvicorn.error").warning("%s; serving the %d events before it", damage, damage.offset)
        task = asyncio.create_task(feed.watch())
        app.state.watching = lambda: not task.done()
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    middleware = [Middleware(Guard, token=token, allowed_hosts=allowed_hosts or LOOPBACK_HOSTS),
                  Middleware(Compress)]
    if cors_origins:  # outermost: a preflight (OPTIONS, no token) is answered before the token check
        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET"],
                                        allow_headers=["authorization", "last-event-id"],
                                        expose_headers=["x-next-offset", "x-total-count"]))
    routes = [*_log_routes(feed), *_trial_routes(feed, session_view), *_view_routes(feed), *_run_routes(feed), *_file_routes(feed)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.feed = feed
    app.state.ping_s = PING_S
    app.state.watching = lambda: False
    return app


def _spend(s: Spend | None) -> dict:
    s = s or Spend()
    return {**msgspec.to_builtins(s), "tokens": s.tokens}


def event_schema() -> dict:
    """JSON Schema of a record as /events and /events/stream send it: the envelope, whose
    `event` is one of the event types (told apart by `type`)."""
    (_, components) = msgspec.json.schema_components(EVENT_TYPES, ref_template="#/$defs/{name}")
    envelope = {
        "type": "object", "title": "Record",
        "description": "offset: global and gap-free (the SSE id); stream_version: 0-based within the stream; "
                       "wall_time_ns: informational only. Non-finite floats are sent as null.",
        "required": ["offset", "stream", "stream_version", "event_id", "producer", "event"],
        "properties": {
            "offset": {"type": "integer", "minimum": 0}, "stream": {"type": "string"},
            "stream_version": {"type": "integer", "minimum": 0}, "event_id": {"type": "string"},
            "producer": {"type": "string"}, "causation_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "wall_time_ns": {"type": "integer"}, "schema_version": {"type": "integer"},
            "event": {"oneOf": [{"$ref": f"#/$defs/{t.__name__}"} for t in EVENT_TYPES]},
        },
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": {**components, "Record": envelope},
            "$ref": "#/$defs/Record", "oneOf": [{"$ref": f"#/$defs/{t.__name__}"} for t in EVENT_TYPES]}


TOKEN = re.compile(r"[\x21-\x7e]+")


def check_token(token: str | None) -> None:
    """A token goes in an HTTP header, which carries printable ASCII: refuse one that could never
    be sent, before anything is served."""
    if token is not None and not TOKEN.fullmatch(token):
        raise ValueError(f"the token {token!r} cannot travel in an HTTP header: use printable ASCII without "
                         "spaces (letters, digits, punctuation)")


def host_name(header: str) -> str:
    """The host part of a Host header: `[::1]:8000` -> `::1`, `Example.com:80` -> `example.com`."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class Guard:
    """The Host allow-list, the bearer token (when one is set) and clear 400s for bad parameters."""

    def __init__(self, app, token: str | None, allowed_hosts: tuple[str, ...]):
        self.app, self.token = app, token
        self.any_host = "*" in allowed_hosts
        self.hosts = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = host_name(headers.get(b"host", b"").decode(errors="replace"))
        if not self.any_host and host not in self.hosts:
            # a page on another name that resolves here (DNS rebinding) must not read the run
            resp = JSONResponse({"error": f"Host {host!r} is not served here; allowed: {', '.join(sorted(self.hosts))} "
                                          "(autorecipe serve --allow-host NAME adds one)"}, 421)
            return await resp(scope, receive, send)
        if self.token and not scope["path"].startswith("/static/"):  # the dashboard's code is no secret
            got = headers.get(b"authorization", b"")
            # a browser's EventSource cannot send headers: the dashboard passes ?token= instead
            query = dict(parse_qsl(scope.get("query_string", b"").decode(errors="replace")))
            # compared as bytes: compare_digest refuses str with anything but ASCII in it
            if not (hmac.compare_digest(got, b"Bearer " + self.token.encode())
                    or hmac.compare_digest(query.get("token", "").encode(errors="replace"), self.token.encode())):
                resp = JSONResponse({"error": "a bearer token is required: send the header `Authorization: Bearer "
                                              "<token>`, or add ?token=<token> to the URL (the dashboard: "
                                              "/?token=<token>)"}, 401, headers={"WWW-Authenticate": "Bearer"})
                return await resp(scope, receive, send)
        try:
            return await self.app(scope, receive, send)
        except BadRequest as exc:
            return await JSONResponse({"error": str(exc)}, 400)(scope, receive, send)


class Compress:
    """gzip for the JSON tables (a 10,000-trial run's tables shrink several times over); never for
    the event stream, whose events must go out as they are written."""

    def __init__(self, app):
        self.app, self.gzip = app, GZipMiddleware(app, minimum_size=1024)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != "/events/stream":
            return await self.gzip(scope, receive, send)
        return await self.app(scope, receive, send)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own refusals (no such route, a method other than GET) in JSON, like the rest."""
    where = "use GET" if exc.status_code == 405 else "see /openapi.json for the routes"
    return JSONResponse({"error": f"{exc.detail}: {request.method} {request.url.path} ({where})"}, exc.status_code,
                        headers=exc.headers)


def _damage(exc: CorruptLog) -> dict:
    """A damaged log as an answer: where (segment, byte position, event offset) and why."""
    return {"error": str(exc), "segment": exc.segment.name, "byte": exc.position, "offset": exc.offset,
            "why": exc.why}


def _executed(feed: RunFeed, row: TrialRow) -> TrialExecuted | None:
    """The current attempt's TrialExecuted, read at the offset the trials table recorded (one
    record, however long the log), or None: not executed yet, or the log is damaged there."""
    if row.executed_offset is None:
        return None
    try:
        records, _ = feed.read(row.executed_offset, 1)
    except CorruptLog:
        return None
    ev = records[0].event if records else None
    if isinstance(ev, TrialExecuted) and ev.trial_id == row.trial_id and ev.attempt == row.attempt:
        return ev
    return None
