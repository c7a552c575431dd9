"""The one-machine stack: the Prefect server, the provider sandbox, the web app and the flow runner.

::

    with Stack(settings, console=err) as stack:     # starts each in turn, waits until it answers
        print(stack.prefect_ui, stack.web, stack.sandbox)
        stack.wait()                                # until Ctrl-C / SIGTERM, or a child dies

A Prefect server already answering at the configured API URL is reused, not started. The sandbox is
started only when some provider has no credentials. Every child gets the same ``CLARION_HOME``,
store, Prefect API and URLs. Starting, logs, pid files and stopping are :mod:`faces.supervisor`'s:
a child that exits early or does not answer in time stops everything and raises :class:`StackError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import httpx
from rich.console import Console

from clarion.settings import Settings
from faces.console import SafeConsole
from faces.supervisor import Service, StackError, Supervisor, probe

__all__ = ["QUIET", "Service", "Stack", "StackError"]

DEFAULT_WEB_PORT = 8765
DEFAULT_PREFECT_PORT = 4200
DEFAULT_SANDBOX_PORT = 8766
PROBE_TIMEOUT = 2.0
PROBE_PATIENCE = 15.0
"""How long a server already on the Prefect port may take to answer before the port counts as taken."""
PREFECT_TIMEOUT = 180.0  # a first start runs the migrations: 20-35 s on a 2-core machine
SANDBOX_TIMEOUT = 60.0
WEB_TIMEOUT = 60.0
FLOWS_TIMEOUT = 120.0
QUIET = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
RUNNER_POLL_SECONDS = "1"
"""How often the runner asks for runs to start (Prefect's default is 10 s): a declaration waits half
of it on average before its process starts. One small query a second; 2 s cost a second per start."""


def default_port(public_url: str) -> int:
    """The port of ``public_url`` when it names one, else 8765 (never 80/443: a proxy sits there)."""
    try:
        port = urlsplit(public_url).port
    except ValueError:
        return DEFAULT_WEB_PORT
    return port or DEFAULT_WEB_PORT


def _url_host(host: str) -> str:
    """The address clients use for a listening ``host`` (a wildcard is reached over loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"[{host}]" if ":" in host else host


def _port_of(url: str, default: int) -> int:
    try:
        return urlsplit(url).port or default
    except ValueError:
        return default


def _port_free(host: str, port: int) -> bool:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError:
        return False
    return True


def _answers(
    url: str, check: Callable[[httpx.Response], bool] = lambda r: True, *, timeout: float = PROBE_TIMEOUT
) -> Callable[[], bool]:
    def ready() -> bool:
        response = httpx.get(url, timeout=timeout)
        return response.status_code == 200 and check(response)

    return ready


def _server_now(api: str) -> datetime:
    """The Prefect server's clock (its Date header, floored to the second), else ours less a second."""
    with contextlib.suppress(httpx.HTTPError, TypeError, ValueError):
        return parsedate_to_datetime(httpx.get(f"{api}/health", timeout=PROBE_TIMEOUT).headers["date"])
    return datetime.now(UTC) - timedelta(seconds=1)


class _DeploymentsServed:
    """Ready once every deployment exists, is not paused and was polled by a runner since ``since``.

    Deployments outlive their runner (a stopped runner pauses them), so existing is not enough.
    """

    def __init__(self, api: str, names: Sequence[str], since: datetime) -> None:
        self.api = api
        self.pending = set(names)
        self.since = since

    def __call__(self) -> bool:
        for name in sorted(self.pending):
            response = httpx.get(f"{self.api}/deployments/name/{name}", timeout=PROBE_TIMEOUT)
            if response.status_code != 200:
                return False
            body = response.json()
            polled = body.get("last_polled")
            if body.get("paused") or not polled or datetime.fromisoformat(polled) < self.since:
                return False
            self.pending.discard(name)
        return True

    def lacking(self) -> str:
        return f"not served yet: {', '.join(sorted(self.pending))}"


class Stack:
    """clarion on one machine; see the module docstring. URLs are known once it has started."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        web_port: int | None = None,
        prefect_port: int | None = None,
        sandbox_port: int | None = None,
        sandbox: bool = True,
        console: Console | None = None,
        grace: float = 10.0,
    ) -> None:
        from channels.registry import uses_sandbox

        self.settings = settings
        self.host = host
        self.home = settings.home.resolve()
        self.logs = self.home / "logs"
        self.console = console or SafeConsole(stderr=True)
        self.configured_prefect_api = (os.environ.get("PREFECT_API_URL") or settings.prefect_api_url).rstrip(
            "/"
        )
        self.prefect_port = prefect_port or _port_of(self.configured_prefect_api, DEFAULT_PREFECT_PORT)
        self.web_port = web_port or default_port(settings.public_url)
        self.sandbox_port = sandbox_port or _port_of(settings.sandbox_url, DEFAULT_SANDBOX_PORT)
        self.without_credentials = [channel for channel, used in uses_sandbox(settings).items() if used]
        self.prefect_reused = False
        where = _url_host(host)
        self.prefect_ui = f"http://{where}:{self.prefect_port}"
        self.prefect_api = f"{self.prefect_ui}/api"
        self.web = f"http://{where}:{self.web_port}"
        self.sandbox: str | None = (
            f"http://{where}:{self.sandbox_port}" if sandbox and self.without_credentials else None
        )
        self._supervisor = Supervisor(self.home, console=self.console, grace=grace)

    @property
    def pids(self) -> dict[str, int]:
        return self._supervisor.pids

    def __enter__(self) -> Stack:
        self._supervisor.__enter__()
        try:
            self._start()
        except BaseException:
            self._supervisor.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._supervisor.__exit__(kind, exc, tb)

    def wait(self) -> None:
        """Block until interrupted (KeyboardInterrupt) or until a child dies (StackError)."""
        self._supervisor.wait()

    def check(self) -> None:
        """StackError when a child is no longer running (for callers that do work of their own)."""
        self._supervisor.check()

    def _start(self) -> None:
        health = f"{self.configured_prefect_api}/health"
        self.prefect_reused = probe(_answers(health))
        if not self.prefect_reused and not _port_free(self.host, self.prefect_port):
            # something holds the port: a busy Prefect server answers late, so ask once more, patiently,
            # before calling the port taken (a loaded CI machine missed a 2 s answer)
            self.prefect_reused = probe(_answers(health, timeout=PROBE_PATIENCE))
        if self.prefect_reused:
            self.prefect_api = self.configured_prefect_api
            self.prefect_ui = self.prefect_api.removesuffix("/api")
            self.console.print(f"reusing the Prefect server already answering at {self.prefect_api}")
        self._refuse_ports_in_use()
        for service in self._services():  # lazily: each is built once the one before answers
            self._supervisor.start(service)

    def _refuse_ports_in_use(self) -> None:
        wanted = {"the web app (--port)": self.web_port}
        if not self.prefect_reused:
            wanted["the Prefect server (--prefect-port)"] = self.prefect_port
        if self.sandbox is not None:
            wanted["the provider sandbox (--sandbox-port)"] = self.sandbox_port
        for what, port in wanted.items():
            if not _port_free(self.host, port):
                raise StackError(f"cannot start {what}: {self.host}:{port} is already in use")

    @staticmethod
    def _names() -> list[str]:
        from flows.deployments import SPECS

        return [spec.full_name for spec in SPECS]

    def _env(self) -> dict[str, str]:
        """What every child shares: one store, one home, one Prefect API, the same URLs."""
        public_url = self.settings.public_url if "public_url" in self.settings.model_fields_set else self.web
        env = QUIET | {
            "PYTHONUNBUFFERED": "1",
            "CLARION_HOME": str(self.home),
            "CLARION_DATABASE_URL": self.settings.effective_database_url,
            "CLARION_PUBLIC_URL": public_url,
            "CLARION_PREFECT_API_URL": self.prefect_api,
            "PREFECT_API_URL": self.prefect_api,
            "PREFECT_HOME": str(self.home / "prefect"),
        }
        if self.sandbox is not None:
            env["CLARION_SANDBOX_URL"] = self.sandbox
            if self.settings.sendgrid_api_key is None and self.settings.sendgrid_event_public_key is None:
                from channels.sandbox.events import SENDGRID_SANDBOX_EVENT_PUBLIC_KEY

                # the sandbox signs its Event Webhook posts with its own key: the web app checks them
                env["CLARION_SENDGRID_EVENT_PUBLIC_KEY"] = SENDGRID_SANDBOX_EVENT_PUBLIC_KEY
        return env

    def _sandbox_config(self) -> Path:
        """The sandbox's settings: it posts SendGrid's delivery events to the web app, signed."""
        path = self.home / "sandbox.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"sendgrid_event_url": f"{self.web}/webhooks/sendgrid/events"}))
        return path

    def _services(self) -> Iterator[Service]:
        env = self._env()
        python = sys.executable
        listen = ("--host", self.host)
        if not self.prefect_reused:
            yield Service(
                "prefect-server",
                "the Prefect server",
                [python, "-m", "prefect", "server", "start", *listen, "--port", str(self.prefect_port)],
                env | {"PREFECT_UI_API_URL": self.prefect_api},
                _answers(f"{self.prefect_api}/health", lambda r: r.json() is True),
                PREFECT_TIMEOUT,
            )
        if self.sandbox is not None:
            yield Service(
                "sandbox",
                "the provider sandbox",
                [
                    *(python, "-m", "channels.sandbox", *listen, "--port", str(self.sandbox_port)),
                    *("--config", str(self._sandbox_config())),
                ],
                env,
                _answers(f"{self.sandbox}/_sandbox/inbox?limit=0"),
                SANDBOX_TIMEOUT,
            )
        yield Service(
            "web",
            "the web app",
            [
                python,
                "-c",
                "from faces.cli import main; main()",
                "web",
                *listen,
                "--port",
                str(self.web_port),
            ],
            env,
            _answers(f"{self.web}/banner.json"),
            WEB_TIMEOUT,
        )
        served = _DeploymentsServed(self.prefect_api, self._names(), since=_server_now(self.prefect_api))
        yield Service(
            "flows",
            "the flow runner",
            [python, "-m", "flows"],
            env | {"PREFECT_RUNNER_POLL_FREQUENCY": RUNNER_POLL_SECONDS},
            served,
            FLOWS_TIMEOUT,
            served.lacking,
        )
