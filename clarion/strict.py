"""The shapes every file clarion reads is checked against: strict models, slugs and durations.

Playbooks, regimes, the components file, facts and the tagger's lexicons are YAML written by people.
A key nobody reads is a typo that would silently fall back to a default, so every schema forbids
unknown keys (:class:`Strict`), and a value once read is not changed behind the reader's back
(frozen). Names that appear in paths, URLs and log lines are :data:`Slug` s. Durations ("72h",
"3d", "15m") are :data:`~clarion.durations.Duration` s, re-exported here so that a schema needs one
import for its building blocks.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from clarion.durations import Duration

__all__ = ["Duration", "Slug", "Strict"]

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
"""A lower-case name of letters, digits and dashes: ``data-breach``, ``gdpr-art33``."""


class Strict(BaseModel):
    """A schema for a file people write: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
