"""``clarion serve``: the web app (banner feed, banner script, summary.json, unsubscribe, webhooks).

FastAPI, uvicorn and the store are imported inside the command, so ``clarion --help`` stays fast.
The listening socket is bound before uvicorn starts, so a port in use is refused with a plain
message and exit code 1 instead of a server log line.
"""

from __future__ import annotations

import socket
from typing import Annotated
from urllib.parse import urlsplit

import typer

DEFAULT_PORT = 8765


def default_port(public_url: str) -> int:
    """The port of ``public_url`` when it names one, else 8765 (never 80/443: a proxy sits there)."""
    try:
        port = urlsplit(public_url).port
    except ValueError:
        return DEFAULT_PORT
    return port or DEFAULT_PORT


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; OSError names what went wrong."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Port to listen on (default: the port of CLARION_PUBLIC_URL, else 8765)."
        ),
    ] = None,
) -> None:
    """Run clarion's web app: banner.json, banner.js, summary.json, unsubscribe and webhooks."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from clarion.errors import ClarionError
    from clarion.settings import get_settings
    from clarion.store import get_engine, migrate
    from faces.cli import fail, out
    from faces.web.app import create_app

    settings = get_settings()
    port = port if port is not None else default_port(settings.public_url)
    engine = get_engine()
    try:
        migrate(engine)
    except (ClarionError, SQLAlchemyError) as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise fail(
            f"error: cannot prepare the store at {where}: {getattr(exc, 'orig', None) or exc}"
        ) from exc
    try:
        sock = _listen(host, port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    base = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    out.print(
        f"clarion on {base}: {base}/banner.json  {base}/banner.js  {base}/api/v2/summary.json",
        markup=False,
    )
    config = uvicorn.Config(create_app(settings, engine=engine), log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
