"""The status page as a channel: served from the store by the web app, never sent."""

from __future__ import annotations

from typing import Final

from clarion.channel_table.spec import ChannelSpec, Form, Reach
from clarion.updates.limits import CHARACTERS, Limit

SPEC: Final = ChannelSpec(
    name="statuspage",
    reach=Reach.SERVED,
    form=Form.LONG,
    fields={"subject": "subject.txt.j2", "html": "body.html.j2"},
    # The entry title (Statuspage's incident name, a 255-character column). Body: no limit.
    limits=(Limit("subject", CHARACTERS, 255),),
    public=True,
    settings=("CLARION_PUBLIC_URL",),
)
