"""Why a subscription request, link or code is refused: one error with a reason the web app maps to a
page and a status code.

These are :class:`~clarion.errors.InputError` leaves (something a person sent is wrong; nothing was
stored or sent because of it). The reasons are few and closed, so pages and tests name them instead
of matching messages.
"""

from __future__ import annotations

from enum import StrEnum

from clarion.errors import InputError, Problem

SOURCE = "subscription"


class Reason(StrEnum):
    """Why, in the words the pages key their text on."""

    FORGED = "forged"
    """A link that is garbled, forged or of another kind (400)."""
    UNKNOWN = "unknown"
    """A genuine link naming nothing the store holds (404)."""
    EXPIRED = "expired"
    """A genuine link, or a code, past its time (410)."""
    USED = "used"
    """A confirmation already used (410): single use."""
    ENDED = "ended"
    """A manage link of a subscription that has ended since (410)."""
    SPENT = "spent"
    """Too many wrong codes: the confirmation is spent (410)."""
    WRONG_CODE = "wrong-code"
    """A code that is not the one sent (422); ``left`` more tries."""
    TOO_MANY = "too-many"
    """A rate limit: too many requests from one client or for one address (429)."""


STATUS = {
    Reason.FORGED: 400,
    Reason.UNKNOWN: 404,
    Reason.EXPIRED: 410,
    Reason.USED: 410,
    Reason.ENDED: 410,
    Reason.SPENT: 410,
    Reason.WRONG_CODE: 422,
    Reason.TOO_MANY: 429,
}
"""The HTTP status each reason is answered with."""


class Refused(InputError):
    """A subscription request, link or code refused for ``reason``."""

    def __init__(
        self, reason: Reason, message: str, *, left: int | None = None, retry_after: int = 0
    ) -> None:
        self.reason = reason
        self.left = left
        """Tries left after a wrong code."""
        self.retry_after = retry_after
        """Seconds until a rate limit lets the next request through (0 when not a rate limit)."""
        super().__init__([Problem(SOURCE, None, reason.value, message)])

    @property
    def status_code(self) -> int:
        return STATUS[self.reason]
