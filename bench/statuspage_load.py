"""Servers and load for ``bench/statuspage.py``: the web app under uvicorn, nginx serving the same bytes
from a docroot, and wrk with its figures parsed. CPU time and peak RSS are read from ``/proc`` (Linux),
for a process and every process under it (uvicorn's workers, nginx's workers).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

WRK_TIMEOUT_S = 10
"""A response slower than this counts as an error (wrk leaves it out of the latency figures)."""
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds
SIZE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
TICKS = os.sysconf("SC_CLK_TCK")
BENCH = Path(__file__).resolve().parent


def tool(name: str) -> str | None:
    """Where the command ``name`` is (nginx sits in /usr/sbin, which a user's PATH may leave out)."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    """No CLARION_* setting of the caller's (a real store!) reaches the servers."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLARION_")}


def tree(pid: int) -> list[int]:
    """``pid`` and every live process under it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += [child for child, parent in parents.items() if parent == current]
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def peak_rss_mb(pids: list[int]) -> list[float]:
    """Each process's peak resident memory (VmHWM), in MB."""
    peaks = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if found:
            peaks.append(int(found[1]) / 1024)
    return peaks


class Server:
    """A server in its own process group, logging to a file; ``url`` once it answers."""

    name = "server"

    def __init__(
        self, command: list[str], folder: Path, env: dict[str, str], *, port: int, probe: str
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = folder / f"{self.name}.log"
        self.log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(  # noqa: S603 — uvicorn or nginx, with our own arguments
            command, cwd=folder, stdout=self.log, stderr=self.log, env=env, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + probe, timeout=5)
                return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{self.name} did not start:\n{self.log_path.read_text()[-2000:]}")

    def pids(self) -> list[int]:
        return tree(self.process.pid)

    def last_error(self) -> str | None:
        """The last line of the server's log that names an error (the end of a traceback)."""
        self.log.flush()
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        named = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line)]
        return named[-1][:200] if named else None

    def settle(self, processes: int) -> None:
        """Wait until ``processes`` run and all of them idle (workers done importing), at most 60 s."""
        deadline = time.monotonic() + 60
        before = cpu_seconds(self.pids())
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = cpu_seconds(pids := self.pids())
            if len(pids) >= processes and now - before < 0.05:
                return
            before = now

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """One request on a new connection, asking for the bytes as wrk gets them (no compression)."""
        return httpx.get(
            self.url + path, headers={"Accept-Encoding": "identity", **(headers or {})}, timeout=30
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:  # then our own process group: the workers too
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class App(Server):
    """``uvicorn faces.web.app:create_app --factory`` with ``workers`` processes (1: in-process, as
    ``clarion web`` runs it; more: uvicorn's supervisor and its workers sharing the socket)."""

    def __init__(self, folder: Path, env: dict[str, str], *, workers: int, http: str, loop: str) -> None:
        self.name = f"clarion-{workers}w"
        self.workers = workers
        command = [sys.executable, "-m", "uvicorn", "faces.web.app:create_app", "--factory"]
        port = free_port()
        command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        command += ["--http", http, "--loop", loop, "--log-level", "warning", "--no-access-log"]
        super().__init__(command, folder, env, port=port, probe="/healthz")
        self.settle(workers + (workers > 1))


@dataclass(frozen=True)
class Document:
    path: str
    body: bytes
    content_type: str
    etag: str


NGINX_CONF = """daemon off;
master_process on;
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/nginx.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    types {{ }}
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    client_body_temp_path {folder}/tmp-body;
    proxy_temp_path {folder}/tmp-proxy;
    fastcgi_temp_path {folder}/tmp-fastcgi;
    uwsgi_temp_path {folder}/tmp-uwsgi;
    scgi_temp_path {folder}/tmp-scgi;
    server {{
        listen 127.0.0.1:{port};
        root {folder}/docroot;
{locations}
    }}
}}
"""


class Nginx(Server):
    """nginx (Debian's) serving ``documents`` as static files with the app's content types."""

    name = "nginx"

    def __init__(self, folder: Path, documents: list[Document], *, workers: int) -> None:
        here = folder / "nginx"
        (here / "docroot").mkdir(parents=True)
        locations = []
        for n, document in enumerate(documents):
            (here / "docroot" / f"doc{n}").write_bytes(document.body)
            kind = document.content_type.replace('"', "")
            locations.append(
                f'        location = {document.path} {{ default_type "{kind}"; try_files /doc{n} =404; }}'
            )
        port = free_port()
        conf = NGINX_CONF.format(workers=workers, folder=here, port=port, locations="\n".join(locations))
        (here / "nginx.conf").write_text(conf, encoding="utf-8")
        for path in (folder, here, here / "docroot"):  # workers run as nobody when we are root
            path.chmod(0o755)
        command = [
            tool("nginx") or "nginx",
            "-p",
            f"{here}/",
            "-c",
            str(here / "nginx.conf"),
            "-e",
            str(here / "nginx.log"),
        ]
        probe = documents[0].path if documents else "/"
        super().__init__(command, folder, clean_env(), port=port, probe=probe)
        self.settle(workers + 1)


class Floor(Server):
    """``bench/statuspage_floor.py`` under uvicorn, 1 worker: the documents' bytes with no framework."""

    name = "bare ASGI 1w"

    def __init__(self, folder: Path, documents: list[Document], *, http: str, loop: str) -> None:
        here = folder / "floor"
        here.mkdir()
        listed = {}
        for n, document in enumerate(documents):
            (here / f"doc{n}").write_bytes(document.body)
            listed[document.path] = [str(here / f"doc{n}"), document.content_type]
        (here / "documents.json").write_text(json.dumps(listed), encoding="utf-8")
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "statuspage_floor:app", "--app-dir", str(BENCH)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--http", http, "--loop", loop]
        command += ["--lifespan", "off", "--log-level", "warning", "--no-access-log"]
        env = clean_env() | {"STATUSPAGE_FLOOR_DOCUMENTS": str(here / "documents.json")}
        probe = documents[0].path if documents else "/"
        super().__init__(command, folder, env, port=port, probe=probe)
        self.settle(1)


@dataclass(frozen=True)
class Load:
    """One wrk run's figures; ``cpu_us`` is the server's CPU time per response."""

    rate: float
    p50_ms: float
    p99_ms: float
    responses: int
    errors: int
    """Socket errors (connect, read, write, timeouts) plus responses other than 2xx and 3xx."""
    bytes_per_response: float
    cpu_us: float


def if_none_match_script(folder: Path, etag: str) -> Path:
    """A wrk Lua script that asks every request with ``If-None-Match: etag``."""
    if not re.fullmatch(r'(W/)?"[\x21\x23-\x5b\x5d-\x7e]*"', etag):
        raise SystemExit(f"unexpected ETag {etag!r}")
    path = folder / f"inm-{hashlib.blake2b(etag.encode(), digest_size=6).hexdigest()}.lua"
    path.write_text(f"wrk.headers[\"If-None-Match\"] = '{etag}'\n", encoding="utf-8")
    return path


def wrk_command(url: str, connections: int, seconds: int, script: Path | None = None) -> list[str]:
    threads = max(1, min(os.cpu_count() or 1, 2, connections))
    command = [
        tool("wrk") or "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={WRK_TIMEOUT_S}s",
    ]
    return [*command, "--latency", *(["-s", str(script)] if script else []), url]


def parse_wrk(text: str, cpu: float) -> Load:
    """wrk's summary as figures (``cpu``: server CPU seconds during the run)."""

    def number(pattern: str) -> re.Match[str]:
        found = re.search(pattern, text, re.MULTILINE)
        if found is None:
            raise SystemExit(f"wrk printed no {pattern!r}:\n{text}")
        return found

    def ms(percent: int) -> float:
        found = number(rf"^\s+{percent}%\s+([\d.]+)([a-z]+)\s*$")
        return float(found[1]) * TIME_UNITS[found[2]]

    done = number(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(\w+) read")
    responses = int(done[1])
    read = float(done[2]) * SIZE_UNITS[done[3]]
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = sum(int(n) for n in sockets.groups()) if sockets else 0
    return Load(
        rate=float(number(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=ms(50),
        p99_ms=ms(99),
        responses=responses,
        errors=errors + (int(bad[1]) if bad else 0),
        bytes_per_response=read / responses if responses else 0.0,
        cpu_us=1e6 * cpu / responses if responses else 0.0,
    )


class Wrk:
    """One wrk run against ``server`` in the background; :meth:`result` waits for its figures."""

    def __init__(
        self, server: Server, path: str, connections: int, seconds: int, script: Path | None
    ) -> None:
        self.server = server
        self.cpu_before = cpu_seconds(server.pids())
        self.process = subprocess.Popen(  # noqa: S603 — wrk, with our own arguments
            wrk_command(server.url + path, connections, seconds, script),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.seconds = seconds

    def result(self) -> Load:
        out, _ = self.process.communicate(timeout=self.seconds + 2 * WRK_TIMEOUT_S + 30)
        cpu = cpu_seconds(self.server.pids()) - self.cpu_before
        if self.process.returncode != 0:
            raise SystemExit(f"wrk failed with exit code {self.process.returncode}:\n{out}")
        return parse_wrk(out, cpu)


def measure(server: Server, path: str, connections: int, seconds: int, script: Path | None = None) -> Load:
    return Wrk(server, path, connections, seconds, script).result()
