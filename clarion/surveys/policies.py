"""The survey policy of each playbook by name, for work that spans incidents (the retention purge,
the ratio the status page publishes): a playbook that cannot be read now gets the defaults, so one
broken file never stops the purge of the others' answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

from clarion.errors import ClarionError
from clarion.playbook import SurveyPolicy, load_playbook, resolve_playbook
from clarion.settings import Settings

logger = logging.getLogger(__name__)
DEFAULT = SurveyPolicy(enabled=False)


def policies(settings: Settings) -> Callable[[str], SurveyPolicy]:
    """``name → SurveyPolicy`` for the playbooks in ``settings.playbooks_dir``, each read once."""

    @lru_cache(maxsize=256)
    def policy(name: str) -> SurveyPolicy:
        try:
            return load_playbook(resolve_playbook(name, settings.playbooks_dir)).survey
        except (ClarionError, OSError) as exc:
            logger.warning("playbook %s cannot be read (%s): its survey gets the defaults", name, exc)
            return DEFAULT

    return policy
