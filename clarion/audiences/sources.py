"""Where an audience's recipients come from: a CSV file, a SQL query or the status page's confirmed
subscribers, as a playbook names them.

Subscribers depend on the update: each hears of the updates touching the components it chose, so a
source is checked and read for the components an update touches (``components``; the other sources
ignore them). See :mod:`clarion.subscriptions.audience`.

A playbook's CSV sources are relative to the playbook file and must resolve (symlinks followed)
inside its folder or one of ``CLARION_AUDIENCE_ROOTS``: a playbook is not a way to read any file the
process can (``../../../../etc/passwd``). A file named on the command line (``--recipients``) is the
person's own choice and is read from anywhere.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from clarion import store
from clarion.audiences import audience as audiences
from clarion.audiences import audience_sql
from clarion.audiences.audience import AudienceSummary, RecipientRow
from clarion.errors import InputError, PlaybookError, Problem, display_path
from clarion.files.text import quoted
from clarion.files.yamlfile import LineMap, read_yaml
from clarion.kinds import Channel
from clarion.playbook import Playbook
from clarion.settings import Settings
from clarion.subscriptions.audience import subscriber_rows, subscriber_summary


@dataclass(frozen=True)
class Source:
    """Where an audience's recipients come from."""

    csv: Path | None = None
    sql: str | None = None
    database_url: str | None = None
    subscribers: tuple[Channel, ...] | None = None
    """The channels of the subscribers (in the store at ``database_url``) this audience reaches."""

    def check(self, components: Collection[str] = ()) -> AudienceSummary:
        """Every row checked; subscribers: those who want an update touching ``components``."""
        if self.csv is not None:
            return audiences.check_csv(self.csv)
        assert self.database_url is not None
        if self.subscribers is not None:
            engine = store.make_engine(self.database_url)
            try:
                return subscriber_summary(engine, channels=self.subscribers, components=components)
            finally:
                engine.dispose()
        assert self.sql is not None
        return audience_sql.check_sql(self.database_url, self.sql)

    def rows(self, components: Collection[str] = ()) -> Iterator[RecipientRow]:
        """The recipients, streamed; subscribers: those who want an update touching ``components``."""
        if self.csv is not None:
            return audiences.read_csv(self.csv)
        assert self.database_url is not None
        if self.subscribers is not None:
            return _subscribers(self.database_url, self.subscribers, components)
        assert self.sql is not None
        return audience_sql.read_sql(self.database_url, self.sql)


def _subscribers(
    url: str, channels: tuple[Channel, ...], components: Collection[str]
) -> Iterator[RecipientRow]:
    engine = store.make_engine(url)
    try:
        yield from subscriber_rows(engine, channels=channels, components=components)
    finally:
        engine.dispose()


def playbook_sources(playbook: Playbook, playbook_path: Path, settings: Settings) -> dict[str, Source]:
    """The sources the playbook names. CSV paths are relative to the playbook file and must resolve
    (symlinks followed) inside its folder or one of ``settings.audience_roots``: a playbook is not a
    way to read any file the process can (``../../../../etc/passwd``). Raises :class:`PlaybookError`
    naming the file, the line of the ``csv:`` key and the allowed folders."""
    found: dict[str, Source] = {}
    refused: list[tuple[str, str, str]] = []
    roots = _audience_roots(playbook_path, settings)
    for name, spec in playbook.audiences.items():
        if spec.source is None:
            continue
        if spec.source.csv is not None:
            path = playbook_path.parent / spec.source.csv
            if (reason := _outside(path, roots)) is not None:
                refused.append((name, spec.source.csv, reason))
            found[name] = Source(csv=path)
        elif spec.source.subscribers is not None:
            channels = tuple(c for c in spec.source.subscribers.channels if c in spec.channels)
            found[name] = Source(subscribers=channels, database_url=settings.effective_database_url)
        else:
            url = settings.audience_database_url or settings.effective_database_url
            found[name] = Source(sql=spec.source.sql, database_url=url)
    if refused:
        raise _refusal(playbook_path, refused, roots)
    return found


def _audience_roots(playbook_path: Path, settings: Settings) -> list[Path]:
    """The folders a playbook's CSV sources may resolve into: its own, then the configured ones."""
    roots: list[Path] = []
    for folder in (playbook_path.parent, *settings.audience_roots):
        try:
            resolved = folder.resolve()
        except (OSError, RuntimeError):  # a symlink loop: it holds nothing
            continue
        if resolved not in roots:
            roots.append(resolved)
    return roots


def _outside(path: Path, roots: list[Path]) -> str | None:
    """Why ``path`` may not be read as a playbook's audience, or None when it resolves inside a root."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return "cannot be resolved (a symlink loop?)"
    if any(resolved.is_relative_to(root) for root in roots):
        return None
    return f"resolves to {quoted(str(resolved), limit=120)}"


def _refusal(playbook_path: Path, refused: list[tuple[str, str, str]], roots: list[Path]) -> PlaybookError:
    """name, csv value, reason → one problem each, at the line of the ``csv:`` key."""
    try:
        _, lines = read_yaml(playbook_path, PlaybookError)
    except InputError:  # changed since it was loaded: name the field without its line
        lines = LineMap()
    allowed = ", ".join(quoted(str(root), limit=120) for root in roots)
    problems = []
    for name, csv, reason in refused:
        problems.append(
            Problem(
                display_path(playbook_path),
                lines.line_for(("audiences", name, "source", "csv")),
                f"audiences.{name}.source.csv",
                f"{quoted(csv, limit=120)} {reason}: a playbook's audience files must be inside "
                f"{allowed} (its own folder; CLARION_AUDIENCE_ROOTS adds others, and --recipients "
                "takes a file from anywhere)",
            )
        )
    return PlaybookError(problems)


def check_sources(
    playbook: Playbook, sources: Mapping[str, Source], components: Collection[str] = ()
) -> dict[str, AudienceSummary]:
    """Every row of every source, checked in full (:class:`InputError` naming every problem), for an
    update touching ``components``; a source for an audience the playbook does not name is refused."""
    unknown = sorted(set(sources) - set(playbook.audiences))
    if unknown:
        raise InputError(
            [Problem(playbook.name, None, "audiences", f"no audience named {n!r}") for n in unknown]
        )
    return {name: source.check(components) for name, source in sources.items()}  # every row checked
