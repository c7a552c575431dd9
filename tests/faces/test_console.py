"""Untrusted text reaches the terminal as text: no markup, no emoji, no escape sequences."""

from __future__ import annotations

import io

from rich.table import Table

from faces.console import SafeConsole


def _printed(*objects: object) -> str:
    buffer = io.StringIO()
    console = SafeConsole(file=buffer, width=200, force_terminal=True, color_system=None)
    console.print(*objects)
    return buffer.getvalue()


def test_untrusted_text_reaches_the_terminal_spelled_out() -> None:
    """Issue 12: `\\x1b[2J` in a title cleared the screen of `clarion status`; Rich turned
    `root:x:0` into `root❌0` and `[bold]` into bold inside error messages."""
    hostile = "Checkout \x1b[2J\x1b]0;pwned\x07 down [bold]now[/bold] root:x:0 :smile: \u202eevil"

    shown = _printed(hostile)

    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b[2J" in shown and "\\u202e" in shown  # (rich drops the BEL itself)
    assert "[bold]now[/bold]" in shown and "root:x:0" in shown and ":smile:" in shown


def test_table_cells_are_spelled_out_too() -> None:
    table = Table("title")
    table.add_row("INC-0042 \x1b[31mred\x1b[0m [link=https://evil.example]click[/link]")

    shown = _printed(table)

    assert "\x1b[31m" not in shown
    assert "\\x1b[31mred" in shown and "[link=https://evil.example]click[/link]" in shown


def test_text_objects_built_from_stored_values_are_spelled_out_too() -> None:
    """`clarion deadlines` printed a stored override reason through a rich Text: raw."""
    from rich.text import Text

    shown = _printed(Text.assemble("reason: ", ("\x1b[2J\x1b]0;pwned\x07 \u202eevil", "bold")))

    assert "\x1b[2J" not in shown and "\u202e" not in shown
    assert "\\x1b[2J" in shown and "\\u202e" in shown
