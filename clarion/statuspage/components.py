"""The components file: what the status page lists, in groups, in order.

A components file is YAML a person writes, checked like a playbook (every problem names file, line
and field)::

    groups:
      - id: platform
        name: Platform
        description: Where your applications run.
    components:
      - id: api
        name: API
        group: platform
        description: The REST API and the CLI that uses it.
      - id: dashboard
        name: Dashboard

Order in the file is the order on the page; a component's ``id`` is what facts name in
``impact.components`` and what subscribers choose. A component's *state* is never written here: it is
derived from the open incidents and maintenance that name it (:mod:`clarion.statuspage.state`).

The file lives at ``<playbooks_dir>/statuspage/components.yaml`` unless ``CLARION_COMPONENTS_FILE``
names another. Without one the status page lists no components and facts may name any.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field

from clarion.errors import InputError, Problem, display_path
from clarion.files.yamlfile import format_loc, read_yaml, validate_with_lines
from clarion.strict import Strict

ComponentId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
"""A component's id: lower-case letters, digits and dashes, as facts and links name it."""


class ComponentsError(InputError):
    """The components file is wrong: every problem names file, line and field."""


class ComponentStatus(StrEnum):
    """A component's state, in Statuspage's words, from best to worst."""

    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def rank(self) -> int:
        return list(ComponentStatus).index(self)


IMPACTED = tuple(s for s in ComponentStatus if s is not ComponentStatus.OPERATIONAL)
"""The states facts may give an affected component."""


class Group(Strict):
    id: ComponentId
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=500)] | None = None


class Component(Strict):
    id: ComponentId
    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=500)] | None = None
    group: ComponentId | None = Field(default=None, description="The id of a group listed under groups.")


class Catalogue(Strict):
    """Every component the page shows, grouped, in the file's order."""

    groups: Annotated[list[Group], Field(max_length=50)] = Field(default_factory=list)
    components: Annotated[list[Component], Field(max_length=500)] = Field(default_factory=list)

    def cross_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(location, message) for ids used twice and groups that are not listed."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        ids = [("groups", i, g.id) for i, g in enumerate(self.groups)]
        ids += [("components", i, c.id) for i, c in enumerate(self.components)]
        for kind, index, given in ids:
            if given in seen:
                problems.append(((kind, index, "id"), f"{given!r} is used twice (ids of groups too)"))
            seen.add(given)
        groups = {g.id for g in self.groups}
        for index, component in enumerate(self.components):
            if component.group is not None and component.group not in groups:
                listed = ", ".join(sorted(groups)) or "none"
                problems.append(
                    (("components", index, "group"), f"{component.group!r} is not a group (groups: {listed})")
                )
        return problems

    def get(self, component_id: str) -> Component | None:
        return self.by_id().get(component_id)

    def by_id(self) -> dict[str, Component]:
        return {c.id: c for c in self.components}

    def group_of(self, component: Component) -> Group | None:
        return next((g for g in self.groups if g.id == component.group), None)

    def sections(self) -> list[Section]:
        """The page's order: groups and ungrouped components as they first appear in the file."""
        out: list[Section] = []
        seen: set[str] = set()
        for component in self.components:
            group = self.group_of(component)
            if group is None:
                out.append(Section(group=None, components=(component,)))
            elif group.id not in seen:
                seen.add(group.id)
                members = tuple(c for c in self.components if c.group == group.id)
                out.append(Section(group=group, components=members))
        return out


@dataclass(frozen=True)
class Section:
    """One block of the page: a group and its members, or a single ungrouped component."""

    group: Group | None
    components: tuple[Component, ...]


EMPTY = Catalogue()


def load_catalogue(path: Path) -> Catalogue:
    """Read and check one components file; raises :class:`ComponentsError` naming file, line, field."""
    data, lines = read_yaml(path, ComponentsError)
    source = display_path(path)
    catalogue = validate_with_lines(Catalogue, data or {}, lines, source, ComponentsError)
    problems = [
        Problem(source, lines.line_for(loc), format_loc(loc), message)
        for loc, message in catalogue.cross_problems()
    ]
    if problems:
        raise ComponentsError(problems)
    return catalogue


@lru_cache(maxsize=4)
def _cached(path: Path, mtime_ns: int, size: int) -> Catalogue:
    return load_catalogue(path)


def catalogue_at(path: Path | None) -> Catalogue:
    """The catalogue in ``path`` (read again when the file changes), or :data:`EMPTY` when there is none."""
    if path is None:
        return EMPTY
    try:
        info = path.stat()
    except FileNotFoundError:
        return EMPTY
    except OSError as exc:
        raise ComponentsError(
            [Problem(display_path(path), None, "", f"cannot read it: {exc.strerror}")]
        ) from exc
    return _cached(path, info.st_mtime_ns, info.st_size)


def unknown_components(names: list[str], catalogue: Catalogue) -> list[tuple[int, str]]:
    """(index, message) for every name in ``names`` that the catalogue does not list.

    Without a catalogue (no components file) every name is accepted: it is shown as written."""
    if not catalogue.components:
        return []
    known = catalogue.by_id()
    listed = ", ".join(known)
    return [
        (index, f"{name!r} is not a component of the status page (components: {listed})")
        for index, name in enumerate(names)
        if name not in known
    ]
