"""Running the sandbox: in a background thread (:func:`running_sandbox`) or in the foreground (:func:`serve`).

::

    with running_sandbox(SandboxConfig(fault_rate=0.1, seed=7)) as sandbox:
        httpx.post(f"{sandbox.url}/v3/mail/send", ...)
        sandbox.stats()["accepted"]["email"]

uvicorn runs with ``log_level="warning"`` and no access log; the socket is bound before the server
starts, so ``port=0`` picks a free port and ``.url`` is known at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from channels.sandbox.config import SandboxConfig
from channels.sandbox.inbox import InboxRecord, channel_named
from channels.sandbox.state import SandboxState

STARTUP_TIMEOUT = 10.0
GRACEFUL_SHUTDOWN_SECONDS = 2


class SandboxHandle:
    """A running sandbox, seen from the process that started it."""

    def __init__(self, url: str, state: SandboxState) -> None:
        self.url = url
        self._state = state

    @property
    def config(self) -> SandboxConfig:
        return self._state.config

    def configure(self, config: SandboxConfig | None = None, **changes: Any) -> SandboxConfig:
        """Change the config; returns the one now in force.

        ``configure(fault_rate=0.1)`` changes fields of the current config; ``configure(config)``
        replaces it (plus ``changes``, if given); ``configure()`` restores the defaults.
        """
        base = config or (self._state.config if changes else SandboxConfig())
        new = base.updated(changes) if changes else base
        self._state.configure(new)
        return new

    def inbox(
        self, channel: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[InboxRecord]:
        """Accepted records, oldest first; ``channel`` as in ``/_sandbox/inbox``."""
        wanted = channel_named(channel) if channel else None
        return self._state.inbox.records(wanted, limit=limit, offset=offset)[1]

    def stats(self) -> dict[str, Any]:
        return self._state.inbox.stats()

    def reset(self) -> None:
        """Forget every message and count (the config stays)."""
        self._state.reset()

    def opt_out(self, number: str) -> None:
        """``number`` replies STOP: Twilio sends to it fail with 21610."""
        self._state.opt_out(number)

    def __repr__(self) -> str:
        return f"<SandboxHandle {self.url}>"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(state: SandboxState, *, graceful: int | None) -> Any:
    import uvicorn

    from channels.sandbox.app import create_app
    from channels.sandbox.events import drain
    from channels.sandbox.faults import silence_deliberate_drops

    class Server(uvicorn.Server):
        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().serve(sockets=sockets)
            finally:  # the delivery events still on their way end inside the loop, not with it
                state.closing = True
                await drain()

    config = uvicorn.Config(
        create_app(state),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=graceful,
    )
    silence_deliberate_drops()
    return Server(config)


@contextmanager
def running_sandbox(
    config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[SandboxHandle]:
    """Start the sandbox in a background thread; stop it on exit."""
    state = SandboxState(config)
    sock = _bind(host, port)
    try:
        server = _server(state, graceful=GRACEFUL_SHUTDOWN_SECONDS)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported to the caller below, not swallowed
                failure.append(exc)

        thread = threading.Thread(target=run, name=f"clarion-sandbox-{_url(host, sock)}", daemon=True)
        thread.start()
        _wait(lambda: bool(server.started) or bool(failure) or not thread.is_alive())
        if not server.started:
            server.should_exit = True
            thread.join(STARTUP_TIMEOUT)
            raise RuntimeError("the provider sandbox did not start") from (failure[0] if failure else None)
        try:
            yield SandboxHandle(_url(host, sock), state)
        finally:
            state.closing = True
            server.should_exit = True
            thread.join(STARTUP_TIMEOUT + GRACEFUL_SHUTDOWN_SECONDS)
    finally:
        sock.close()


def _wait(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)


def serve(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8766,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the sandbox in the foreground until interrupted; ``on_ready(url)`` once it is bound."""
    state = SandboxState(config)
    sock = _bind(host, port)
    try:
        server = _server(state, graceful=GRACEFUL_SHUTDOWN_SECONDS)
        if on_ready is not None:
            on_ready(_url(host, sock))
        server.run(sockets=[sock])
    finally:
        state.closing = True
        sock.close()
