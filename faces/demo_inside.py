"""What the demo shows of the people inside: the notices they were sent, read back from the sandbox.

Approval requests to legal and the DPO, the commander's reminder, the escalated lapse: each is an
outbox notice the flows staged and sent through the providers, so the demo reads the provider
sandbox's inbox (as a person would read their mail or chat) rather than the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

STEP_TIMEOUT = 180.0


def received(sandbox: str, subject_part: str) -> dict[str, set[str]]:
    """Per channel, the addresses whose inbox holds a message whose subject contains ``subject_part``."""
    records = httpx.get(f"{sandbox}/_sandbox/inbox", params={"limit": 10_000}, timeout=10).json()["records"]
    found: dict[str, set[str]] = {}
    for record in records:
        if subject_part in (record.get("subject") or "") or subject_part in (record.get("text") or "")[:200]:
            found.setdefault(str(record["channel"]), set()).add(str(record.get("address")))
    return found


def wait_received(
    sandbox: str, subject_part: str, wanted: Callable[[dict[str, set[str]]], bool], what: str, check: Any
) -> dict[str, set[str]]:
    """Wait (checking the stack stays up) until the inbox holds what ``wanted`` asks for."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        found = received(sandbox, subject_part)
        if wanted(found):
            return found
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not reach the sandbox within {STEP_TIMEOUT:.0f} s: {found}")
        time.sleep(0.5)


def listed(found: dict[str, set[str]]) -> str:
    """``email: a, b; sms: +1…`` in a stable order."""
    return "; ".join(
        f"{channel}: {', '.join(sorted(addresses))}" for channel, addresses in sorted(found.items())
    )
