"""The gateway: a run's events and projections over HTTP, for consumers outside the system.

It tails the run directory's files itself (never the EventLog actor), so it keeps serving while
Ray restarts, and serves a copied run directory the same way. It reads only what the writer has
acknowledged (log/COMMITTED), folds it into a RunState for the table endpoints, and wakes
streaming subscribers when the log grows.

    GET /events?from=&stream=&type=&limit=   JSON lines; X-Next-Offset says where to go on
    GET /events/stream?from=&stream=&type=   server-sent events: id = the global offset, so a
                                             client resumes with Last-Event-ID (or ?from=)
    GET /trials  /trials/{id}?log_lines=     /trials/{id} adds the diff and each phase's log tail
    GET /lineage  /leaderboard  /blobs/{sha256}
    GET /schema/events                        JSON Schema of every event type
    GET /openapi.json                         this API, described
    GET /                                     the dashboard (events/dashboard.html)

With a token, every request needs `Authorization: Bearer <token>` (or `?token=`, which the
dashboard uses because a browser's EventSource cannot send headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
from pathlib import Path
from urllib.parse import parse_qsl

import msgspec
import orjson
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from events.blobs import BlobCorrupt, BlobMissing, BlobStore
from events.envelope import record_to_jsonable
from events.phase_logs import blob_text, log_tails
from events.projections import RunState
from events.projections.lineage import preorder
from events.projections.trials import TrialRow
from events.reader import Filter, LogReader
from events.schema import EVENT_TYPES, TrialExecuted
from events.segments import CorruptLog
from events.store import COMMITTED
from events.tail import LogTail

POLL_S = 0.02
BATCH = 1000
MAX_LIMIT = 10_000
PING_S = 15
LOG_LINES = 40  # as `autorecipe show` prints
MAX_LOG_LINES = 2000
SHA = re.compile(r"^[0-9a-f]{64}$")
DASHBOARD = Path(__file__).with_name("dashboard.html")


class RunFeed:
    """The run's log as the gateway sees it: the acknowledged end, a fold of it, and a condition
    that wakes subscribers when it grows."""

    def __init__(self, run_dir: Path):
        self.log_dir = run_dir / "log"
        self.blobs = BlobStore(run_dir / "blobs")
        self.tail = LogTail(self.log_dir) if (self.log_dir / COMMITTED).exists() else None
        self.reader = LogReader(self.log_dir)
        self.state = RunState()
        self.changed = asyncio.Condition()
        self.end = 0
        self.damage: CorruptLog | None = None  # the first damaged frame met, if any

    def committed(self) -> int:
        if self.tail:
            return self.tail.committed()
        try:
            return self.reader.end_offset()
        except CorruptLog as exc:  # a copied run without COMMITTED: serve what precedes the damage
            self.damage = exc
            return max(self.end, exc.offset)

    def read(self, from_offset: int, limit: int, where: Filter | None = None):
        """Matching records from `from_offset`, never past the acknowledged end. A damaged frame
        stops the read just before it: the records in front of it are returned, and a read that
        starts at the damage raises CorruptLog (segment, byte position, offset)."""
        end = self.end
        if from_offset >= end:
            return [], from_offset
        scan = max(limit, 10_000)
        if self.damage is not None:  # never read at or past known damage: a later segment may not be ours
            if from_offset >= self.damage.offset:
                raise self.damage
            scan = min(scan, self.damage.offset - from_offset)
        try:
            records, nxt = self.reader.read(from_offset, limit, where, max_scan=scan)
        except CorruptLog as exc:
            self.damage = exc
            if exc.offset <= from_offset:
                raise
            records, nxt = self.reader.read(from_offset, limit, where, max_scan=exc.offset - from_offset)
        records = [r for r in records if r.offset < end]
        return records, min(nxt, end)

    def fold(self) -> None:
        """Fold what is acknowledged into the tables; they stop in front of damage, if any."""
        while self.state.next_offset < self.end:
            try:
                records, _ = self.read(self.state.next_offset, BATCH)
            except CorruptLog:
                break
            if not records:
                break
            self.state.apply_all(records)

    async def watch(self) -> None:
        while True:
            end = self.committed()
            if end != self.end:
                self.end = end
                self.fold()
                async with self.changed:
                    self.changed.notify_all()
            await asyncio.sleep(POLL_S)

    async def wait_past(self, offset: int, timeout: float) -> None:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(lambda: self.end > offset), timeout)
            except TimeoutError:
                pass


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"query parameter {name}={value!r} is not an integer") from None
    if n < 0:
        raise BadRequest(f"query parameter {name} must be >= 0")
    return n


class BadRequest(ValueError):
    pass


def _filter(request: Request) -> Filter | None:
    stream = request.query_params.get("stream")
    types = request.query_params.getlist("type")
    return Filter(stream, types) if (stream or types) else None


def _json(obj, status: int = 200) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def create_app(run_dir: str | Path, token: str | None = None) -> Starlette:
    run_dir = Path(run_dir)
    if not (run_dir / "log").is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no log/)")
    feed = RunFeed(run_dir)

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
        try:
            start = int(last) + 1 if last is not None else _int(request, "from", 0)
        except ValueError:
            raise BadRequest(f"Last-Event-ID {last!r} is not an offset") from None
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
                    yield ServerSentEvent(data=orjson.dumps(record_to_jsonable(r)).decode(), id=str(r.offset),
                                          event=r.type)
                at = nxt
                await asyncio.sleep(0)  # let the disconnect listener run between batches
                if await request.is_disconnected():
                    return
                if at >= feed.end:
                    await feed.wait_past(at - 1, PING_S)

        return EventSourceResponse(gen(), ping=PING_S, headers={"X-Accel-Buffering": "no"})

    async def trials(request: Request) -> Response:
        rows = feed.state.trials.rows.values()
        return _json([msgspec.to_builtins(r) for r in rows])

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
        return _json(out)

    async def lineage(request: Request) -> Response:
        return _json([{"trial_id": r.trial_id, "parent_id": r.parent_id, "depth": r.depth, "agent": r.agent,
                       "status": r.status or r.phase, "score": r.score, "hypothesis": r.hypothesis, "prefix": p}
                      for r, p in preorder(feed.state.trials.rows)])

    async def leaderboard(request: Request) -> Response:
        st = feed.state
        rule = st.trials.keep_rule
        valid = [r for r in st.trials.rows.values() if r.verdict == "valid" and r.score is not None]
        valid.sort(key=lambda r: r.score if rule.direction == "minimize" else -r.score)
        return _json({"metric": rule.metric, "direction": rule.direction, "best": st.trials.best_id,
                      "next_offset": st.next_offset, "stopped": st.run.stopped,
                      **({"log_damage": _damage(feed.damage)} if feed.damage else {}),
                      "best_history": [msgspec.to_builtins(p) for p in st.trials.best_history],
                      "top": [msgspec.to_builtins(r) for r in valid[: _int(request, "top", 20)]]})

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
        (_, components) = msgspec.json.schema_components(EVENT_TYPES, ref_template="#/$defs/{name}")
        return _json({"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": components,
                      "oneOf": [{"$ref": f"#/$defs/{t.__name__}"} for t in EVENT_TYPES]})

    async def openapi(request: Request) -> Response:
        return _json(OPENAPI)

    async def dashboard(request: Request) -> Response:
        return HTMLResponse(DASHBOARD.read_text())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        feed.end = feed.committed()
        feed.fold()
        if feed.damage is not None:
            logging.getLogger("uvicorn.error").warning("%s; serving the %d events before it", feed.damage,
                                                       feed.damage.offset)
        task = asyncio.create_task(feed.watch())
        yield
        task.cancel()

    app = Starlette(routes=[
        Route("/events", events), Route("/events/stream", stream), Route("/trials", trials),
        Route("/trials/{trial_id}", trial), Route("/lineage", lineage), Route("/leaderboard", leaderboard),
        Route("/blobs/{sha256}", blob), Route("/schema/events", schema), Route("/openapi.json", openapi),
        Route("/", dashboard),
    ], middleware=[Middleware(Guard, token=token)], lifespan=lifespan)
    app.state.feed = feed
    return app


class Guard:
    """Bearer-token check (when a token is set) and clear 400s for bad parameters."""

    def __init__(self, app, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.token:
            headers = dict(scope.get("headers") or [])
            got = headers.get(b"authorization", b"").decode(errors="replace")
            # a browser's EventSource cannot send headers: the dashboard passes ?token= instead
            query = dict(parse_qsl(scope.get("query_string", b"").decode(errors="replace")))
            if not (hmac.compare_digest(got, f"Bearer {self.token}")
                    or hmac.compare_digest(query.get("token", ""), self.token)):
                resp = JSONResponse({"error": "a bearer token is required"}, 401,
                                    headers={"WWW-Authenticate": "Bearer"})
                return await resp(scope, receive, send)
        try:
            return await self.app(scope, receive, send)
        except BadRequest as exc:
            return await JSONResponse({"error": str(exc)}, 400)(scope, receive, send)


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


def _param(name: str, desc: str, kind: str = "integer") -> dict:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": kind}}


FILTERS = [_param("stream", "only streams starting with this prefix", "string"),
           _param("type", "only this event type (repeatable)", "string")]
OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "autorecipe gateway", "version": "1"},
    "paths": {
        "/events": {"get": {"summary": "events from an offset, as JSON lines; X-Next-Offset is where to go on",
                            "parameters": [_param("from", "first offset"), _param("limit", "at most this many"),
                                           *FILTERS]}},
        "/events/stream": {"get": {"summary": "server-sent events; id is the global offset; resume with "
                                              "Last-Event-ID or ?from=", "parameters": [_param("from", "first offset"),
                                                                                      *FILTERS]}},
        "/trials": {"get": {"summary": "every trial's row"}},
        "/trials/{trial_id}": {"get": {"summary": "one trial: verdict, hypothesis, feedback, diff (diff_text) and "
                                                  "the tail of each phase's log (log_tails: {\"logs/<phase>\": text})",
                                       "parameters": [_param("log_lines", f"lines of each log's tail (default "
                                                                         f"{LOG_LINES}, at most {MAX_LOG_LINES})")]}},
        "/lineage": {"get": {"summary": "the lineage tree in preorder"}},
        "/leaderboard": {"get": {"summary": "valid trials by score, the best and its history"}},
        "/blobs/{sha256}": {"get": {"summary": "a content-addressed blob, verified on read"}},
        "/schema/events": {"get": {"summary": "JSON Schema of every event type"}},
    },
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}

