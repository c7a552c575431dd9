"""clarion: incident and crisis communication orchestrator (domain core).

This package holds the domain: settings, errors, models, store, playbooks, rendering and the rules
that later issues add (cadence, deadlines, surveys, audit). It never imports ``flows`` or ``channels``.
"""

from __future__ import annotations

__version__ = "0.1.0"
