"""Slack's Block Kit message for one notice: a header, the body's paragraphs as sections, the link.

Text is escaped (``&``, ``<``, ``>``), so a notice can neither ping ``@channel`` nor forge a link, and
the limits (docs.slack.dev/reference/block-kit) are checked on the message as built, before any
request: a header over :data:`HEADER_CHARACTERS`, a section over :data:`SECTION_CHARACTERS` once
escaped, more than :data:`MAX_BLOCKS` blocks. Nothing is cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from clarion.errors import PermanentChannelError
from clarion.outbox.port import Content

# Block Kit limits, from Slack's reference (docs.slack.dev/reference/block-kit/...), in characters:
HEADER_CHARACTERS: Final = 150  # blocks/header-block: "Maximum length for the text in this field is 150"
SECTION_CHARACTERS: Final = 3000  # blocks/section-block: "Maximum length for the text in this field is 3000"
MAX_BLOCKS: Final = 50  # blocks: "You can include up to 50 blocks in each message"


@dataclass(frozen=True, slots=True)
class Payload:
    """What one post carries: the notification fallback and the blocks (as dicts)."""

    text: str
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """Slack's three control characters as entities: no ``<!channel>``, no ``<url|forged>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build_payload(content: Content, *, channel: str) -> Payload:
    """The Block Kit message for ``content``; PermanentChannelError naming the limit it breaks."""

    def refuse(what: str) -> PermanentChannelError:
        return PermanentChannelError(f"{what}; not posted", channel=channel)

    blocks: list[Block] = []
    subject = (content.subject or "").strip()
    if subject:
        if len(subject) > HEADER_CHARACTERS:
            raise refuse(f"subject is {len(subject)} characters, a Slack header holds {HEADER_CHARACTERS}")
        blocks.append(HeaderBlock(text=PlainTextObject(text=subject, emoji=True)))
    body = escape(content.text.strip())
    for section in _sections(body):
        if len(section) > SECTION_CHARACTERS:
            raise refuse(
                f"a paragraph is {len(section)} characters once escaped for Slack, a section holds "
                f"{SECTION_CHARACTERS}"
            )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=section, verbatim=True)))
    link = f"<{escape(content.link).replace('|', '%7C')}>" if content.link else ""
    if link:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=link, verbatim=True)))
    if not blocks:
        raise refuse("nothing to post: no subject, body or link")
    if len(blocks) > MAX_BLOCKS:
        raise refuse(f"the message needs {len(blocks)} blocks, Slack takes {MAX_BLOCKS}")
    try:
        shaped = [block.to_dict() for block in blocks]  # the SDK checks each block again
    except SlackObjectFormationError as exc:
        raise refuse(f"Slack would refuse the blocks ({exc})") from exc
    text = "\n\n".join(part for part in (escape(subject), body, link) if part)
    return Payload(text=text, blocks=shaped)


def _sections(body: str) -> list[str]:
    """The body's paragraphs packed into as few sections as fit; an overlong one stays whole."""
    sections: list[str] = []
    for paragraph in (p.strip("\n") for p in body.split("\n\n")):
        if not paragraph.strip():
            continue
        if sections and len(sections[-1]) + 2 + len(paragraph) <= SECTION_CHARACTERS:
            sections[-1] += "\n\n" + paragraph
        else:
            sections.append(paragraph)
    return sections
