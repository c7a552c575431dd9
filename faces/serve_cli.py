"""``clarion serve`` (everything on one machine) and ``clarion web`` (the web app alone).

``clarion serve`` starts the Prefect server (or reuses one that answers), the provider sandbox (when
some provider has no credentials), the web app and the flow runner, prints their URLs and stops them
all on Ctrl-C; see :mod:`faces.stack`. ``clarion web`` is the web app alone: banner feed, banner
script, summary.json, unsubscribe and webhooks.

FastAPI, uvicorn, Prefect and the store are imported inside the commands, so ``clarion --help``
stays fast. ``web`` binds its socket before uvicorn starts, so a port in use is refused with a plain
message and exit code 1 instead of a server log line.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import sqlalchemy as sa

    from clarion.settings import Settings
    from faces.stack import Stack


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


def _prepared_store() -> sa.Engine:
    """The store's engine, migrated to the newest schema; exit 1 naming the store when that fails."""
    from sqlalchemy.exc import SQLAlchemyError

    from clarion.errors import ClarionError
    from clarion.store import describe, get_engine, migrate
    from faces.console import fail

    engine = get_engine()
    try:
        migrate(engine)
    except (ClarionError, SQLAlchemyError) as exc:
        where = describe(engine.url)
        raise fail(
            f"error: cannot prepare the store at {where}: {getattr(exc, 'orig', None) or exc}"
        ) from exc
    return engine


def _check_signing_key(settings: Settings) -> None:
    """Exit 1 with one line when the unsubscribe links' signing key is missing, empty or weak."""
    from clarion.audiences.unsubscribe import secret_key
    from clarion.errors import ConfigError
    from faces.console import fail

    try:
        secret_key(settings)
    except ConfigError as exc:
        raise fail(f"error: {exc}") from exc


def serve(
    host: Annotated[str, typer.Option(help="Interface every part listens on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="The web app's port (default: the port of CLARION_PUBLIC_URL, else 8765)."
        ),
    ] = None,
    prefect_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="The Prefect server's port (default: the port of PREFECT_API_URL or "
            "CLARION_PREFECT_API_URL, else 4200).",
        ),
    ] = None,
    sandbox_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="The provider sandbox's port (default: the port of CLARION_SANDBOX_URL, else 8766).",
        ),
    ] = None,
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox", help="Never start the provider sandbox, even for providers without credentials."
        ),
    ] = False,
) -> None:
    """Run clarion on this machine: the Prefect server, the flows, the web app and the provider sandbox.

    A Prefect server already answering at PREFECT_API_URL (or CLARION_PREFECT_API_URL) is reused.
    Logs go to CLARION_HOME/logs/, pids to CLARION_HOME/run/. Ctrl-C stops everything.
    """
    import os

    from clarion.settings import get_settings
    from clarion.store import describe
    from faces.console import err
    from faces.stack import QUIET, Stack, StackError

    os.environ.update(QUIET)  # no telemetry from Prefect, here or in any child
    settings = get_settings()
    _check_signing_key(settings)
    engine = _prepared_store()
    stack = Stack(
        settings,
        host=host,
        web_port=port,
        prefect_port=prefect_port,
        sandbox_port=sandbox_port,
        sandbox=not no_sandbox,
        console=err,
    )
    try:
        with stack:
            _print_banner(stack, describe(engine.url))
            stack.wait()
    except StackError as exc:
        for line in exc.details():
            err.print(line, markup=False)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        err.print("clarion stopped", markup=False)


def _print_banner(stack: Stack, store: str) -> None:
    from faces.console import out

    missing = ", ".join(channel.value for channel in stack.without_credentials)
    if stack.sandbox is not None:
        why = "no provider credentials set" if len(stack.without_credentials) == 4 else f"for {missing}"
        sandbox = f"{stack.sandbox}/_sandbox/inbox   ({why})"
    elif missing:
        sandbox = f"not started (--no-sandbox): {missing} go to {stack.settings.sandbox_url}"
    else:
        sandbox = "not needed: every provider has credentials"
    reused = "   (already running)" if stack.prefect_reused else ""
    rows = {
        "Prefect UI": f"{stack.prefect_ui}{reused}",
        "status page": f"{stack.web}/  {stack.web}/api/v2/summary.json  {stack.web}/banner.json",
        "provider sandbox": sandbox,
        "store": store,
        "logs": f"{stack.logs}/",
    }
    out.print("clarion is running (Ctrl-C stops everything)", markup=False)
    for label, value in rows.items():
        out.print(f"  {label:<17}{value}", markup=False)


def web(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Port to listen on (default: the port of CLARION_PUBLIC_URL, else 8765)."
        ),
    ] = None,
) -> None:
    """Run clarion's web app: the status page (/, /api/v2/summary.json, feeds), subscriptions, the
    banner, unsubscribe and webhooks. Behind a reverse proxy, set FORWARDED_ALLOW_IPS to its
    address (uvicorn trusts 127.0.0.1 by default) so rate limits count each client, not the proxy."""
    import uvicorn

    from clarion.settings import get_settings
    from faces.console import fail, out
    from faces.stack import default_port
    from faces.web.app import create_app

    settings = get_settings()
    _check_signing_key(settings)
    port = port if port is not None else default_port(settings.public_url)
    engine = _prepared_store()
    try:
        sock = _listen(host, port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    base = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    out.print(
        f"clarion on {base}: the status page {base}/  {base}/api/v2/summary.json  {base}/banner.js",
        markup=False,
    )
    config = uvicorn.Config(create_app(settings, engine=engine), log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
