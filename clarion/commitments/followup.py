""" "You asked, we built it": the follow-up update when a commitment ships.

It is an update of its own (kind ``built``), rendered by the same templates as every other, so it keeps
the four parts, the limits and the consistency check, goes to the same audiences through the outbox
(consent and unsubscribes honoured, once per address), and shows on the status page. Like a holding
statement it is made from the facts last told: the apology becomes the locale's ``built.apology``
(what happened, and that we promised), the prevention part tells what we promised and what we built
(``built.prevention``, with ``built.asked`` when survey answers asked for it); cause and fix stay.

Its ``as_of`` is the moment the commitment shipped, so two runs for the same commitment draft the
same content and store one update. Its next update is promised for the next open commitment's day when
one is due within the facts' furthest promise, else by the cadence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from babel.dates import format_date

from clarion.commitments.tracking import due_moment, is_open
from clarion.facts import MAX_PROMISE, Facts
from clarion.models import Commitment


def built_facts(
    previous: Facts,
    row: Commitment,
    *,
    wording: Mapping[str, Mapping[str, Any]],
    declared: datetime,
    others: Iterable[Commitment] = (),
) -> Facts:
    """The follow-up's facts: ``previous`` with the apology and prevention of ``wording[locale]``."""
    assert row.changed_at is not None, "only a shipped commitment is followed up"
    as_of = row.changed_at
    data: dict[str, Any] = json.loads(previous.model_dump_json())
    data.pop("next_update_by", None)
    data["as_of"] = as_of.isoformat()
    upcoming = sorted(due_moment(c.due_on) for c in others if is_open(c) and c.key != row.key)
    promise = next((at for at in upcoming if as_of < at <= as_of + MAX_PROMISE), None)
    if promise is not None:
        data["next_update_by"] = promise.isoformat()
    for locale, told in data["story"].items():
        words = wording[locale]
        values = {
            "title": told.get("title") or previous.title,
            "declared": format_date(declared.date(), "long", locale=locale),
            "shipped": format_date(as_of.date(), "long", locale=locale),
            "promise": row.texts.get(locale) or next(iter(row.texts.values())),
            "note": row.note or "",
        }
        asked = f" {words['asked']}" if row.asked else ""
        told["apology"] = {k: str(words["apology"][k]).format(**values) for k in ("text", "short")}
        told["prevention"] = {
            "text": str(words["prevention"]["text"]).format(**values) + asked,
            "short": str(words["prevention"]["short"]).format(**values),
        }
    return Facts.model_validate(data)
