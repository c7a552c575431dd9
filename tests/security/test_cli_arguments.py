"""Bad command-line arguments: a clear error and its exit code, before anything is read, written,
sent, or asked of the Prefect server.

References (``INC-1``, ``../x``), numbers out of range (``--threads 0``, ``--port 70000``,
``--limit -5``, ``--timeout 0``), unknown options and commands, bad ``--recipients`` forms, values
not in a list (``--status bogus``), approvals by someone not listed or for a role that does not exist.
"""

from __future__ import annotations

import pytest

from tests.security.cli_cases import ESCAPE, RETITLE, SHOWN, arg, refused_before_anything_happens
from tests.security.conftest import World

STATUS = [
    arg("status-short-reference", ("status", "INC-1"), 2, r"'INC-1' is not an incident reference"),
    arg("status-traversal", ("status", "../x"), 2, r"'\.\./x' is not an incident reference"),
    arg("status-escape", ("status", "INC-0042" + ESCAPE), 2, SHOWN),
    arg("status-unknown-incident", ("status", "INC-9999"), 2, r"no incident 'INC-9999'"),
    arg("status-sql", ("status", "INC-0042'; DROP TABLE incident; --"), 2, r"is not an incident reference"),
    arg("status-unknown-option", ("status", "--nope"), 2, r"No such option"),
    arg("status-extra-argument", ("status", "INC-0042", "INC-0043"), 2, r"extra argument"),
    arg("unknown-command", ("nope",), 2, r"No such command"),
    arg("unknown-command-escape", (RETITLE,), 2, r"argument 1 .*control character U\+001B \(ESC\)"),
    arg("unknown-global-option", ("--nope",), 2, r"No such option"),
    arg("db-upgrade-extra-argument", ("db", "upgrade", "now"), 2, r"extra argument"),
    arg(
        "audit-anchor-not-a-hash",
        ("audit", "verify", "--anchor", "garbage"),
        2,
        r"anchor.*(hash|hex)",
    ),
]

OUTBOX = [
    arg("work-threads-0", ("outbox", "work", "--threads", "0"), 2, r"--threads"),
    arg("work-threads-65", ("outbox", "work", "--threads", "65"), 2, r"--threads"),
    arg("work-threads-text", ("outbox", "work", "--threads", "abc"), 2, r"--threads"),
    arg("work-threads-escape", ("outbox", "work", "--threads", ESCAPE), 2, r"--threads"),
    arg("work-max-wait-negative", ("outbox", "work", "--max-wait", "-1"), 2, r"--max-wait"),
    arg("work-max-wait-huge", ("outbox", "work", "--max-wait", "1e9"), 2, r"--max-wait"),
    arg("work-max-wait-nan", ("outbox", "work", "--max-wait", "nan"), 2, r"--max-wait"),
    arg("work-max-wait-inf", ("outbox", "work", "--max-wait", "inf"), 2, r"--max-wait"),
    arg("work-unknown-option", ("outbox", "work", "--turbo"), 2, r"No such option"),
    arg(
        "stage-recipients-without-file",
        ("outbox", "stage", "data-breach", "-f", "{facts}", "-r", "affected-customers"),
        2,
        r"expected AUDIENCE=FILE\.csv",
    ),
    arg(
        "stage-recipients-empty-file",
        ("outbox", "stage", "data-breach", "-f", "{facts}", "-r", "affected-customers="),
        2,
        r"expected AUDIENCE=FILE\.csv",
    ),
    arg(
        "stage-recipients-no-audience",
        ("outbox", "stage", "data-breach", "-f", "{facts}", "-r", "={csv}"),
        2,
        r"no audience named ''",
    ),
    arg(
        "stage-recipients-unknown-audience",
        ("outbox", "stage", "data-breach", "-f", "{facts}", "-r", "everyone={csv}"),
        2,
        r"no audience named 'everyone'",
    ),
    arg(
        "stage-recipients-escape",
        ("outbox", "stage", "data-breach", "-f", "{facts}", "-r", f"x{ESCAPE}={{csv}}"),
        2,
        SHOWN,
    ),
    arg(
        "stage-recipients-twice-for-one-audience",
        (
            "outbox",
            "stage",
            "data-breach",
            "-f",
            "{facts}",
            "-r",
            "affected-customers={csv}",
            "-r",
            "affected-customers={other}",
        ),
        2,
        r"affected-customers",
    ),
    arg(
        "stage-unknown-playbook",
        ("outbox", "stage", "heist", "-f", "{facts}"),
        2,
        r"heist\.yaml: file not found",
    ),
    arg("stage-passwd-as-playbook", ("outbox", "stage", "/etc/passwd", "-f", "{facts}"), 2, r"^/etc/passwd:"),
    arg("stage-without-facts", ("outbox", "stage", "data-breach"), 2, r"Missing option '--facts'"),
    arg("status-with-an-argument", ("outbox", "status", "everything"), 2, r"extra argument"),
]

FILES = [
    arg(
        "preview-unknown-locale",
        ("preview", "data-breach", "-f", "{facts}", "--locale", "xx"),
        2,
        r"--locale: 'xx' is not one of en, de",
    ),
    arg("preview-escape-locale", ("preview", "data-breach", "-f", "{facts}", "--locale", ESCAPE), 2, SHOWN),
    arg(
        "preview-since-dev-zero",
        ("preview", "data-breach", "-f", "{facts}", "--since", "/dev/zero"),
        2,
        r"^/dev/zero: is a character device",
    ),
    arg(
        "preview-since-folder",
        ("preview", "data-breach", "-f", "{facts}", "--since", "{dir}"),
        2,
        r"is a folder",
    ),
    arg("lint-missing-file", ("playbooks", "lint", "nope.yaml"), 2, r"^nope\.yaml: file not found"),
    arg("lint-empty-folder", ("playbooks", "lint", "{dir}"), 2, r"no playbook files found"),
    arg("lint-dev-null", ("playbooks", "lint", "/dev/null"), 2, r"^/dev/null: is a character device"),
]

SERVERS = [
    arg(
        "sandbox-port-70000",
        ("sandbox", "--port", "70000"),
        2,
        r"--port",
    ),
    arg(
        "sandbox-port-negative",
        ("sandbox", "--port", "-1"),
        2,
        r"--port",
    ),
    arg("sandbox-fault-rate-2", ("sandbox", "--fault-rate", "2"), 2, r"fault_rate"),
    arg("sandbox-fault-kind-unknown", ("sandbox", "--fault-kind", "explode"), 2, r"fault_kinds"),
    arg("sandbox-rate-limit-no-number", ("sandbox", "--rate-limit", "twilio"), 2, r"expected PROVIDER=N"),
    arg("sandbox-rate-limit-negative", ("sandbox", "--rate-limit", "twilio=-5"), 2, r"expected PROVIDER=N"),
    arg("sandbox-latency-negative", ("sandbox", "--latency-ms", "-1"), 2, r"latency_ms"),
    arg("sandbox-host-unknown", ("sandbox", "--host", "no such host", "--port", "1"), 1, r"cannot listen on"),
    arg(
        "sandbox-inbox-limit-negative",
        ("sandbox", "inbox", "--limit", "-5"),
        2,
        r"--limit",
    ),
    arg(
        "sandbox-inbox-channel-unknown",
        ("sandbox", "inbox", "--channel", "fax"),
        2,
        r"fax",
    ),
    arg(
        "sandbox-inbox-url-unreachable",
        ("sandbox", "inbox", "--url", "http://127.0.0.1:9"),
        1,
        r"no sandbox answering at http://127\.0\.0\.1:9",
    ),
    arg(
        "sandbox-inbox-url-not-a-url",
        ("sandbox", "inbox", "--url", "garbage"),
        2,
        r"garbage",
    ),
    arg("web-port-70000", ("web", "--port", "70000"), 2, r"--port"),
    arg("web-port-0", ("web", "--port", "0"), 2, r"--port"),
    arg("serve-port-0", ("serve", "--port", "0"), 2, r"--port"),
    arg("serve-prefect-port-70000", ("serve", "--prefect-port", "70000"), 2, r"--prefect-port"),
    arg("serve-sandbox-port-negative", ("serve", "--sandbox-port", "-1"), 2, r"--sandbox-port"),
    arg("demo-time-scale-0", ("demo", "--time-scale", "0"), 2, r"--time-scale"),
    arg("demo-time-scale-huge", ("demo", "--time-scale", "1e9"), 2, r"--time-scale"),
]

INCIDENTS = [
    arg("declare-timeout-0", ("declare", "data-breach", "-f", "{facts}", "--timeout", "0"), 2, r"--timeout"),
    arg(
        "declare-timeout-negative",
        ("declare", "data-breach", "-f", "{facts}", "--timeout", "-5"),
        2,
        r"--timeout",
    ),
    arg("declare-unknown-playbook", ("declare", "heist", "-f", "{facts}", "--no-wait"), 2, r"heist\.yaml"),
    arg(
        "update-short-reference",
        ("update", "INC-1", "--status", "monitoring"),
        2,
        r"'INC-1' is not an incident",
    ),
    arg("update-traversal", ("update", "../x", "--status", "monitoring"), 2, r"is not an incident reference"),
    arg(
        "update-status-bogus",
        ("update", "INC-0042", "--status", "bogus"),
        2,
        r"--status 'bogus' is not one of",
    ),
    arg("update-status-escape", ("update", "INC-0042", "--status", RETITLE), 2, SHOWN),
    arg("update-nothing", ("update", "INC-0042"), 2, r"nothing to publish"),
    arg(
        "update-timeout-0",
        ("update", "INC-0042", "--status", "monitoring", "--timeout", "0"),
        2,
        r"--timeout",
    ),
    arg("resolve-traversal", ("resolve", "../../x"), 2, r"is not an incident reference"),
    arg(
        "approve-unlisted-person",
        ("approve", "INC-0042", "--as", "dpo", "--by", "mallory@example.com"),
        2,
        r"mallory@example\.com may not answer for dpo on INC-0042: only dpo@example\.com or backup",
    ),
    arg(
        "approve-unknown-role",
        ("approve", "INC-0042", "--as", "janitor", "--by", "dpo@example.com"),
        2,
        r"playbook data-breach has no approval role 'janitor'; its roles are legal, dpo",
    ),
    arg(
        "approve-reject-without-reason",
        ("approve", "INC-0042", "--as", "dpo", "--by", "dpo@example.com", "--reject"),
        2,
        r"--reject needs --reason",
    ),
    arg(
        "approve-role-already-approved",
        ("approve", "INC-0042", "--as", "legal", "--by", "legal-on-call@example.com"),
        2,
        r"legal has already approved the draft of INC-0042; waiting for: dpo",
    ),
    arg(
        "approve-unknown-incident",
        ("approve", "INC-9999", "--as", "dpo", "--by", "dpo@example.com"),
        2,
        r"no incident 'INC-9999'",
    ),
    arg(
        "approve-nothing-waiting",
        ("approve", "INC-0043", "--as", "comms-lead", "--by", "comms-on-call@example.com"),
        1,
        r"no approval is waiting for INC-0043",
    ),
    arg("approve-by-an-escape", ("approve", "INC-0042", "--as", "dpo", "--by", RETITLE), 2, SHOWN),
    arg("approve-without-by", ("approve", "INC-0042", "--as", "dpo"), 2, r"Missing option '--by'"),
]


@pytest.mark.parametrize(("args", "code", "says"), STATUS + OUTBOX + FILES + SERVERS + INCIDENTS)
def test_bad_command_line_arguments_are_refused_before_anything_happens(
    world: World, args: tuple[str, ...], code: int, says: tuple[str, ...]
) -> None:
    refused_before_anything_happens(world, args, code, says)
