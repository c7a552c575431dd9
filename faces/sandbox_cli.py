"""``clarion sandbox``: run the provider sandbox, and read what it accepted.

``clarion sandbox [--host --port --latency-ms --fault-rate ...]`` runs it in the foreground;
``clarion sandbox inbox`` and ``clarion sandbox stats`` ask a running one over HTTP (its URL defaults
to the ``sandbox_url`` setting). The sandbox itself is imported inside the commands, so
``clarion --help`` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from faces.console import console

sandbox_app = typer.Typer(
    help="The provider sandbox: SendGrid, Twilio, Mastodon and Bluesky, locally.",
    invoke_without_command=True,
    no_args_is_help=False,
)

_out = console(piped_width=180)  # piped or captured: wide enough that addresses and ids stay whole
_err = console(stderr=True)

FAULT_KINDS_HELP = "503, 500_after_accept, timeout, drop or 429 (repeat for several)."


class InboxChannel(StrEnum):
    """What ``sandbox inbox --channel`` takes: a channel or its provider."""

    EMAIL = "email"
    SMS = "sms"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    SENDGRID = "sendgrid"
    TWILIO = "twilio"


def _parse_rate_limits(values: list[str]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for value in values:
        provider, sep, number = value.partition("=")
        if not sep or not number.strip().isdigit():
            raise typer.BadParameter(f"{value!r}: expected PROVIDER=N, e.g. twilio=100")
        limits[provider.strip()] = int(number)
    return limits


@sandbox_app.callback()
def run(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")] = 8766,
    latency_ms: Annotated[float, typer.Option(help="Added to every provider answer.")] = 0.0,
    latency_jitter_ms: Annotated[float, typer.Option(help="± this much, at random.")] = 0.0,
    fault_rate: Annotated[float, typer.Option(help="Share of provider requests given a fault (0-1).")] = 0.0,
    fault_kind: Annotated[list[str] | None, typer.Option(help=FAULT_KINDS_HELP)] = None,
    hang_seconds: Annotated[float, typer.Option(help="How long a 'timeout' fault hangs.")] = 60.0,
    seed: Annotated[int | None, typer.Option(help="Reproducible faults and latencies.")] = None,
    rate_limit: Annotated[
        list[str] | None, typer.Option(help="PROVIDER=N requests per second, e.g. twilio=100.")
    ] = None,
    keep_text: Annotated[bool, typer.Option(help="Keep subjects and texts in the inbox.")] = True,
) -> None:
    """Run the provider sandbox in the foreground (Ctrl-C stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    from pydantic import ValidationError

    from channels.sandbox import SandboxConfig, serve

    changes: dict[str, Any] = {
        "latency_ms": latency_ms,
        "latency_jitter_ms": latency_jitter_ms,
        "fault_rate": fault_rate,
        "hang_seconds": hang_seconds,
        "seed": seed,
        "rate_limit": _parse_rate_limits(rate_limit or []),
        "keep_text": keep_text,
    }
    if fault_kind:
        changes["fault_kinds"] = tuple(fault_kind)
    try:
        config = SandboxConfig().updated(changes)
    except ValidationError as exc:
        _err.print(f"invalid sandbox option: {exc}", markup=False)
        raise typer.Exit(2) from exc

    def banner(url: str) -> None:
        kinds = "/".join(config.fault_kinds)
        faults = f"; faults: {config.fault_rate:.0%} {kinds}" if config.fault_rate else ""
        _out.print(f"clarion provider sandbox on {url} (SendGrid, Twilio, Mastodon, Bluesky{faults})")

    try:
        serve(config, host=host, port=port, on_ready=banner)
    except OSError as exc:
        _err.print(f"cannot listen on {host}:{port}: {exc.strerror or exc}", markup=False)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on
        _err.print("sandbox stopped")


def _get(url: str, path: str, params: dict[str, Any]) -> Any:
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}{path}", params=params, timeout=10.0)
    except httpx.HTTPError as exc:
        _err.print(f"no sandbox answering at {url}: {exc}", markup=False)
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        _err.print(f"{url}{path}: HTTP {response.status_code}: {response.text}", markup=False)
        raise typer.Exit(1)
    return response.json()


def _default_url(url: str | None) -> str:
    """``--url`` when it is an http(s) URL with a host (exit 2 when it is not), else the setting."""
    if not url:
        from clarion.settings import get_settings

        return get_settings().sandbox_url
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        _err.print(f"--url {url!r}: the sandbox's http(s) URL, such as http://127.0.0.1:8766")
        raise typer.Exit(2)
    return url


@sandbox_app.command()
def inbox(
    url: Annotated[str | None, typer.Option(help="The sandbox (default: the sandbox_url setting).")] = None,
    channel: Annotated[InboxChannel | None, typer.Option(help="Only this channel (or its provider).")] = None,
    limit: Annotated[int, typer.Option(min=0, max=10_000, help="Show at most this many (the newest).")] = 20,
) -> None:
    """Show what a running sandbox accepted."""
    from rich.table import Table

    base = _default_url(url)
    params: dict[str, Any] = {"limit": 0} | ({"channel": channel.value} if channel else {})
    total = _get(base, "/_sandbox/inbox", params)["total"]
    params |= {"limit": limit, "offset": max(0, total - limit)}
    records = _get(base, "/_sandbox/inbox", params)["records"]
    table = Table(title=f"sandbox inbox: {len(records)} of {total}", title_justify="left")
    widths = {
        "accepted": 12,
        "channel": 8,
        "to": 24,
        "delivery": 10,
        "key": 13,
        "provider id": 34,
        "text": 50,
    }
    for column, width in widths.items():  # the ids and times stay whole; long ones end in "…"
        table.add_column(column, no_wrap=True, overflow="ellipsis", min_width=min(width, 13), max_width=width)
    for r in records:
        text = " — ".join(part for part in (r["subject"], r["text"]) if part) or ""
        table.add_row(
            r["accepted_at"][11:23],
            r["channel"],
            r["address"] or "",
            r["delivery_id"] or "",
            r["idempotency_key"] or "",
            r["provider_id"],
            text.replace("\n", " "),
        )
    _out.print(table)


@sandbox_app.command()
def stats(
    url: Annotated[str | None, typer.Option(help="The sandbox (default: the sandbox_url setting).")] = None,
) -> None:
    """Show a running sandbox's counts: requests, accepted, rejected, faults, duplicates."""
    from rich.table import Table

    data = _get(_default_url(url), "/_sandbox/stats", {})
    table = Table(title="sandbox stats", title_justify="left")
    table.add_column("count")
    table.add_column("of")
    table.add_column("value", justify="right")
    for group, counts in data.items():
        for name, value in counts.items():
            table.add_row(group, name, str(value))
    _out.print(table)
