"""The gateway in a thread of this process, on a loopback port: `run --serve PORT`.

The port is bound before anything else happens, so a busy one (another run's gateway, say)
fails loudly instead of leaving the URL serving a different run. Stopping is graceful: open
streams are closed, the follower task is cancelled and awaited, nothing is printed."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"


class PortBusy(OSError):
    pass


def bind(port: int, host: str = HOST, flag: str = "--serve PORT") -> socket.socket:
    """A listening socket on host:port, or PortBusy saying why not (in use, not an address of
    this machine, not allowed) and which `flag` to change."""
    if not 0 <= port <= 65535:
        raise PortBusy(f"port {port} is not a TCP port (0 to 65535): pick another {flag}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise PortBusy(f"cannot serve on {host}:{port}: {host!r} is not a host name or address here "
                       f"({getattr(exc, 'strerror', None) or exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortBusy(f"port {port} on {host} is in use (another run's gateway?): pick another {flag}, "
                           f"or stop what holds it") from None
        raise PortBusy(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(256)
    return sock


class EmbeddedGateway:
    def __init__(self, run_dir: Path, port: int):
        import uvicorn

        from autorecipe.session_view import session_view
        from events.gateway import create_app

        self.sock = bind(port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(create_app(run_dir, session_view=session_view(run_dir)), log_level="warning", timeout_graceful_shutdown=1,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="autorecipe-gateway")

    def start(self, timeout: float = 30.0) -> "EmbeddedGateway":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise PortBusy(f"the gateway on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Close the streams and stop; quietly (a run that ends is not an error)."""
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        self.server.should_exit = True
        self.thread.join(timeout=5)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout=5)
        self.sock.close()

    def wait(self) -> None:
        """Serve until Ctrl-C."""
        try:
            while self.thread.is_alive():
                self.thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
