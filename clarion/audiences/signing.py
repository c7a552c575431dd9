"""The signing key, and links signed with it that expire.

The key is the settings' ``secret_key`` (``CLARION_SECRET_KEY``) or, when that is not set, one
generated once into ``CLARION_HOME/secret.key``. A key that is empty, shorter than
:data:`MIN_KEY_CHARS` characters or made of a handful of repeated characters is refused with a
:class:`~clarion.errors.ConfigError` wherever a key is needed (the delivery worker and the web app
at start, every signing and every verification), never silently used: a link signed with an empty
key could be forged by anyone. A key file that is empty or short (truncated, edited) is refused the
same way. The generated file is written whole to a private temporary file (0600) beside it and
linked into place, so it is never world-readable nor half-written, and two processes starting at
once agree on one key; ``CLARION_HOME`` is created 0700 when clarion creates it.

A signed link's token is ``v2.<field>.<field>….<expires>.<mac>``: the fields the link names, the
expiry in epoch seconds (UTC), and a truncated HMAC-SHA256 over everything before it, bound to the
link's purpose (so a token made for one kind of link never passes as another). The MAC is compared
in constant time and checked before anything else in the token is believed. Tokens without a
version (before 2026-12, possibly signed with an empty key) are refused.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from clarion.errors import ConfigError, InputError, LinkExpired, Problem, display_path
from clarion.files.inputfile import read_text
from clarion.settings import Settings

KEY_FILE = "secret.key"
MIN_KEY_CHARS = 32
"""The shortest key accepted (``secrets.token_urlsafe(32)`` makes 43 characters)."""
MIN_KEY_DISTINCT = 8
"""A key with fewer different characters than this (``aaaa…``) is not a secret."""
MAX_KEY_FILE_BYTES = 4096
VERSION = "v2"
HOW_TO_MAKE_ONE = "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"

_MAC_CHARS = 22  # 16 bytes, base64url without padding
_FIELD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_MAC = re.compile(rf"[A-Za-z0-9_-]{{{_MAC_CHARS}}}")


def weakness(key: str) -> str | None:
    """Why ``key`` is unfit to sign links ("empty", "only 12 characters"…), or None when it will do."""
    text = key.strip()
    if not text:
        return "empty"
    if len(text) < MIN_KEY_CHARS:
        return f"only {len(text)} characters"
    if len(set(text)) < MIN_KEY_DISTINCT:
        return f"made of only {len(set(text))} different characters"
    return None


def _advice() -> str:
    return f"use at least {MIN_KEY_CHARS} random characters, {HOW_TO_MAKE_ONE}"


def secret_key(settings: Settings) -> bytes:
    """The signing key: the configured one, or the one kept in ``home`` (generated the first time).

    Raises :class:`ConfigError` when the key is missing and cannot be made, or is empty or weak.
    """
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if (why := weakness(value)) is not None:
            raise ConfigError(f"CLARION_SECRET_KEY is set but {why}: {_advice()}")
        return value.encode()
    path = settings.home / KEY_FILE
    if not os.path.lexists(path):
        _generate(path)
    return _read_key_file(path)


def _read_key_file(path: Path) -> bytes:
    try:
        text = read_text(path, max_bytes=MAX_KEY_FILE_BYTES, what="signing key file")
    except InputError as exc:
        raise ConfigError(f"{exc}; or set CLARION_SECRET_KEY") from None
    if (why := weakness(text)) is not None:
        raise ConfigError(
            f"{display_path(path)}: the signing key in this file is {why} (truncated or edited?): "
            f"put a key of at least {MIN_KEY_CHARS} random characters in it ({HOW_TO_MAKE_ONE}), "
            "or delete it to have one generated (unsubscribe links already sent stop working), "
            "or set CLARION_SECRET_KEY"
        )
    return text.strip().encode()


def _generate(path: Path) -> None:
    """Write a new key to ``path`` unless another process just did; never a partial or open file."""
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{KEY_FILE}.")  # created 0600
    except OSError as exc:
        raise ConfigError(
            f"cannot create the signing key file {display_path(path)}: {exc.strerror or exc}; "
            "make CLARION_HOME writable or set CLARION_SECRET_KEY"
        ) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        _link_into_place(temporary, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the signing key file {display_path(path)}: {exc.strerror or exc}"
        ) from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def _link_into_place(temporary: str, path: Path) -> None:
    """``temporary`` becomes ``path`` whole, unless ``path`` exists by now (then the other one wins)."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        try:  # a file system without hard links: create exclusively, 0600 from the start
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(Path(temporary).read_text(encoding="utf-8"))


def check_key(key: bytes) -> bytes:
    """``key`` when it is fit to sign with; :class:`ConfigError` when it is empty or weak."""
    why = weakness(key.decode("utf-8", errors="replace"))
    if why is not None:
        raise ConfigError(f"the signing key is {why}: {_advice()}")
    return key


def _mac(key: bytes, purpose: str, signed: str) -> str:
    message = f"clarion {purpose}\x00{signed}".encode()
    digest = hmac.new(check_key(key), message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("a signed link's times must be timezone-aware")
    return int(moment.timestamp())


def sign(key: bytes, purpose: str, fields: Sequence[str], *, expires_at: datetime) -> str:
    """A token naming ``fields`` (short ``[A-Za-z0-9_-]`` strings) for ``purpose`` until ``expires_at``."""
    for field in fields:
        if not _FIELD.fullmatch(field):
            raise ValueError(f"a signed field must match {_FIELD.pattern}: {field!r}")
    signed = ".".join([VERSION, *fields, str(_epoch(expires_at))])
    return f"{signed}.{_mac(key, purpose, signed)}"


def verify(
    key: bytes, purpose: str, token: str, *, count: int, now: datetime, source: str, field: str = "token"
) -> list[str]:
    """The ``count`` fields a token names, once its MAC and expiry check out.

    Raises :class:`InputError` (naming ``source`` and ``field``) when the token is garbled, forged,
    of another purpose or of the old unversioned form; :class:`LinkExpired` when it is genuine but
    past its expiry; :class:`ConfigError` when the key is unfit.
    """
    check_key(key)
    parts = token.split(".")
    version, fields, expires, mac = parts[0], parts[1:-2], parts[-2:-1], parts[-1]
    if version != VERSION:
        raise InputError([Problem(source, None, field, "not a valid link (an old or garbled form)")])
    well_formed = (
        len(parts) == count + 3
        and all(_FIELD.fullmatch(f) for f in fields)
        and bool(expires)
        and _EXPIRES.fullmatch(expires[0]) is not None
        and _MAC.fullmatch(mac) is not None
    )
    signed = token[: -len(mac) - 1] if mac else token
    if not (well_formed and hmac.compare_digest(mac, _mac(key, purpose, signed))):
        raise InputError([Problem(source, None, field, "not a valid link")])
    if _epoch(now) >= int(expires[0]):
        raise LinkExpired(datetime.fromtimestamp(int(expires[0]), UTC), source=source, field=field)
    return fields
