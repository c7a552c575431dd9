"""What each page of the status page shows, as plain data built from one snapshot in one language.

The templates only lay these out: every decision (what is open, which part is unknown, what a day
of the 90-day bar says, which months a history page holds) is made here, where a test reads it
without parsing HTML, and from the :class:`~clarion.statuspage.snapshot.Snapshot` alone, so the web
app and the static export show the same thing.

* :func:`home_view`: the overall state, open incidents with their latest story, maintenance under
  way and coming, every component with its state and last 90 days, and what was resolved lately.
* :func:`incident_page`: one incident or maintenance with every update (:mod:`.timeline`).
* :func:`survey_line`: what the customers asked after a resolved incident answered, and (for the home
  page) the same over the last 90 days: only what :mod:`clarion.surveys.report` lets the page publish.
* :func:`history_view`: everything past, by month, newest first, in pages of whole months (at most
  :data:`MONTHS_PER_PAGE` months and :data:`ENTRIES_PER_PAGE` entries), so a
  page's address names the same months until a new month begins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clarion.statuspage.components import ComponentStatus
from clarion.statuspage.record import PublicIncident
from clarion.statuspage.snapshot import Snapshot
from clarion.statuspage.state import MaintenanceStatus
from clarion.statuspage.timeline import IncidentView, component_states, impact, incident_view, touched
from clarion.statuspage.wording import Stamp, Wording
from clarion.surveys.report import Tally

MONTHS_PER_PAGE = 6
ENTRIES_PER_PAGE = 25
RECENT = timedelta(days=7)
"""How long a resolved incident stays listed on the home page."""


@dataclass(frozen=True)
class Link:
    reference: str
    title: str
    href: str


@dataclass(frozen=True)
class DayView:
    on: Stamp
    state: ComponentStatus
    incidents: tuple[Link, ...]


@dataclass(frozen=True)
class ComponentRow:
    id: str
    name: str
    description: str | None
    state: ComponentStatus
    days: tuple[DayView, ...]
    uptime: str
    troubled_days: int
    """Days of the period on which something touched it."""


@dataclass(frozen=True)
class SectionView:
    name: str | None
    description: str | None
    components: tuple[ComponentRow, ...]

    @property
    def worst(self) -> ComponentStatus:
        return max((c.state for c in self.components), key=lambda s: s.rank)


@dataclass(frozen=True)
class HistoryEntry:
    reference: str
    title: str
    href: str
    label: str
    """The page-string key of where it stands (``status.resolved``, ``maintenance.completed`` …)."""
    impact: str
    maintenance: bool
    started: Stamp
    ended: Stamp | None
    components: tuple[str, ...]
    summary: str | None


@dataclass(frozen=True)
class SurveyLine:
    """The survey's sentence: ``key`` is the page string, ``values`` fill it (numbers in the page's
    language). "none negative" has a sentence of its own: a ratio to zero is no number."""

    key: str
    values: dict[str, str]


@dataclass(frozen=True)
class HomeView:
    indicator: str
    as_of: Stamp | None
    """The last publication (not the moment of building: the page's bytes stay the same until
    something changes, so its ETag does too)."""
    incidents: tuple[IncidentView, ...]
    maintenance_now: tuple[IncidentView, ...]
    maintenance_next: tuple[IncidentView, ...]
    sections: tuple[SectionView, ...]
    recent: tuple[HistoryEntry, ...]
    period: tuple[Stamp, Stamp] | None
    """The first and last day of the bars (none without components)."""
    survey: SurveyLine | None = None
    """The survey answers of the last 90 days, when there are enough to publish."""


@dataclass(frozen=True)
class MonthView:
    iso: str
    label: str
    entries: tuple[HistoryEntry, ...]


@dataclass(frozen=True)
class HistoryView:
    number: int
    count: int
    months: tuple[MonthView, ...]

    @property
    def newer(self) -> str | None:
        return page_href(self.number - 1) if self.number > 1 else None

    @property
    def older(self) -> str | None:
        return page_href(self.number + 1) if self.number < self.count else None


def page_href(number: int) -> str:
    return "/history" if number == 1 else f"/history/page/{number}"


def _view(snapshot: Snapshot, incident: PublicIncident, words: Wording) -> IncidentView:
    return incident_view(incident, snapshot.catalogue, snapshot.now, words)


def _sections(snapshot: Snapshot, words: Wording) -> tuple[SectionView, ...]:
    titles = {i.reference: i.title_in(words.locale) for i in snapshot.record.incidents}
    sections = []
    for section in snapshot.catalogue.sections():
        rows = []
        for component in section.components:
            history = snapshot.histories[component.id]
            days = tuple(
                DayView(
                    words.day(day.day),
                    day.state,
                    tuple(Link(r, titles.get(r, r), f"/incidents/{r}") for r in day.incidents),
                )
                for day in history.days
            )
            rows.append(
                ComponentRow(
                    component.id,
                    component.name,
                    component.description,
                    snapshot.states[component.id],
                    days,
                    words.percent(history.uptime),
                    sum(1 for d in days if d.incidents),
                )
            )
        group = section.group
        sections.append(
            SectionView(group.name if group else None, group.description if group else None, tuple(rows))
        )
    return tuple(sections)


def home_view(snapshot: Snapshot, words: Wording) -> HomeView:
    """The home page: the state of everything now, and the last 90 days of each component."""
    first_row = next(iter(snapshot.histories.values()), None)
    recent = [
        i for i in snapshot.record.incidents
        if i.resolved and i.ended_at is not None and i.ended_at > snapshot.now - RECENT
    ]  # fmt: skip
    recent.sort(key=lambda i: i.ended_at or snapshot.now, reverse=True)
    return HomeView(
        indicator=snapshot.indicator,
        as_of=words.moment(snapshot.updated_at) if snapshot.updated_at else None,
        incidents=tuple(_view(snapshot, i, words) for i in snapshot.open_incidents),
        maintenance_now=tuple(_view(snapshot, i, words) for i in snapshot.active_maintenances),
        maintenance_next=tuple(_view(snapshot, i, words) for i in snapshot.upcoming_maintenances),
        sections=_sections(snapshot, words),
        recent=tuple(history_entry(snapshot, i, words) for i in recent),
        period=(words.day(first_row.days[0].day), words.day(first_row.days[-1].day)) if first_row else None,
        survey=_survey(snapshot.surveys.recent, "feedback.recent", words, days=snapshot.surveys.window.days),
    )


def _survey(tally: Tally | None, key: str, words: Wording, **values: int) -> SurveyLine | None:
    if tally is None or not tally.answered:
        return None
    shown = {"count": words.number(tally.answered), **{k: words.number(v) for k, v in values.items()}}
    if not tally.negative:
        return SurveyLine(f"{key}_none_negative", shown)
    return SurveyLine(key, {**shown, "ratio": words.ratio(tally.positive, tally.negative)})


def survey_line(snapshot: Snapshot, reference: str, words: Wording) -> SurveyLine | None:
    """What the survey of ``reference`` says, when it is resolved and has enough answers to publish."""
    return _survey(snapshot.surveys.incidents.get(reference), "feedback.incident", words)


def incident_page(snapshot: Snapshot, reference: str, words: Wording) -> IncidentView | None:
    """The page of ``reference``, or None when nothing of it was published."""
    incident = snapshot.record.find(reference)
    return _view(snapshot, incident, words) if incident is not None else None


# ── history ──────────────────────────────────────────────────────────────────────────────────────


def _listed_at(incident: PublicIncident) -> datetime:
    """Where an entry sits in the history: a maintenance at its window, an incident when first told."""
    window = incident.window
    return (window.starts_at if window is not None else incident.first.published_at).astimezone(UTC)


def history_entry(snapshot: Snapshot, incident: PublicIncident, words: Wording) -> HistoryEntry:
    """One line of the history: a maintenance with its planned window, an incident from its first
    word to its resolution."""
    window = incident.window
    ended: Stamp | None
    if window is not None:
        label = f"maintenance.{snapshot.maintenance_status(incident)}"
        started, ended = words.moment(window.starts_at), words.moment(window.ends_at)
    else:
        label = f"status.{incident.status}"
        started = words.moment(incident.first.published_at)
        ended = words.moment(incident.ended_at) if incident.ended_at else None
    return HistoryEntry(
        reference=incident.reference,
        title=incident.title_in(words.locale),
        href=f"/incidents/{incident.reference}",
        label=label,
        impact=impact(incident),
        maintenance=window is not None,
        started=started,
        ended=ended,
        components=tuple(c.name for c in component_states(touched(incident), snapshot.catalogue)),
        summary=incident.latest.text("apology", words.locale, short=True),
    )


def _months(snapshot: Snapshot) -> list[tuple[tuple[int, int], list[PublicIncident]]]:
    """Every month from this one back to the oldest entry's, newest first, with its entries."""
    listed = [
        i for i in snapshot.record.incidents
        if not (i.is_maintenance and snapshot.maintenance_status(i) is MaintenanceStatus.SCHEDULED)
    ]  # fmt: skip
    listed.sort(key=lambda i: (_listed_at(i), i.id), reverse=True)
    by_month: dict[tuple[int, int], list[PublicIncident]] = {}
    for incident in listed:
        at = _listed_at(incident)
        by_month.setdefault((at.year, at.month), []).append(incident)
    now = snapshot.now.astimezone(UTC)
    newest = max([(now.year, now.month), *by_month])
    oldest = min([newest, *by_month])
    months = []
    year, month = newest
    while (year, month) >= oldest:
        months.append(((year, month), by_month.get((year, month), [])))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def paginate(sizes: list[int]) -> list[list[int]]:
    """Month indexes per page: whole months, at most :data:`MONTHS_PER_PAGE` of them and at most
    :data:`ENTRIES_PER_PAGE` entries (a month with more than that is a page of its own)."""
    pages: list[list[int]] = [[]]
    held = 0
    for index, size in enumerate(sizes):
        if pages[-1] and (len(pages[-1]) == MONTHS_PER_PAGE or held + size > ENTRIES_PER_PAGE):
            pages.append([])
            held = 0
        pages[-1].append(index)
        held += size
    return pages


def history_view(snapshot: Snapshot, number: int, words: Wording) -> HistoryView | None:
    """Page ``number`` (from 1) of the history, or None when there is no such page."""
    months = _months(snapshot)
    pages = paginate([len(entries) for _, entries in months])
    if not 1 <= number <= len(pages):
        return None
    shown = tuple(
        MonthView(
            f"{year:04d}-{month:02d}",
            words.month(year, month),
            tuple(history_entry(snapshot, i, words) for i in entries),
        )
        for (year, month), entries in (months[index] for index in pages[number - 1])
    )
    return HistoryView(number, len(pages), shown)
