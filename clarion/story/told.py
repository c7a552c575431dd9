"""Which part of the story a rendition leaves out: the check behind "sms/en: prevention missing".

A rendition carries a part when the part's block shows text, or, on a short channel that could not
hold the whole story, when the part was left to the pointer and the pointer block shows the status
page's link. A part the facts tell (and no playbook override rewrites) must show the facts' own text
or its short form: a block that says something else does not carry it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping

from clarion.playbook import Part
from clarion.story.marks import POINTERS

_TAGS = re.compile(r"<[^>]*>")


def as_read(text: str, *, markup: bool) -> str:
    """``text`` as a reader sees it, for comparing: tags dropped and entities decoded when it is
    markup, every run of white space one space."""
    if markup:
        text = html.unescape(_TAGS.sub(" ", text))
    return " ".join(text.split())


def untold(
    where: str,
    blocks: Mapping[str, str],
    *,
    pointed: Collection[str],
    expected: Mapping[str, Collection[str]],
    link: str,
) -> list[str]:
    """One sentence per part the text at ``where`` (``sms/en``, ``email/de html``) does not carry.

    ``blocks`` holds each story block's text as read; ``pointed`` the parts left to the pointer;
    ``expected`` per part the texts of which one must show (a part not listed may say anything).
    """
    out: list[str] = []
    for part in (p.value for p in Part):
        shown = blocks.get(part, "")
        if part in pointed and not shown:
            if link not in blocks.get(POINTERS, ""):
                out.append(
                    f"{where}: {part} missing (left to the pointer, but no pointer to {link} is shown)"
                )
        elif not shown:
            out.append(f"{where}: {part} missing")
        elif (texts := expected.get(part)) and not any(as_read(t, markup=False) in shown for t in texts):
            out.append(f"{where}: {part} does not show the {part} the facts tell (its text or short form)")
    return out
