"""The /_sandbox endpoints: config, inbox, stats and reset."""

from __future__ import annotations

import httpx

from channels.sandbox import SandboxHandle
from clarion.channel_table import channel_table
from tests.channels.sandbox.helpers import MESSAGES, SENDGRID_AUTH, TWILIO_AUTH, mail, sms


def test_config_is_read_and_changed_in_part(client: httpx.Client, sandbox: SandboxHandle) -> None:
    changed = client.post("/_sandbox/config", json={"latency_ms": 5, "rate_limit": {"twilio": 3}})

    assert changed.status_code == 200
    assert client.get("/_sandbox/config").json() == changed.json()
    assert (sandbox.config.latency_ms, sandbox.config.rate_limit, sandbox.config.fault_rate) == (
        5,
        {"twilio": 3},
        0,
    )


def test_a_bad_config_is_422_and_changes_nothing(client: httpx.Client, sandbox: SandboxHandle) -> None:
    bad_configs = (
        {"fault_rate": 2},
        {"fault_kinds": ["explode"]},
        {"no_such_field": 1},
        [1],
        {"providers": ["fax"]},  # a provider no double answers for
        {"rate_limit": {"fax": 1}},
    )
    for bad in bad_configs:
        assert client.post("/_sandbox/config", json=bad).status_code == 422
    answer = client.post("/_sandbox/config", json={"providers": ["fax"]}).json()
    assert "unknown provider fax; known: bluesky, mastodon, pigeon, sendgrid, slack, teams, twilio" in str(
        answer
    )

    assert sandbox.config.fault_rate == 0


def test_inbox_filters_by_channel_or_provider_and_pages(client: httpx.Client) -> None:
    client.post("/v3/mail/send", headers=SENDGRID_AUTH, json=mail("a@example.com", "b@example.com"))
    client.post(MESSAGES, auth=TWILIO_AUTH, data=sms())

    everything = client.get("/_sandbox/inbox").json()
    assert everything["total"] == 3
    assert [r["channel"] for r in everything["records"]] == ["email", "email", "sms"]
    page = client.get("/_sandbox/inbox", params={"channel": "sendgrid", "limit": 1, "offset": 1}).json()
    assert page["total"] == 2
    assert [r["address"] for r in page["records"]] == ["b@example.com"]
    assert set(page["records"][0]) == {
        "channel",
        "provider_id",
        "address",
        "delivery_id",
        "idempotency_key",
        "subject",
        "text",
        "accepted_at",
    }
    assert client.get("/_sandbox/inbox", params={"channel": "fax"}).status_code == 422


def test_keep_text_false_drops_subjects_and_texts(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(keep_text=False)
    client.post("/v3/mail/send", headers=SENDGRID_AUTH, json=mail("a@example.com"))

    (record,) = sandbox.inbox()
    assert (record.subject, record.text, record.delivery_id) == (None, None, "d-0")


def test_stats_count_requests_acceptances_refusals_and_duplicates(client: httpx.Client) -> None:
    client.post("/v3/mail/send", headers=SENDGRID_AUTH, json=mail("a@example.com", "b@example.com"))
    client.post("/v3/mail/send", headers=SENDGRID_AUTH, json=mail("c@example.com"))  # delivery d-0 again
    client.post("/v3/mail/send", json=mail("a@example.com"))
    client.post(MESSAGES, auth=TWILIO_AUTH, data=sms(to="123"))

    stats = client.get("/_sandbox/stats").json()
    doubles = {
        spec.name for spec in channel_table().values() if spec.sandbox
    }  # every channel's, counted from 0
    assert stats == {
        "requests": {"total": 4, "sendgrid": 3, "twilio": 1},
        "peak_per_second": {"sendgrid": 3, "twilio": 1},  # all within a second
        "peak_sends_per_second": {"sendgrid": 3, "twilio": 1},
        "accepted": {**dict.fromkeys(doubles, 0), "email": 3},
        "rejected": {"401": 1, "400": 1},
        "faults": {},
        "duplicates": {**dict.fromkeys(doubles, 0), "email": 1},
    }


def test_reset_forgets_messages_but_keeps_the_config(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sandbox.configure(latency_ms=1)
    sid = client.post(MESSAGES, auth=TWILIO_AUTH, data=sms()).json()["sid"]

    assert client.post("/_sandbox/reset").json() == {"reset": True}

    assert client.get("/_sandbox/inbox").json() == {"total": 0, "records": []}
    assert client.get(f"{MESSAGES.removesuffix('.json')}/{sid}.json", auth=TWILIO_AUTH).status_code == 404
    assert sandbox.config.latency_ms == 1


def test_index_names_the_endpoints(client: httpx.Client) -> None:
    assert {"sendgrid", "twilio", "mastodon", "bluesky"} <= set(client.get("/").json()["providers"])
    assert client.get("/_sandbox/openapi.json").status_code == 200
