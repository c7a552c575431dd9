"""One error tree for the whole of clarion.

Raise the leaves, catch the bases. Every error carries the context a person needs to act on it
(file and line, channel and locale, status code) and renders it in ``str()``::

    ClarionError
    ├── ConfigError                   settings or environment are unusable
    │   └── PdfUnavailable            the system lacks what a PDF needs (Pango): says what to install
    ├── InputError                    something a person wrote is wrong; nothing was sent
    │   ├── PlaybookError             playbooks/x.yaml:12: severities.sev1.cadence: ...
    │   ├── FactsError                facts file: same shape as PlaybookError
    │   ├── TemplateError             a template failed to compile or render (incl. sandbox refusals)
    │   └── LinkExpired               a genuine signed link past its expiry (the page says so: 410)
    ├── RenderError                   renditions exist but must not be sent
    │   ├── LimitExceeded             channel, locale, length, limit (never a silent cut)
    │   ├── PayloadRefused            the provider's payload would break its limits (Block Kit, cards)
    │   └── InconsistentUpdate        renditions disagree on reference/status/next update/link
    ├── StoreError                    persistence
    │   ├── NotFound                  a named row does not exist
    │   └── AuditChainBroken          the hash chain of the audit log does not verify
    ├── EvidenceError                 an evidence pack cannot be read or does not verify (exit 2)
    │   ├── EvidenceUnreadable        not a ZIP, no manifest, a manifest of an unknown format
    │   └── EvidenceTampered          member, line: the first thing that does not match
    └── ChannelError                  a provider call failed (filled in by the delivery engine)
        ├── TransientChannelError     worth retrying: the provider certainly did not take it
        │   ├── RateLimited           carries retry_after seconds when the provider said
        │   └── InDoubt               worth retrying, but the provider may already have it
        └── PermanentChannelError     never retried: rejected, invalid recipient
            └── RecipientOptedOut     the person told the provider to stop (Twilio STOP): consent withdrawn
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


class ClarionError(Exception):
    """Base of every error clarion raises on purpose."""


class ConfigError(ClarionError):
    """Settings or environment are unusable (a missing file, a bad URL, a missing secret)."""


class PdfUnavailable(ConfigError):
    """A PDF cannot be drawn here: a system library it needs is missing (the message names the packages)."""


@dataclass(frozen=True)
class Problem:
    """One located problem in a file a person wrote: ``where:line: field: message``."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


MAX_SHOWN_PROBLEMS = 50
"""Problems an error's text lists; the rest are counted (30 000 bad links printed 2.6 MB)."""


class InputError(ClarionError):
    """Something a person wrote is wrong. Carries every problem found, not only the first; its text
    lists the first :data:`MAX_SHOWN_PROBLEMS` and counts the rest."""

    def __init__(self, problems: Sequence[Problem], *, more: int = 0) -> None:
        """``more``: problems found beyond ``problems`` and not kept (a reader that stops keeping
        them after a while still says how many there were)."""
        self.problems = tuple(problems)
        self.more = more
        shown = [str(p) for p in self.problems[:MAX_SHOWN_PROBLEMS]]
        if (beyond := len(self.problems) - len(shown) + more) > 0:
            shown.append(f"… and {beyond} more problems")
        super().__init__("\n".join(shown))


class PlaybookError(InputError):
    """A playbook file does not match the playbook schema."""


class FactsError(InputError):
    """A facts file does not match the facts schema (or does not fit its playbook)."""


class TemplateError(InputError):
    """A template failed to compile or render, including sandbox refusals."""

    @classmethod
    def at(cls, template: str, line: int | None, message: str) -> TemplateError:
        return cls([Problem(source=template, line=line, field="", message=message)])


class LinkExpired(InputError):
    """A signed link (an unsubscribe link) that is genuine but past its expiry."""

    def __init__(self, expired_at: datetime, *, source: str, field: str = "token") -> None:
        self.expired_at = expired_at
        when = expired_at.strftime("%Y-%m-%d %H:%M UTC")
        super().__init__([Problem(source, None, field, f"the link expired at {when}")])


class RenderError(ClarionError):
    """Renditions were produced but must not be sent."""


class LimitExceeded(RenderError):
    """A rendition is longer than its channel allows. Names channel, locale, length and limit."""

    def __init__(self, *, channel: str, locale: str, measure: str, length: int, limit: int) -> None:
        self.channel, self.locale, self.measure = channel, locale, measure
        self.length, self.limit = length, limit
        super().__init__(f"{channel} [{locale}]: {length} {measure}, limit {limit}")


class PayloadRefused(RenderError):
    """The message a provider would get for a rendition breaks one of its limits (Block Kit, Adaptive
    Card); names channel, locale and the limit."""

    def __init__(self, *, channel: str, locale: str, problem: str) -> None:
        self.channel, self.locale, self.problem = channel, locale, problem
        super().__init__(f"{channel} [{locale}]: {problem}")


class InconsistentUpdate(RenderError):
    """Renditions of one update disagree on a key fact, or leave one out."""

    def __init__(self, findings: Sequence[str]) -> None:
        self.findings = tuple(findings)
        super().__init__("renditions disagree:\n" + "\n".join(f"  {f}" for f in self.findings))


class StoreError(ClarionError):
    """Persistence failed."""


class NotFound(StoreError):
    """A named row does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind, self.key = kind, key
        super().__init__(f"no {kind} {key!r}")


class AuditChainBroken(StoreError):
    """The audit log's hash chain does not verify at ``entry_id``."""

    def __init__(self, entry_id: int, reason: str) -> None:
        self.entry_id, self.reason = entry_id, reason
        super().__init__(f"audit entry {entry_id}: {reason}")


class EvidenceError(ClarionError):
    """An evidence pack (:mod:`clarion.evidence`) cannot be read, or does not verify. The CLI exits 2:
    the file a person handed in is what is wrong."""

    input_refused = True


class EvidenceUnreadable(EvidenceError):
    """The file is not an evidence pack at all: not a ZIP, no manifest, a manifest clarion cannot read."""


class EvidenceTampered(EvidenceError):
    """The pack's content does not match its manifest, or itself: names the member, the line when
    there is one, and what differs."""

    def __init__(self, member: str, reason: str, *, line: int | None = None) -> None:
        self.member, self.line, self.reason = member, line, reason
        where = f"{member} line {line}" if line is not None else member
        super().__init__(f"{where}: {reason}")


class ChannelError(ClarionError):
    """A provider call failed."""

    def __init__(
        self, message: str, *, channel: str, status_code: int | None = None, code: str | None = None
    ) -> None:
        self.channel, self.status_code = channel, status_code
        self.code = code  # the provider's own error code ("21610", "ExpiredToken") when it gave one
        http = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"{channel}{http}: {message}")


class TransientChannelError(ChannelError):
    """Worth retrying later: a timeout, a 5xx, a rate limit."""


class RateLimited(TransientChannelError):
    """The provider asked us to slow down; ``retry_after`` is in seconds when it said."""

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        status_code: int | None = 429,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, channel=channel, status_code=status_code, code=code)


class InDoubt(TransientChannelError):
    """The request may have reached the provider (timeout after sending, dropped connection, 500).

    Resending blindly could deliver twice: the engine first asks the adapter whether the provider
    already has the message. ``in_flight``: the request may still be in the provider's hands (it
    timed out, or a gateway gave up on it), so the provider is not asked before it could have
    finished.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        status_code: int | None = None,
        code: str | None = None,
        in_flight: bool = False,
    ) -> None:
        self.in_flight = in_flight or status_code == 504
        super().__init__(message, channel=channel, status_code=status_code, code=code)


class PermanentChannelError(ChannelError):
    """Never retried: the provider rejected the message or the recipient for good."""


class RecipientOptedOut(PermanentChannelError):
    """The recipient told the provider to stop sending to them on this channel (an SMS ``STOP``).
    The delivery engine withdraws their consent for the channel; what the provider's code for it is
    stays in the adapter."""


def display_path(path: Path) -> str:
    """A path as a person typed it: relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # outside the cwd; or a symlink loop, which resolve() raises
        return str(path)
