"""The sandbox's Twilio message store and its Message resources: fetch and the paged, filtered list.

Resources follow the official ``api.v2010.account.message`` schema: RFC 2822 dates, ``num_segments``
and ``num_media`` as strings, ``uri`` and ``subresource_uris``. The list is newest first and pages with
``PageToken`` (the sid the previous page ended on), so new messages do not shift later pages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import urlencode

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
API_VERSION: Final = "2010-04-01"


@dataclass(frozen=True, slots=True)
class TwilioMessage:
    sid: str
    account_sid: str
    to: str
    from_: str  # the sender as the resource shows it once sent
    requested_from: str | None  # From as the request gave it (None: a Messaging Service picks)
    messaging_service_sid: str | None
    body: str | None
    num_segments: int
    num_media: int
    created: float  # epoch seconds; also date_sent (the sandbox sends at once)

    def resource(self, *, created_view: bool) -> dict[str, Any]:
        """The Message JSON: as the create call answers it, or as a later fetch shows it."""
        stamp = format_datetime(datetime.fromtimestamp(self.created, UTC).replace(microsecond=0))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        service = self.messaging_service_sid is not None
        if created_view:
            status = "accepted" if service else "queued"
            sender = self.requested_from
            segments = "0" if service else str(self.num_segments)
        else:
            status, sender, segments = "sent", self.from_, str(self.num_segments)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": stamp,
            "date_sent": None if created_view else stamp,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            "num_segments": segments,
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


class TwilioStore:
    """Every message created, oldest first, with indexes by sid and by To."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._all: list[TwilioMessage] = []
            self._by_sid: dict[str, TwilioMessage] = {}
            self._by_to: dict[str, list[TwilioMessage]] = {}

    def add(self, message: TwilioMessage) -> None:
        with self._lock:
            self._all.append(message)
            self._by_sid[message.sid] = message
            self._by_to.setdefault(message.to, []).append(message)

    def get(self, sid: str) -> TwilioMessage | None:
        return self._by_sid.get(sid)

    def newest_first(self, to: str | None) -> list[TwilioMessage]:
        with self._lock:
            source = self._all if to is None else self._by_to.get(to, [])
            return source[::-1]


def _bound(value: str, *, end_of_day: bool) -> float:
    """A DateSent value: ``YYYY-MM-DD`` (the whole day) or an ISO-8601 instant; epoch seconds."""
    if len(value) == 10:
        day = date.fromisoformat(value)
        moment = datetime.combine(day, time.min, UTC) + (timedelta(days=1) if end_of_day else timedelta())
        return moment.timestamp() - (1e-6 if end_of_day else 0)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def list_page(store: TwilioStore, account_sid: str, query: dict[str, str]) -> dict[str, Any] | str:
    """One page of the filtered list, or an error message for a bad parameter."""
    try:
        size = min(int(query.get("PageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
        page = int(query.get("Page", 0))
        low, high = float("-inf"), float("inf")
        if "DateSent" in query:
            low = _bound(query["DateSent"], end_of_day=False)
            high = _bound(query["DateSent"], end_of_day=True)
        if "DateSent>" in query:
            low = max(low, _bound(query["DateSent>"], end_of_day=False))
        if "DateSent<" in query:
            high = min(high, _bound(query["DateSent<"], end_of_day=True))
    except ValueError as exc:
        return f"Invalid list parameter: {exc}"
    if size < 1 or page < 0:
        return "PageSize must be at least 1 and Page at least 0"
    sender = query.get("From")
    matches = [
        m
        for m in store.newest_first(query.get("To"))
        if m.account_sid == account_sid and (sender is None or m.from_ == sender) and low <= m.created <= high
    ]
    token = query.get("PageToken", "")
    start = page * size
    if token.startswith("PA"):
        after = next((i for i, m in enumerate(matches) if m.sid == token[2:]), None)
        start = 0 if after is None else after + 1
    chosen = matches[start : start + size]
    filters = {k: v for k, v in query.items() if k in ("To", "From", "DateSent", "DateSent<", "DateSent>")}
    path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"

    def uri(number: int, token: str | None = None) -> str:
        extra = {"PageToken": token} if token else {}
        return f"{path}?{urlencode({**filters, 'PageSize': size, 'Page': number, **extra})}"

    more = start + size < len(matches)
    return {
        "messages": [m.resource(created_view=False) for m in chosen],
        "end": start + max(len(chosen) - 1, 0),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, "PA" + chosen[-1].sid) if more and chosen else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": f"{path}?{urlencode({**query})}" if query else uri(page),
    }
