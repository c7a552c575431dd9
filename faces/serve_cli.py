"""``clarion serve``: the web app (being written)."""

from __future__ import annotations


def serve() -> None:
    """Run clarion's web app (banner feed, summary.json, unsubscribe, webhooks)."""
    raise NotImplementedError
