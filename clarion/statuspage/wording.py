"""How the status page writes times and figures, per language.

Every time on the page is UTC, written twice: as an instant for ``<time datetime>`` (which
``/static/localtime.js`` re-writes in the reader's zone when the browser allows) and as words a
reader with JavaScript off understands (``20 Nov 2026, 09:30 UTC``; ``20. Nov. 2026, 09:30 UTC``).
The CLDR patterns are page strings (``format.*`` in ``templates/strings/page.<locale>.yaml``), so a
translator changes them with the words, not in code. Times are never shown in the page's own zone:
one page serves every reader, and only UTC is right for all of them until the browser knows better.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from clarion.statuspage.pages import Translator


@dataclass(frozen=True)
class Stamp:
    """A moment or a day as the HTML shows it: ``iso`` for ``datetime=``, ``text`` for people."""

    iso: str
    text: str


def instant(at: datetime) -> str:
    """``2026-11-20T09:30:00Z``: the form ``<time datetime>`` and ``Date.parse`` agree on."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Wording:
    """The page's language: its strings (:class:`Translator`) and its way of writing times."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.t = Translator(locale)

    def moment(self, at: datetime) -> Stamp:
        utc = at.astimezone(UTC)
        text = format_datetime(utc, self.t("format.datetime"), tzinfo=UTC, locale=self.locale)
        return Stamp(instant(utc), text)

    def day(self, on: date) -> Stamp:
        return Stamp(on.isoformat(), format_date(on, self.t("format.date"), locale=self.locale))

    def month(self, year: int, month: int) -> str:
        return format_date(date(year, month, 1), self.t("format.month"), locale=self.locale)

    def percent(self, share: float) -> str:
        """An uptime: two decimals at most, never rounded up to a 100 % it did not reach."""
        floored = int(share * 10000) / 10000
        return format_percent(floored, self.t("format.percent"), locale=self.locale)

    def number(self, count: int) -> str:
        """A count as the language writes it (``1,234``; ``1.234``)."""
        return format_decimal(count, "#,##0", locale=self.locale)

    def ratio(self, positive: int, negative: int) -> str:
        """``positive : negative`` as ``x`` in "x : 1": one decimal, two below 1 (``0.25``, not ``0.3``),
        halves rounded up as people expect (9 : 4 is 2.3, not the banker's 2.2)."""
        exact = Decimal(positive) / Decimal(negative)
        pattern, places = ("#,##0.#", Decimal("0.1")) if exact >= 1 else ("0.##", Decimal("0.01"))
        return format_decimal(exact.quantize(places, rounding=ROUND_HALF_UP), pattern, locale=self.locale)
