"""Settings from the environment (``CLARION_`` prefix) and an optional ``.env`` file.

Nothing is built at import time: call :func:`get_settings`. Credentials are ``SecretStr`` so they
never show up in a ``repr``, a log line or an artifact.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from clarion.audiences.email_address import EmailNotValidError, normalized_email
from clarion.errors import ConfigError, InputError
from clarion.files.inputfile import read_text
from clarion.files.text import first_unsafe, quoted, visible
from clarion.kinds import TimeZoneName

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    return Path.cwd() / ".clarion"


def _web_url(value: str | None) -> str | None:
    """An http(s) URL with a host (links in every message are built on it)."""
    if value is None:
        return value
    try:
        parts = urlsplit(value)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[::1": a malformed address
        usable = False
    if usable:
        return value
    raise ValueError("must be an http(s) URL with a host, such as https://status.example.com")


STAFF_TOKEN_MIN = 32


def _email(value: str) -> str:
    try:
        return normalized_email(value)
    except EmailNotValidError as exc:
        raise ValueError(f"is not an email address: {exc}") from None


WebUrl = Annotated[str, AfterValidator(_web_url)]


def _origin(value: str) -> str:
    """``https://app.example.com`` or ``https://app.example.com:8443``: a scheme and a host, nothing
    after them (it goes into a Content-Security-Policy, where a stray ``;`` would add a directive)."""
    parts = urlsplit(value.strip()) if "\\" not in value else None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or not all(c.isalnum() or c in ".-:[]/" for c in value.strip())
    ):
        raise ValueError(f"{value!r} is not an origin such as https://app.example.com")
    return f"{parts.scheme}://{parts.netloc}"


OptionalWebUrl = Annotated[str | None, AfterValidator(_web_url)]


class Settings(BaseSettings):
    """Everything clarion reads from its environment."""

    model_config = SettingsConfigDict(  # errors never echo a refused value: some are secrets
        env_prefix="CLARION_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    home: Path = Field(default_factory=_default_home, description="Folder for the local SQLite store.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; defaults to a SQLite file in `home`.",
    )
    playbooks_dir: Path = Field(default=PROJECT_ROOT / "playbooks")
    templates_dir: Path = Field(default=PROJECT_ROOT / "templates")
    statuspage_export_dir: Path | None = Field(
        default=None,
        description="When set, every publication rewrites the static status page in this folder.",
    )
    components_file: Path | None = Field(
        default=None,
        description="The status page's components (default: statuspage/components.yaml in playbooks_dir).",
    )

    sms_max_segments: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Most SMS segments one message may take (a playbook may lower it).",
    )
    public_time_zone: TimeZoneName = Field(
        default="UTC", description="Time zone for broadcast channels (status page, social, banner)."
    )

    audience_database_url: str | None = Field(
        default=None,
        description="Database that playbook audience SQL queries run against; defaults to the store.",
    )
    audience_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders besides a playbook's own where its CSV audience sources may be, separated "
        "by ':' as in PATH (a source elsewhere is refused; --recipients on the command line is not bound).",
    )
    embed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose pages may frame /embed/banner, separated by spaces or commas (none: "
        "no page of the app may be framed anywhere).",
    )
    public_url: WebUrl = Field(
        default="http://127.0.0.1:8765",
        description="Where clarion's web app is reached: banner feed, unsubscribe links, provider webhooks.",
    )
    sandbox_url: WebUrl = Field(
        default="http://127.0.0.1:8766",
        description="The provider sandbox, used for every provider whose credentials are not set.",
    )
    prefect_api_url: WebUrl = Field(
        default="http://127.0.0.1:4200/api",
        description="The Prefect server's API (PREFECT_API_URL wins); `clarion serve` starts one here.",
    )
    time_scale: float = Field(
        default=1.0,
        ge=1.0,
        le=100_000.0,
        description="Time compression for demos: an incident's clock runs this many times faster than "
        "the wall clock from its declaration on, so cadence and approval timers fire sooner (360: an hour "
        "in 10 s). 1 in production.",
    )
    provider_timeout: float = Field(
        default=30.0,
        ge=1.0,
        le=300.0,
        description="Seconds a provider request may take before it is abandoned (then in doubt: looked up "
        "before any resend, and not before the request could have finished).",
    )
    outbox_claim_size: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Messages a worker claims (and SendGrid sends) per request, and recipients per "
        "email request when an update is staged; the provider's most (SendGrid 1000, Twilio 50 "
        "claimed per batch) when not set.",
    )
    provider_rates: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")], Annotated[float, Field(gt=0, le=100_000)]
    ] = Field(
        default_factory=dict,
        description='Requests a second a provider allows, for all workers together (JSON: {"twilio": 10, '
        '"sendgrid": 5}); a provider not named keeps its channel\'s own rate (none for email and SMS).',
    )
    outbox_max_wait: float = Field(
        default=60.0,
        ge=0.0,
        le=86_400.0,
        description="`outbox work` (and the delivery tasks of a publish) stop when nothing is due within "
        "this many seconds; what waits for a retry stays in the outbox for the next run.",
    )
    outbox_backoff_cap: float = Field(
        default=300.0,
        ge=1.0,
        le=86_400.0,
        description="The longest a worker waits before retrying a message that failed for a transient "
        "reason (the wait doubles from 1 s per attempt, with jitter, up to this).",
    )
    outbox_store_patience: float = Field(
        default=300.0,
        ge=0.0,
        le=86_400.0,
        description="Seconds a worker waits for an unreachable PostgreSQL store (a restart, a failover) "
        "to come back, retrying with backoff, before it gives up.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs unsubscribe links (at least 32 random characters; an empty or short key is "
        "refused where one is needed); generated once into `home`/secret.key (0600) when not set.",
    )
    staff_token: SecretStr | None = Field(
        default=None,
        description="Opens the web app's staff pages (survey reports, follow-ups) with HTTP Basic auth, "
        "user `staff` and this as the password (at least 32 characters); without it they do not exist.",
    )
    survey_tagger: str | None = Field(
        default=None,
        description="The trust-signal tagger of survey answers as `module:attribute` (a class or factory "
        "implementing clarion.surveys.signals.Tagger); the built-in lexicon tagger when not set.",
    )
    email_from: Annotated[str, AfterValidator(_email)] = Field(
        default="incidents@example.com", description="Sender address of emails."
    )
    email_from_name: str = Field(default="Incident communications", description="Sender name of emails.")

    # Provider credentials; all optional: without them clarion talks to its provider sandbox.
    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: WebUrl = "https://api.sendgrid.com"
    sendgrid_event_public_key: str | None = Field(
        default=None, description="Verifies signed Event Webhook posts (base64 DER from the dashboard)."
    )
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = Field(default=None, description="Used when no Messaging Service is set.")
    twilio_base_url: WebUrl = "https://api.twilio.com"
    mastodon_base_url: OptionalWebUrl = None
    mastodon_access_token: SecretStr | None = None
    bluesky_pds_url: OptionalWebUrl = None
    bluesky_identifier: str | None = None
    bluesky_app_password: SecretStr | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_unsafe_text(cls, value: object) -> object:
        """No setting carries a control character or a bidirectional override (a sender name with
        ESC [2J went out in every email)."""
        for text in value if isinstance(value, list | tuple) else [value]:
            if isinstance(text, str) and (problem := first_unsafe(text)) is not None:
                raise ValueError(problem)
        return value

    @field_validator("staff_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        """The staff pages show personal data: a short password would open them to guessing."""
        if value is not None and len(value.get_secret_value().strip()) < STAFF_TOKEN_MIN:
            raise ValueError(f"must be at least {STAFF_TOKEN_MIN} characters (or unset: no staff pages)")
        return value

    @field_validator("embed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.replace(",", " ").split() if part]
        return [_origin(str(v)) for v in value] if isinstance(value, list | tuple) else value

    @field_validator("audience_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        """``CLARION_AUDIENCE_ROOTS=/srv/audiences:/data/crm``: folders separated as in PATH."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(os.pathsep) if part.strip()]
        return value

    @property
    def components_path(self) -> Path:
        """The status page's components file (it may not exist: then the page lists none)."""
        return self.components_file or self.playbooks_dir / "statuspage" / "components.yaml"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file inside ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'clarion.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call ``get_settings.cache_clear()``.

    A setting that does not validate is a :class:`~clarion.errors.ConfigError` naming the variable,
    the value (spelled out, never a secret) and what it must be.
    """
    _check_env_file(Path(".env"))
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError("\n".join(_setting_problems(exc))) from None
    except SettingsError as exc:  # a value the settings could not even parse (a mapping that is not JSON)
        raise ConfigError(_unparsed(exc)) from None


def _check_env_file(path: Path) -> None:
    """A ``.env`` file is read only when it is a regular UTF-8 file of bounded size: a FIFO named
    ``.env`` blocked every command, a latin-1 one was a traceback."""
    if not os.path.lexists(path):
        return
    try:
        read_text(path, what="settings file")
    except InputError as exc:
        raise ConfigError(f"{exc} (settings are read from .env in the working folder)") from None


def _setting_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "?"
        variable = f"CLARION_{name.upper()}"
        field = Settings.model_fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        given = quoted(error.get("input", ""), limit=60)
        inner = error["loc"][1:]  # within a JSON setting: the entry, or ("Twilio", "[key]") for a key
        if inner[-1:] == ("[key]",):
            shown = f": key {given}"
        elif inner:
            variable += "".join(f"[{quoted(str(part), limit=40)}]" for part in inner)
            shown = f": value {given}"
        else:
            shown = f" = {given}"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"setting {variable}{'' if secret else shown}: {message}")
    return problems


def _unparsed(exc: SettingsError) -> str:
    """A setting pydantic-settings could not decode (a mapping or list that is not JSON), named."""
    found = re.search(r'field "([a-z_]+)"', str(exc))
    if found is None or found.group(1) not in Settings.model_fields:
        return f"settings: {visible(str(exc), limit=300)}"
    name = found.group(1)
    variable = f"CLARION_{name.upper()}"
    description = Settings.model_fields[name].description or ""
    example = re.search(r"\(JSON: ([^)]*)\)", description)
    form = f", such as {example.group(1)}" if example else ""
    value = os.environ.get(variable)
    shown = f" = {quoted(value, limit=60)}" if value is not None else " (in .env)"
    return f"setting {variable}{shown}: not JSON; write it as JSON{form}"
