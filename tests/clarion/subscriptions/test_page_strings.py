"""The subscription pages' words: both languages say everything, and every key a page or a refusal
asks for exists (a missing key would fail the page, not show a blank)."""

from __future__ import annotations

import re

import yaml

from clarion.statuspage.pages import TEMPLATES, strings
from clarion.subscriptions.refusals import Reason

FIELD_ERRORS = (
    "channel-missing",
    "email-missing",
    "email-invalid",
    "phone-missing",
    "phone-country",
    "phone-invalid",
    "components-none",
    "components-unknown",
    "locale-unknown",
    "code-wrong",
)
PAGE_PROBLEMS = ("form-expired", "not-a-form")


def _keys(locale: str) -> set[str]:
    return set(
        yaml.safe_load((TEMPLATES / "strings" / f"subscribe.{locale}.yaml").read_text(encoding="utf-8"))
    )


def test_english_and_german_say_the_same_things() -> None:
    assert _keys("en") == _keys("de")


def test_every_refusal_and_field_problem_has_its_words() -> None:
    for locale in ("en", "de"):
        words = strings(locale)
        for reason in [r.value for r in Reason] + list(PAGE_PROBLEMS):
            assert (
                f"subscribe.refused.{reason}.title" in words and f"subscribe.refused.{reason}.text" in words
            )
        for key in FIELD_ERRORS:
            assert f"subscribe.error.{key}" in words, key


def test_every_key_a_subscription_page_names_exists() -> None:
    keys = _keys("en")
    named: set[str] = set()
    for template in (TEMPLATES / "subscribe").glob("*.html.j2"):
        text = template.read_text(encoding="utf-8")
        named |= set(re.findall(r"t\('((?:subscribe|subscription)\.[a-z_.-]+)'", text))
    whole = {k for k in named if not k.endswith(("_", "."))}
    assert len(whole) > 30
    assert whole <= keys
    for prefix in named - whole:  # t('subscription.to_' ~ channel), t('subscribe.error.' ~ key)…
        assert any(k.startswith(prefix) for k in keys), prefix
    for channel in ("email", "sms"):
        assert {f"subscribe.confirm.to_{channel}", f"subscription.to_{channel}"} <= keys
    assert {"subscription.done.confirmed", "subscription.done.saved"} <= keys
