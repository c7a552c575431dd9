"""The baselines of ``bench/fanout.py``: the same requests without clarion, and the naive SDK loop.

    python bench/fanout_baselines.py bare --plan FILE.json --csv FILE --sandbox URL --channel email
    python bench/fanout_baselines.py naive --plan FILE.json --csv FILE --sandbox URL --channel sms

``bare`` is the floor of what the HTTP work costs: the recipients CSV read with the csv module (no
validation, no database), SendGrid bodies of up to 1000 personalizations built as plain dicts with
the fields clarion sends (custom_args with delivery_id and idempotency_key, one-click unsubscribe
headers unless the audience is mandatory, categories, text and html), one Twilio form post per SMS,
grouped by rendition as clarion's claims are, over one pooled ``httpx.Client`` and a thread pool of
the same size as clarion's worker. It checks its body against one clarion built (``same_body``).

``naive`` is the loop one writes first: for email, ``sendgrid.SendGridAPIClient(host=<sandbox>)``
and one ``Mail(from, to, subject, plain, html)`` per recipient; for SMS (the Twilio SDK is not a
dependency), one ``httpx.post`` per message. Sequential, a new connection per request (the SendGrid
SDK's urllib client does not keep connections alive either).

Neither imports clarion, so their peak RSS is theirs. Each prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import hmac
import json
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx

EMAIL_BATCH = 1000  # SendGrid: personalizations per request
SMS_CHUNK = 50  # clarion's SMS claim size: one task posts these one by one
Person = tuple[int, int, str]  # (delivery id, recipient id, address)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def recipients(path: Path, channel: str, limit: int | None) -> Iterator[tuple[int, str, str, str]]:
    """(recipient number, address, locale, time zone) of rows that have an address for ``channel``."""
    column = 1 if channel == "email" else 2
    taken = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for number, row in enumerate(reader, start=1):
            if limit is not None and taken >= limit:
                return
            if row[column]:
                taken += 1
                yield number, row[column], row[3], row[4]


def rendition_of(plan: dict[str, Any], channel: str) -> Callable[[str, str], dict[str, Any]]:
    """The rendition clarion picks for a recipient's (locale, time zone)."""
    table = {(r["locale"], r["time_zone"]): r for r in plan["renditions"] if r["channel"] == channel}
    locales, zone = plan["locales"], plan["default_time_zone"]

    def pick(locale: str, time_zone: str) -> dict[str, Any]:
        rendition: dict[str, Any] = table[(locale if locale in locales else locales[0], time_zone or zone)]
        return rendition

    return pick


def unsubscribe_link(plan: dict[str, Any], recipient_id: int) -> str:
    expires = plan["links_made_at"] + 90 * 86400  # clarion.audiences.unsubscribe.UNSUBSCRIBE_TTL
    payload = f"v2.{recipient_id}.email.{expires}"
    message = f"clarion unsubscribe\x00{payload}".encode()
    digest = hmac.new(plan["secret"].encode(), message, hashlib.sha256).digest()[:16]
    token = f"{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    return f"{plan['public_url'].rstrip('/')}/unsubscribe/{token}"


def email_body(plan: dict[str, Any], rendition: dict[str, Any], people: list[Person]) -> dict[str, Any]:
    content = [{"type": "text/plain", "value": rendition["body"]}]
    if rendition["html"]:
        content.append({"type": "text/html", "value": rendition["html"]})
    personalizations = []
    for delivery_id, recipient_id, address in people:
        envelope: dict[str, Any] = {
            "to": [{"email": address}],
            "custom_args": {
                "delivery_id": str(delivery_id),
                "idempotency_key": f"u{plan['update_id']}.email.r{recipient_id}",
            },
        }
        if not plan["mandatory"]:
            envelope["headers"] = {
                "List-Unsubscribe": f"<{unsubscribe_link(plan, recipient_id)}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        personalizations.append(envelope)
    body: dict[str, Any] = {
        "from": {"name": plan["from_name"], "email": plan["from_email"]},
        "subject": rendition["subject"],
        "personalizations": personalizations,
        "content": content,
        "categories": list(dict.fromkeys(["clarion", plan["reference"], f"severity-{plan['severity']}"])),
    }
    if plan["mandatory"]:
        body["mail_settings"] = {"bypass_list_management": {"enable": True}}
    return body


def sms_form(plan: dict[str, Any], rendition: dict[str, Any], phone: str) -> dict[str, str]:
    twilio = plan["twilio"]
    form = {"To": phone, "Body": rendition["body"], "ValidityPeriod": str(twilio["validity_period"])}
    form["From"] = twilio["from_number"]
    if twilio["status_callback"]:
        form["StatusCallback"] = twilio["status_callback"]
    return form


def bare(args: argparse.Namespace, plan: dict[str, Any]) -> dict[str, Any]:
    pick = rendition_of(plan, args.channel)
    limits = httpx.Limits(max_connections=args.threads * 2, max_keepalive_connections=args.threads * 2)
    client = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0), limits=limits)
    twilio = plan["twilio"]
    sms_url = f"{args.sandbox}/2010-04-01/Accounts/{twilio['account_sid']}/Messages.json"
    auth = (twilio["account_sid"], twilio["auth_token"])
    headers = {"Authorization": f"Bearer {plan['sendgrid_api_key']}", "Accept": "application/json"}

    def send(rendition: dict[str, Any], people: list[Person]) -> tuple[int, int]:
        """(accepted, requests)"""
        if args.channel == "email":
            body = email_body(plan, rendition, people)
            response = client.post(f"{args.sandbox}/v3/mail/send", json=body, headers=headers)
            return (len(people) if response.status_code == 202 else 0), 1
        accepted = 0
        for _, _, phone in people:
            answer = client.post(sms_url, data=sms_form(plan, rendition, phone), auth=auth)
            accepted += answer.status_code == 201
        return accepted, len(people)

    size = EMAIL_BATCH if args.channel == "email" else SMS_CHUNK
    accepted = requests = 0
    in_flight: set[Future[tuple[int, int]]] = set()

    def collect(done: set[Future[tuple[int, int]]]) -> None:
        nonlocal accepted, requests
        for future in done:
            got, made = future.result()
            accepted, requests = accepted + got, requests + made

    start = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        buckets: dict[tuple[str, str], list[Person]] = defaultdict(list)
        renditions: dict[tuple[str, str], dict[str, Any]] = {}

        def submit(key: tuple[str, str]) -> None:
            if len(in_flight) >= args.threads * 2:  # bounded: memory stays flat in N
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                in_flight.difference_update(done)
                collect(done)
            in_flight.add(pool.submit(send, renditions[key], buckets.pop(key)))

        for delivery_id, (number, address, locale, zone) in enumerate(
            recipients(Path(args.csv), args.channel, args.limit), start=1
        ):
            rendition = pick(locale, zone)
            key = (rendition["locale"], rendition["time_zone"])
            renditions[key] = rendition
            buckets[key].append((delivery_id, number, address))
            if len(buckets[key]) == size:
                submit(key)
        for key in list(buckets):
            submit(key)
        collect(set(in_flight))
    seconds = time.perf_counter() - start
    client.close()
    result = {"seconds": seconds, "messages": accepted, "requests": requests, "rss_mb": peak_rss_mb()}
    if args.channel == "email":
        sample = [(n, n, f"sample{n}@example.com") for n in (1, 2)]
        first = next(r for r in plan["renditions"] if r["channel"] == "email")
        result["same_body"] = email_body(plan, first, sample) == plan["sample_body"]
    return result


def naive(args: argparse.Namespace, plan: dict[str, Any]) -> dict[str, Any]:
    from python_http_client.exceptions import HTTPError
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import From, Mail

    pick = rendition_of(plan, args.channel)
    twilio = plan["twilio"]
    sms_url = f"{args.sandbox}/2010-04-01/Accounts/{twilio['account_sid']}/Messages.json"
    sendgrid = SendGridAPIClient(api_key=plan["sendgrid_api_key"], host=args.sandbox)
    accepted = requests = rejected = 0
    start = time.perf_counter()
    for _, address, locale, zone in recipients(Path(args.csv), args.channel, args.limit):
        rendition = pick(locale, zone)
        requests += 1
        if args.channel == "email":
            mail = Mail(
                from_email=From(plan["from_email"], plan["from_name"]),
                to_emails=address,
                subject=rendition["subject"],
                plain_text_content=rendition["body"],
                html_content=rendition["html"],
            )
            try:
                accepted += sendgrid.send(mail).status_code == 202
            except HTTPError:  # the SDK raises on 4xx and 5xx: counted, and the loop goes on
                rejected += 1
        else:
            form = sms_form(plan, rendition, address)
            response = httpx.post(sms_url, data=form, auth=(twilio["account_sid"], twilio["auth_token"]))
            accepted += response.status_code == 201
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "messages": accepted,
        "requests": requests,
        "rejected": rejected,
        "rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["bare", "naive"])
    parser.add_argument("--plan", required=True, help="the JSON `fanout_clarion.py stage` wrote")
    parser.add_argument("--csv", required=True)
    parser.add_argument("--sandbox", required=True)
    parser.add_argument("--channel", choices=["email", "sms"], required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--limit", type=int, help="send to at most this many recipients")
    args = parser.parse_args(argv)
    plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
    result = bare(args, plan) if args.kind == "bare" else naive(args, plan)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
