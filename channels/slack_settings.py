"""Slack's addresses and settings: conversation IDs and webhook names, ``CLARION_SLACK_*``.

A responder's Slack address is a conversation or user ID, or the *name* of an incoming webhook; the
webhook URLs are credentials and live only in ``CLARION_SLACK_WEBHOOKS``, never in a people file.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from clarion.errors import ConfigError
from clarion.files.text import quoted

SLACK_API_URL: Final = "https://slack.com/api/"

ID: Final = re.compile(r"[CGDUW][A-Z0-9]{8,}")
NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,62}")


def check_address(value: str) -> str:
    """A responder's Slack address as stored: a conversation or user ID, or a webhook name. The value
    is never echoed (a webhook URL pasted here would be a secret)."""
    address = value.strip()
    if ID.fullmatch(address) or NAME.fullmatch(address):
        return address
    if "://" in address:
        raise ValueError("a webhook URL is a secret: name it in CLARION_SLACK_WEBHOOKS and use the name")
    raise ValueError(
        "not a Slack conversation or user ID (C…, G…, D…, U…, W…: capitals and digits) nor a webhook "
        "name (lowercase letters, digits and '-', starting with a letter)"
    )


class SlackSettings(BaseSettings):
    """``CLARION_SLACK_*``: read when an adapter is built, never cached."""

    model_config = SettingsConfigDict(
        env_prefix="CLARION_SLACK_",
        env_file=".env",
        env_ignore_empty=True,  # set but empty: unset
        extra="ignore",
        hide_input_in_errors=True,
    )

    bot_token: SecretStr | None = None
    webhooks: dict[str, SecretStr] = Field(default_factory=dict)
    api_url: str = SLACK_API_URL

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token (xoxb-…)")
        return value

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, url in value.items():
            if not NAME.fullmatch(name):
                raise ValueError(
                    f"webhook name {quoted(name, limit=40)} is not lowercase letters, digits and '-'"
                )
            if not _web_url(url.get_secret_value()):
                raise ValueError(f"webhook {name!r} is not an http(s) URL")
        return value

    @property
    def configured(self) -> bool:
        return self.bot_token is not None or bool(self.webhooks)


def slack_settings() -> SlackSettings:
    """The settings now, or ConfigError naming the variable (never its value)."""
    try:
        return SlackSettings()
    except ValidationError as exc:
        problems = [
            f"CLARION_SLACK_{str(e['loc'][0]).upper()}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ConfigError("slack: " + "; ".join(problems)) from None
    except SettingsError:  # the JSON did not parse
        raise ConfigError("slack: CLARION_SLACK_WEBHOOKS must be a JSON object of name → URL") from None


def _web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
