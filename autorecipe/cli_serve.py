"""`autorecipe serve` and `autorecipe stream`: a run over HTTP, and following one."""

from __future__ import annotations

import ipaddress
import os
import sys

import click
import orjson

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port; 0 takes a free one (the URL printed names it).")
@click.option("--token", envvar="AUTORECIPE_TOKEN", help="Bearer token clients must send (or $AUTORECIPE_TOKEN); "
              "required to bind anywhere but loopback.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host header names NAME (repeatable). By default only loopback names "
              "are answered, so a web page on another name that resolves here (DNS rebinding) cannot read the run; "
              "with a non-loopback --host and no --allow-host, any name is answered (the token guards it).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Let pages on ORIGIN (e.g. http://localhost:3000) call the API from a browser (repeatable); "
              "off by default.")
def serve_cmd(run_dir: str, host: str, port: int, token: str | None, allow_hosts: tuple[str, ...],
              cors_origins: tuple[str, ...]) -> None:
    """Serve RUN_DIR's events (JSON lines and server-sent events), trials, lineage, leaderboard
    and blobs over HTTP, following the log as it grows. Works on a live run and on a copy.

    \b
      autorecipe serve runs/golf-mini-...                 http://127.0.0.1:8000
      autorecipe serve RUN --host 0.0.0.0 --token S3CRET  reachable from elsewhere, with a token
      curl -N http://127.0.0.1:8000/events/stream?from=0  follow it
    """
    import uvicorn

    from autorecipe.embedded_gateway import PortBusy, bind
    from autorecipe.errors import fail
    from autorecipe.session_view import session_view
    from events.gateway import create_app
    from events.store import DamagedWitness, read_committed

    if not is_loopback(host) and not token:
        raise click.UsageError(f"binding {host} exposes the run beyond this machine: give --token "
                               "(or $AUTORECIPE_TOKEN), or bind 127.0.0.1")
    try:
        if allow_hosts:
            hosts = (*LOOPBACK, *allow_hosts, *(() if is_loopback(host) else (host,)))
        else:
            hosts = LOOPBACK if is_loopback(host) else ("*",)
        app = create_app(run_dir, token=token, allowed_hosts=hosts, cors_origins=cors_origins,
                         session_view=session_view(run_dir))
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        fail(str(exc))
    try:  # what the gateway follows, read once here: a file it cannot read is one line, not a traceback
        read_committed(os.path.join(run_dir, "log"))
    except DamagedWitness as exc:
        click.echo(f"warning: {exc}; serving the events the segments hold", err=True)
    except OSError as exc:
        fail(f"{exc.filename or run_dir}: {exc.strerror or exc}: the gateway cannot read the log's COMMITTED")
    try:  # bound before "serving" is said: a busy or impossible address is one line, not a traceback
        sock = bind(port, host, flag="--port")
    except PortBusy as exc:
        fail(str(exc))
    port = sock.getsockname()[1]
    where = f"[{host}]" if ":" in host else host
    click.echo(f"serving {run_dir} on http://{where}:{port}  (/events, /events/stream, /trials, /lineage, "
               f"/leaderboard, /health, /openapi.json){'; token required' if token else ''}", err=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    finally:
        sock.close()


@click.command("stream")
@click.argument("url")
@click.option("--from", "from_offset", type=click.IntRange(0), default=0, show_default=True, help="First offset.")
@click.option("--type", "types", multiple=True, metavar="T", help="Only this event type (repeatable).")
@click.option("--stream", "stream_prefix", metavar="S", help="Only streams starting with S.")
@click.option("--token", envvar="AUTORECIPE_TOKEN", help="Bearer token (or $AUTORECIPE_TOKEN).")
@click.option("--json", "as_json", is_flag=True, help="Whole records as JSON lines.")
@click.option("--give-up-after", "first_connect_s", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, metavar="SECONDS",
              help="Stop when no first connection succeeds within this long; once one has, a dropped connection "
                   "is retried without end.")
def stream_cmd(url: str, from_offset: int, types: tuple[str, ...], stream_prefix: str | None, token: str | None,
               as_json: bool, first_connect_s: float = 60.0) -> None:
    """Follow a served run from URL, printing events as they arrive; reconnects and resumes
    after the last offset printed, so nothing is missed or printed twice."""
    import asyncio

    from autorecipe.errors import fail
    from events.consumer import GaveUp, LogDamaged, Unauthorized, follow
    from events.gateway import check_token

    try:
        check_token(token)
    except ValueError as exc:
        fail(str(exc))

    async def main():
        async for rec in follow(url, from_offset, list(types), stream_prefix, token, first_connect_s=first_connect_s,
                                on_reconnect=lambda e, d: click.echo(f"(reconnecting in {d:.1f}s: {e})", err=True)):
            if as_json:
                sys.stdout.write(orjson.dumps(rec).decode() + "\n")
            else:
                ev = dict(rec["event"])
                kind = ev.pop("type", "?")
                sys.stdout.write(f"{rec['offset']:>8}  {rec['stream']:<22} {kind:<22} "
                                 f"{orjson.dumps(ev).decode()[:160]}\n")
            sys.stdout.flush()

    try:
        asyncio.run(main())
    except (Unauthorized, LogDamaged) as exc:
        raise click.ClickException(str(exc)) from None
    except GaveUp as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        os._exit(0)
