"""``clarion sandbox``: run the provider sandbox and read what it accepted (being written)."""

from __future__ import annotations

import typer

sandbox_app = typer.Typer(help="The provider sandbox: SendGrid, Twilio, Mastodon and Bluesky, locally.")
