"""The provider sandbox: SendGrid, Twilio, Mastodon, Bluesky, Slack, Teams and signed webhooks, locally,
over real HTTP (and the double of any channel a package adds).

One server speaks each provider's API the way the real service does — auth, the official request
schemas, the documented limits the schemas leave out, the providers' own error bodies and rate-limit
headers — and records what it accepted in an in-memory inbox. It is the target of clarion's
integration tests, its benchmark and its zero-account demo. Faults (503s, 500s after accepting,
timeouts, dropped connections), latency and rate limits are configurable at start and at runtime.

Start it with :func:`running_sandbox` (a background thread), ``clarion sandbox`` or
``python -m channels.sandbox``. Importing this package is cheap: fastapi, uvicorn and jsonschema are
imported only when a server is built.

Modules: ``config`` (what can be set, sandbox credentials), ``runner`` (starting and stopping),
``app`` (routes and control endpoints), ``faults`` (the layer in front), one module per provider
(``sendgrid``, ``twilio`` + ``twilio_list``, ``mastodon``, ``bluesky`` + ``lexicon``), ``inbox``,
``state``, ``responses`` and ``fastcheck`` (fast, sound pre-validation of JSON Schemas).
"""

from __future__ import annotations

from channels.sandbox.config import (
    BLUESKY_SANDBOX_DID,
    BLUESKY_SANDBOX_HANDLE,
    BLUESKY_SANDBOX_PASSWORD,
    FAULT_KINDS,
    MASTODON_SANDBOX_TOKEN,
    PROVIDERS,
    SENDGRID_SANDBOX_KEY,
    TWILIO_SANDBOX_FROM,
    TWILIO_SANDBOX_SID,
    TWILIO_SANDBOX_TOKEN,
    FaultKind,
    Provider,
    SandboxConfig,
)
from channels.sandbox.inbox import InboxRecord
from channels.sandbox.runner import SandboxHandle, running_sandbox, serve

__all__ = [
    "BLUESKY_SANDBOX_DID",
    "BLUESKY_SANDBOX_HANDLE",
    "BLUESKY_SANDBOX_PASSWORD",
    "FAULT_KINDS",
    "MASTODON_SANDBOX_TOKEN",
    "PROVIDERS",
    "SENDGRID_SANDBOX_KEY",
    "TWILIO_SANDBOX_FROM",
    "TWILIO_SANDBOX_SID",
    "TWILIO_SANDBOX_TOKEN",
    "FaultKind",
    "InboxRecord",
    "Provider",
    "SandboxConfig",
    "SandboxHandle",
    "running_sandbox",
    "serve",
]
