"""Notices through the real adapters: a confirmation email is one schema-valid SendGrid request of its
own, categorised by its kind, with no unsubscribe header (the person just asked for it)."""

from __future__ import annotations

from typing import Any

from clarion.kinds import Channel
from clarion.outbox.port import Content
from tests.channels.conftest import MakeMessage
from tests.channels.test_email import Recorder, adapter

CONFIRM = Content(
    rendition_id=None,
    locale="en",
    text="Confirm: https://status.example.com/subscribe/confirm/t1",
    subject="Confirm your subscription",
)


def test_each_notice_goes_in_a_request_of_its_own_with_its_kind_as_category(
    make_message: MakeMessage,
) -> None:
    recorder = Recorder()
    notices = [
        make_message(
            Channel.EMAIL,
            n,
            content=CONFIRM
            if n == 1
            else Content(None, "en", f"Confirm: …/t{n}", subject="Confirm your subscription"),
            incident_reference="",
            severity="",
            status="",
            recipient_id=None,
            unsubscribe_url=None,
            notice="subscription-confirm",
        )
        for n in (1, 2)
    ]

    results = adapter(recorder).send(notices)

    assert all(r.accepted for r in results)
    assert len(recorder.bodies) == 2  # two confirmations, two texts: never one shared request
    body: dict[str, Any] = recorder.bodies[0]
    assert body["categories"] == ["clarion", "notice-subscription-confirm"]
    (personalization,) = body["personalizations"]
    assert "headers" not in personalization  # no List-Unsubscribe on a message the person asked for
    assert personalization["custom_args"]["delivery_id"] == "1"
    assert body["subject"] == "Confirm your subscription"
    assert body["content"][0]["value"].endswith("/subscribe/confirm/t1")


def test_an_update_keeps_its_incident_categories(make_message: MakeMessage) -> None:
    recorder = Recorder()
    adapter(recorder).send([make_message(Channel.EMAIL, 1)])
    assert recorder.bodies[0]["categories"] == ["clarion", "INC-0042", "severity-sev1"]
